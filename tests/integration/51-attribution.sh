#!/bin/sh
# Attribution without reading bodies: three developers' keys (x-api-key and
# Authorization: Bearer), one key nobody listed, and no key; costs and
# requests by developer, team and Claude Code request class in /metrics and
# Prometheus, as worked out by hand; unknown keys shown only as
# unknown:<first 8 hex of the fingerprint>; no key in logs or metrics.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
K_ALICE=sk-ant-api03-alice-fake-0001
K_BOB=sk-ant-oat01-bob-fake-0002
K_CAROL=sk-ant-api03-carol-fake-0003
K_STRANGER=sk-ant-api03-stranger-fake-0004
secret "$K_STRANGER"
add_developer alice core "$K_ALICE"
add_developer bob core "$K_BOB"
add_developer carol web "$K_CAROL"
start_proxy
grep -q 'developers: 3 developers, 0 teams' "$T/proxy.log" || fail "developers file not read"

# send AUTH-HEADER CLASS INPUT OUTPUT: Haiku 4.5, $1 in / $5 out per million
send() {
    pcurl -o /dev/null -f -H 'content-type: application/json' -H "$1" \
        ${2:+-H "x-claude-code-request-class: $2"} -H 'x-claude-code-session-id: sess-1234' \
        -H "x-mock-input-tokens: $3" -H "x-mock-output-tokens: $4" \
        --data-binary '{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' \
        "$PURL/v1/messages" || fail "request failed"
}
send "x-api-key: $K_ALICE" main 1000 100            # $0.001 + $0.0005 = $0.0015
send "x-api-key: $K_ALICE" subagent 2000 0          # $0.002
send "authorization: Bearer $K_BOB" main 0 1000     # $0.005
send "x-api-key: $K_CAROL" compaction 10000 0       # $0.01
send "x-api-key: $K_STRANGER" "" 1000 0             # $0.001
send "x-app: cli" "" 1000 0                         # no key at all: $0.001
ok "6 requests from 3 developers, a stranger and no key"

expect() { got=$(metrics "$1"); [ "$got" = "$2" ] || fail "$1 = $got, want $2"; }
expect 'j.costs.by_developer.alice.total_nanousd' 3500000
expect 'j.costs.by_developer.alice.requests' 2
expect 'j.costs.by_developer.alice.team' core
expect 'j.costs.by_developer.bob.total_nanousd' 5000000
expect 'j.costs.by_developer.carol.total_nanousd' 10000000
expect 'j.costs.by_team.core.total_nanousd' 8500000
expect 'j.costs.by_team.web.total_nanousd' 10000000
expect 'j.costs.by_team.unknown.total_nanousd' 2000000
expect 'j.costs.by_class.main.total_nanousd' 6500000
expect 'j.costs.by_class.subagent.total_nanousd' 2000000
expect 'j.costs.by_class.compaction.total_nanousd' 10000000
expect 'j.costs.by_class.none.total_nanousd' 2000000
expect 'j.costs.by_class.main.requests' 2
expect 'j.costs.by_class.subagent.requests' 1
expect 'j.costs.by_class.none.requests' 2
fp=$(printf '%s' "$K_STRANGER" | sha256sum | cut -c1-8)
expect "j.costs.by_developer['unknown:$fp'].total_nanousd" 1000000
expect "j.costs.by_developer['unknown:none'].total_nanousd" 1000000
expect 'j.costs.total_nanousd' 20500000
ok "/metrics: alice \$0.0035, bob \$0.005, carol \$0.01, core \$0.0085, unknown:$fp \$0.001"

pcurl -o "$T/prom.txt" "$PURL/metrics/prometheus"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$T/prom.txt" >"$T/promtool.log" 2>&1 ||
        fail "promtool rejected the text: $(cat "$T/promtool.log")"
fi
has() { grep -qxF "$1" "$T/prom.txt" || fail "missing line: $1"; }
has 'anthropic_proxy_cost_by_developer_usd_total{developer="alice",team="core"} 0.003500000'
has 'anthropic_proxy_cost_by_team_usd_total{team="core"} 0.008500000'
has 'anthropic_proxy_cost_by_class_usd_total{class="compaction"} 0.010000000'
has 'anthropic_proxy_requests_by_class_total{class="main"} 2'
has 'anthropic_proxy_requests_by_developer_total{developer="bob",team="core"} 1'
has "anthropic_proxy_requests_by_developer_total{developer=\"unknown:$fp\",team=\"unknown\"} 1"
# the labels are developer, team, model, kind and class only: no session, no id
! grep -q 'sess-1234' "$T/prom.txt" || fail "a session id became a label"
ok "Prometheus: by developer, team and class; no session id in a label"

full=$(printf '%s' "$K_ALICE" | sha256sum | cut -c1-64)
! grep -q "$full" "$T/proxy.log" || fail "a full fingerprint is in the log"
ok "no key (nor a full fingerprint) in the log or the metrics"

# 260 keys nobody listed (more than the 256 developer labels), then dave is
# listed and the configuration reloaded: dave keeps his own name in the
# metrics (and so in the caps); the strangers past the limit share "other".
i=0
while [ "$i" -lt 260 ]; do
    [ "$i" = 0 ] || echo next
    printf 'url = "%s/v1/messages"\nheader = "x-api-key: sk-ant-api03-crowd-%04d"\n' "$PURL" "$i"
    printf 'header = "content-type: application/json"\nheader = "x-mock-input-tokens: 10"\n'
    printf 'data = "{\\"model\\":\\"claude-haiku-4-5\\",\\"max_tokens\\":8,\\"messages\\":[]}"\n'
    printf 'cacert = "%s"\nmax-time = 30\nfail\nsilent\nshow-error\noutput = "/dev/null"\n' "$T/cert.pem"
    i=$((i + 1))
done >"$T/crowd.curl"
curl -sS --parallel --parallel-max 16 -K "$T/crowd.curl" || fail "the crowd's requests failed"
[ "$(metrics 'Object.keys(j.costs.by_developer).length')" -le 257 ] || fail "more labels than the limit"
metrics 'j.costs.by_developer.other ? "yes" : "no"' | grep -qx yes || fail "the crowd past the limit is not 'other'"
K_DAVE=sk-ant-api03-dave-fake-0005
add_developer dave web "$K_DAVE"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'developers: 4 developers' "$T/proxy.log" || fail "no reload with dave"
send "x-api-key: $K_DAVE" main 1000 0                # $0.001
[ "$(metrics 'j.costs.by_developer.dave ? j.costs.by_developer.dave.total_usd : "none"')" = 0.001 ] ||
    fail "dave after 260 strangers: $(metrics 'JSON.stringify(j.costs.by_developer.dave || j.costs.by_developer.other)')"
ok "a listed developer keeps his name after 260 unlisted keys (the strangers past 256 are 'other')"

# The shipped developers.yaml takes the line `developer add` prints,
# appended as it says.
cp "$top_srcdir/etc/developers.yaml" "$T/shipped-developers.yaml"
printf '%s' "$K_DAVE" | "$PROXY_BIN" developer add erin --team web >>"$T/shipped-developers.yaml" 2>/dev/null
DEVELOPERS=$T/shipped-developers.yaml write_config
"$PROXY_BIN" --check-config --config "$T/proxy.env" >"$T/check.out" 2>&1 ||
    fail "the shipped file with one line appended: $(grep -v '^20' "$T/check.out" | head -3)"
grep -q 'developers: 1 developers, 0 teams' "$T/check.out" || fail "erin not read: $(cat "$T/check.out")"
ok "the shipped developers.yaml with a line appended as 'developer add' says: 1 developer"
