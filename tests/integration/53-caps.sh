#!/bin/sh
# Spend caps: a developer's daily cap and a team's monthly cap crossed
# mid-day give Anthropic's 429 billing_error (naming the cap, never the key,
# x-should-retry: false, retry-after = seconds to the reset) before the
# request goes upstream; count_tokens is never refused; a burst of
# concurrent requests cannot overshoot (requests in flight are reserved);
# 75/95/100 % are logged; the real Claude Code CLI prints the message and
# stops retrying; the cap still holds after a supervisor restart.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
K_ALICE=sk-ant-api03-alice-caps-0001
K_CAROL=sk-ant-api03-carol-caps-0003
K_DAVE=sk-ant-api03-dave-caps-0004
K_EVE=sk-ant-api03-eve-not-listed-0005
secret "$K_ALICE" "$K_CAROL" "$K_DAVE" "$K_EVE"
line() { printf '%s' "$1" | "$PROXY_BIN" developer add "$2" --team "$3" 2>/dev/null | sed "s/}\$/$4}/"; }
{
    echo 'version: 1'
    echo 'default: {daily_usd: 0.04}'
    echo 'teams:'
    echo '  - {name: web, monthly_usd: 0.02}'
    echo 'developers:'
    line "$K_ALICE" alice core ', daily_usd: 0.05'
    line "$K_CAROL" carol web ''
    line "$K_DAVE" dave core ', daily_usd: 0.02'
} >"$T/developers.yaml"
# a cap of 0 is refused with its line (read as "no cap" it would do the opposite)
printf 'version: 1\ndefault: {daily_usd: 0}\n' >"$T/zero.yaml"
DEVELOPERS=$T/zero.yaml
write_config
unset DEVELOPERS
! "$PROXY_BIN" --check-config --config "$T/proxy.env" >"$T/check.out" 2>&1 || fail "a cap of 0 was accepted"
grep -q "zero.yaml:2:.*'daily_usd: 0' is not an amount above 0" "$T/check.out" ||
    fail "no error for a cap of 0: $(cat "$T/check.out")"
ok "a cap of 0 is refused: $(grep -o "zero.yaml:2:[^;]*" "$T/check.out" | head -1)"
start_proxy

# haiku KEY [curl args]: Haiku 4.5, 10000 in x $1 + 1000 out x $5 = $0.015; prints the status
haiku() {
    key=$1
    shift
    pcurl -o "$T/answer.json" -D "$T/head.txt" -w '%{http_code}' -H 'content-type: application/json' \
        -H "x-api-key: $key" -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000' "$@" \
        --data-binary '{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' \
        "$PURL/v1/messages"
}
for i in 1 2 3 4; do
    code=$(haiku "$K_ALICE")
    [ "$code" = 200 ] || fail "alice's request $i: $code"
done
ok "alice: 4 requests, \$0.06 (the 4th started at \$0.045, under her \$0.05 daily cap)"
grep -q 'caps: developer alice crossed 75 % of its daily cap: \$0.0450 of \$0.05' "$T/proxy.log" ||
    fail "no 75 % line"
grep -q 'caps: developer alice crossed 95 % of its daily cap' "$T/proxy.log" || fail "no 95 % line"
grep -q 'caps: developer alice crossed 100 % of its daily cap: \$0.0600 of \$0.05' "$T/proxy.log" ||
    fail "no 100 % line"
ok "75 %, 95 % and 100 % of the cap logged"

before=$(mock_log | json 'j.length')
t0=$(date -u +%s)
code=$(haiku "$K_ALICE")
t1=$(date -u +%s)
[ "$code" = 429 ] || fail "alice over her cap: $code"
[ "$(mock_log | json 'j.length')" = "$before" ] || fail "the refused request went upstream"
json 'j.type + " " + j.error.type' <"$T/answer.json" | grep -qx 'error billing_error' ||
    fail "body: $(cat "$T/answer.json")"
msg=$(json 'j.error.message' <"$T/answer.json")
midnight=$(date -u -d 'tomorrow 00:00' +%Y-%m-%dT%H:%M:%SZ)
[ "$msg" = "Spend cap reached: developer alice has used \$0.06 of its daily cap of \$0.05 (UTC day, requests in flight included). It resets at $midnight." ] ||
    fail "message: $msg"
grep -qi '^x-should-retry: false' "$T/head.txt" || fail "no x-should-retry: false"
ra=$(grep -i '^retry-after:' "$T/head.txt" | tr -d '\r' | cut -d' ' -f2)
# the seconds to midnight as the proxy saw them while it answered
reset=$(date -u -d 'tomorrow 00:00' +%s)
[ "$ra" -ge $((reset - t1 - 1)) ] && [ "$ra" -le $((reset - t0 + 1)) ] ||
    fail "retry-after $ra, want $((reset - t1)) to $((reset - t0))"
! grep -qF "$K_ALICE" "$T/answer.json" || fail "the key is in the answer"
ok "429 billing_error: '$msg'; x-should-retry: false; retry-after: $ra"

code=$(pcurl -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -H "x-api-key: $K_ALICE" \
    --data-binary '{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}' \
    "$PURL/v1/messages/count_tokens")
[ "$code" = 200 ] || fail "count_tokens over the cap: $code"
ok "count_tokens is never refused"

# the team's monthly cap: carol has none of her own
[ "$(haiku "$K_CAROL")" = 200 ] && [ "$(haiku "$K_CAROL")" = 200 ] || fail "carol's first two"
[ "$(haiku "$K_CAROL")" = 429 ] || fail "carol over team web's cap"
json 'j.error.message' <"$T/answer.json" | grep -q '^Spend cap reached: team web has used \$0.03 of its monthly cap of \$0.02 (UTC month' ||
    fail "team message: $(cat "$T/answer.json")"
ok "team web's monthly cap refuses carol: $(json 'j.error.message' <"$T/answer.json" | cut -c1-70)..."

# the default cap: eve's key is in no file; carol's $0.03 stayed under it
for i in 1 2 3; do [ "$(haiku "$K_EVE")" = 200 ] || fail "eve's request $i"; done
[ "$(haiku "$K_EVE")" = 429 ] || fail "eve over the default cap"
eve=unknown:$(printf '%s' "$K_EVE" | sha256sum | cut -c1-8)
json 'j.error.message' <"$T/answer.json" |
    grep -q "^Spend cap reached: developer $eve has used \$0.05 of its daily cap of \$0.04 " ||
    fail "default cap message: $(cat "$T/answer.json")"
ok "the default daily cap (\$0.04) refuses an unlisted key after \$0.045, as developer $eve"

# a burst: dave's requests are reserved at the dearest input rate from their
# body length while in flight; 5 at once, each held 1.5 s upstream
pad=$(head -c 8000 /dev/zero | tr '\0' 'x')
burst=""
for i in 1 2 3 4 5; do
    pcurl -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' -H "x-api-key: $K_DAVE" \
        -H 'x-mock-delay-ms: 1500' -H 'x-mock-input-tokens: 10' -H 'x-mock-output-tokens: 10' \
        --data-binary "{\"model\":\"claude-haiku-4-5\",\"messages\":[{\"role\":\"user\",\"content\":\"$pad\"}]}" \
        "$PURL/v1/messages" >>"$T/burst.txt" &
    burst="$burst $!"
done
sleep 0.5
held=$(metrics 'j.caps.developers.dave.in_flight_nanousd')
for pid in $burst; do wait "$pid"; done
# the body is 8,070 bytes: 2,018 tokens at 4 bytes each, at the fallback's
# input rate of $15/M = $0.03027
[ "$held" = 30270000 ] || fail "dave's request in flight held $held nano-USD, want 30270000"
[ "$(metrics 'j.caps.developers.dave.in_flight_nanousd')" = 0 ] || fail "the hold was not released"
held=0.03027
sort "$T/burst.txt" | uniq -c | tr -s ' ' >"$T/burst.sum"
grep -qx ' 1 200' "$T/burst.sum" && grep -qx ' 4 429' "$T/burst.sum" ||
    fail "burst of 5: $(cat "$T/burst.sum")"
ok "a burst of 5 concurrent requests: one served (held at \$$held while in flight), 4 refused"

# a stream's hold becomes its real cost at message_start: the next request
# is served while it still runs
pcurl -o "$T/stream.txt" -H 'content-type: application/json' -H "x-api-key: $K_DAVE" \
    -H 'x-mock-event-delay-ms: 400' -H 'x-mock-input-tokens: 10' -H 'x-mock-output-tokens: 10' \
    --data-binary "{\"model\":\"claude-haiku-4-5\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$pad\"}]}" \
    "$PURL/v1/messages" &
streampid=$!
sleep 1
held=$(metrics 'j.caps.developers.dave.in_flight_nanousd')
code=$(pcurl -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -H "x-api-key: $K_DAVE" \
    -H 'x-mock-input-tokens: 10' -H 'x-mock-output-tokens: 10' \
    --data-binary '{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}' "$PURL/v1/messages")
wait "$streampid"
grep -q '^event: message_stop' "$T/stream.txt" || fail "the stream did not finish"
[ "$held" -gt 0 ] && [ "$held" -lt 1000000 ] || fail "the stream was held at $held nano-USD after message_start"
[ "$code" = 200 ] || fail "dave's request beside his stream: $code"
ok "a stream held at \$0.03027 until message_start, then at its real $held nano-USD: the next request was served"

pcurl "$PURL/metrics/prometheus" >"$T/prom.txt"
grep -qx 'anthropic_proxy_caps_blocked_requests_total{cap="developer_daily"} 6' "$T/prom.txt" ||
    fail "blocked counter: $(grep caps_blocked "$T/prom.txt")"
grep -qx 'anthropic_proxy_caps_blocked_requests_total{cap="team_monthly"} 1' "$T/prom.txt" ||
    fail "team blocked counter"
ok "blocked requests counted by cap"

# the real Claude Code CLI: prints the message, does not retry
CLAUDE=$top_srcdir/tests/node/node_modules/.bin/claude
if [ -x "$CLAUDE" ]; then
    n0=$(grep -c 'caps: Spend cap reached: developer alice' "$T/proxy.log")
    mkdir -p "$T/home"
    start=$(date +%s)
    set +e
    HOME=$T/home ANTHROPIC_BASE_URL=$PURL ANTHROPIC_API_KEY=$K_ALICE DISABLE_TELEMETRY=1 \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 NODE_EXTRA_CA_CERTS=$T/cert.pem \
        timeout 120 "$CLAUDE" -p "say hi" </dev/null >"$T/claude.out" 2>"$T/claude.log"
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    n1=$(grep -c 'caps: Spend cap reached: developer alice' "$T/proxy.log")
    [ "$rc" -ne 0 ] || fail "claude exited 0: $(cat "$T/claude.out")"
    grep -q 'Spend cap reached: developer alice' "$T/claude.out" "$T/claude.log" ||
        fail "claude did not print the message: $(cat "$T/claude.out" "$T/claude.log" | head -20)"
    [ $((n1 - n0)) -le 2 ] || fail "claude sent $((n1 - n0)) refused requests (retried)"
    ok "claude -p printed '$(grep -h 'Spend cap reached' "$T/claude.out" "$T/claude.log" | head -1)' after $((n1 - n0)) refused request(s), in ${took}s, exit $rc"
else
    say "Claude Code CLI not installed (npm ci --prefix tests/node): CLI part skipped"
fi

# a supervisor restart: the spend comes back from the ledger
# (the rows so far are in the file; the writer also writes what is still
# queued when the core stops)
rows_done() { [ "$("$PROXY_BIN" ledger export --config "$T/proxy.env" | wc -l)" -gt 10 ]; }
wait_for 10 rows_done || fail "ledger not written: $("$PROXY_BIN" ledger export --config "$T/proxy.env" 2>&1 | wc -l) lines"
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
start_proxy
grep -q "caps: this month's and today's spend read from" "$T/proxy.log" || fail "spend not read back"
[ "$(haiku "$K_ALICE")" = 429 ] || fail "alice served after a supervisor restart"
json 'j.error.message' <"$T/answer.json" | grep -q 'has used \$0.06 of its daily cap' ||
    fail "after the restart: $(cat "$T/answer.json")"
[ "$(haiku "$K_CAROL")" = 429 ] || fail "carol served after a supervisor restart"
ok "after a supervisor restart the caps still hold (alice \$0.06, team web \$0.03, from the ledger)"
