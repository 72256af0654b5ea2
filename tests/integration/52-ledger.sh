#!/bin/sh
# The ledger: three developers' Claude Code-shaped traffic (SSE and JSON,
# cache reads, 1-hour cache writes) gives one row per exchange, no content
# and no key; `ledger report` agrees to the cent with /metrics and
# Prometheus and with the figures worked out by hand; the rows survive a
# reload and a supervisor restart.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
K_ALICE=sk-ant-api03-alice-ledger-0001
K_BOB=sk-ant-oat01-bob-ledger-0002
K_CAROL=sk-ant-api03-carol-ledger-0003
add_developer alice core "$K_ALICE"
add_developer bob core "$K_BOB"
add_developer carol web "$K_CAROL"
start_proxy

# send AUTH MODEL STREAM [curl args...]
send() {
    body="{\"model\":\"$2\",\"stream\":$3,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"the prompt text\"}]}"
    auth=$1
    shift 3
    pcurl -o /dev/null -f -H 'content-type: application/json' -H "$auth" \
        -H 'x-claude-code-session-id: 0b7c3a5e-sess' -H 'x-claude-code-request-class: main' \
        -H 'x-claude-code-prompt-id: prompt-7' -H 'x-stainless-retry-count: 0' \
        -H 'user-agent: claude-cli/2.0.99 (external, cli)' "$@" --data-binary "$body" \
        "$PURL/v1/messages" || fail "request failed"
}
# alice, Sonnet 4.5 JSON: 1000 x 3 + 2000 x 15 + 20000 (1h) x 6 + 100000 x 0.30 = $0.183
send "x-api-key: $K_ALICE" claude-sonnet-4-5-20250929 false -H 'x-client-request-id: cr-a1' \
    -H 'x-mock-input-tokens: 1000' -H 'x-mock-output-tokens: 2000' -H 'x-mock-cache-read: 100000' \
    -H 'x-mock-cache-creation: 20000' -H 'x-mock-cache-5m: 0' -H 'x-mock-cache-1h: 20000'
# bob, Opus 4.5 SSE: 500 x 5 + 300 x 25 + 8000 (1h) x 10 = $0.09
send "authorization: Bearer $K_BOB" claude-opus-4-5 true -H 'x-mock-delta-usage: full' \
    -H 'x-mock-input-tokens: 500' -H 'x-mock-output-tokens: 300' \
    -H 'x-mock-cache-creation: 8000' -H 'x-mock-cache-5m: 0' -H 'x-mock-cache-1h: 8000'
# carol, Haiku 4.5 JSON: 10000 x 1 + 1000 x 5 = $0.015
send "x-api-key: $K_CAROL" claude-haiku-4-5 false \
    -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
# alice, Sonnet 4.5 SSE: 3 x 3 + 500 x 15 + 20000 (1h) x 6 + 80000 x 0.30 = $0.151509
send "x-api-key: $K_ALICE" claude-sonnet-4-5-20250929 true -H 'x-mock-delta-usage: full' \
    -H 'x-mock-input-tokens: 3' -H 'x-mock-output-tokens: 500' -H 'x-mock-cache-read: 80000' \
    -H 'x-mock-cache-creation: 20000' -H 'x-mock-cache-5m: 0' -H 'x-mock-cache-1h: 20000'
ok "4 requests from alice, bob and carol"

written() { [ "$(metrics 'j.counters.ledger_rows_written_total')" = "$1" ]; }
wait_for 10 written 4 || fail "ledger rows written: $(metrics 'j.counters.ledger_rows_written_total'), want 4"
ledger() { cmd=$1; shift; "$PROXY_BIN" ledger "$cmd" --config "$T/proxy.env" "$@"; }
ledger report --format csv >"$T/report.csv" || fail "ledger report: $(cat "$T/report.csv")"
cat "$T/report.csv"
grep -qx 'alice,core,2,1003,2500,180000,0,40000,0,0.334509,0.486000' "$T/report.csv" || fail "alice's row"
grep -qx 'bob,core,1,500,300,0,0,8000,0,0.090000,0.000000' "$T/report.csv" || fail "bob's row"
grep -qx 'carol,web,1,10000,1000,0,0,0,0,0.015000,0.000000' "$T/report.csv" || fail "carol's row"
ledger report --by team --format csv | grep -qx 'core,3,1503,2800,180000,0,48000,0,0.424509,0.486000' ||
    fail "team core: $(ledger report --by team --format csv)"
today=$(date -u +%Y-%m-%d)
ledger report --by day --format json | json "j[0].day + ' ' + j[0].cost_usd" | grep -qx "$today 0.439509" ||
    fail "by day: $(ledger report --by day --format json)"
ledger report --by model --since "$today" --format csv | grep -q '^claude-sonnet-4-5-20250929,2,' ||
    fail "by model: $(ledger report --by model --format csv)"
[ "$(ledger report --until "$today" --format csv | wc -l)" = 1 ] || fail "--until today still shows rows"
ok "ledger report: alice \$0.334509, bob \$0.09, carol \$0.015; core \$0.424509; today \$0.439509"
# bad ranges and formats are refused with a line naming the option, never read loosely
refused() { # EXPECTED-MESSAGE-PART ARGS...
    local want=$1; shift
    if out=$(ledger "$@" 2>&1); then fail "ledger $* was accepted: $out"; fi
    printf '%s' "$out" | grep -q -- "$want" || fail "ledger $*: $out"
}
refused "--since 2026-02-30: not a UTC date" report --since 2026-02-30
refused "--until 2026-13-01: not a UTC date" report --until 2026-13-01
refused "--since must be before --until" report --since 2026-03-02 --until 2026-03-01
refused "--format table: expected csv or json" export --format table
ok "ledger: 2026-02-30, month 13, --since after --until and export --format table refused"
# the cache saved alice (100000 + 80000) x ($3 - $0.30) = $0.486 of Sonnet input
ledger report --by day --format json | json "j[0].cache_savings_usd" | grep -qx 0.486 ||
    fail "savings by day: $(ledger report --by day --format json)"
ledger report >"$T/report.txt"
cat "$T/report.txt"
tail -n 1 "$T/report.txt" | grep -q '^total .* 0\.439509 *0\.486000$' || fail "table total line"
ok "ledger report: the cache saved \$0.486 (alice's Sonnet cache reads)"

# the same figures, to the cent, in /metrics and Prometheus
cents() { printf '%.2f' "$1"; }
for d in alice:0.334509 bob:0.090000 carol:0.015000; do
    name=${d%%:*} want=${d#*:}
    m=$(metrics "(j.costs.by_developer.$name.total_nanousd / 1e9).toFixed(6)")
    [ "$m" = "$want" ] || fail "/metrics $name: $m, want $want"
    p=$(pcurl "$PURL/metrics/prometheus" | grep "^anthropic_proxy_cost_by_developer_usd_total{developer=\"$name\"" | cut -d' ' -f2)
    [ "$(cents "$p")" = "$(cents "$want")" ] || fail "Prometheus $name: $p, want $want"
done
pcurl "$PURL/metrics/prometheus" >"$T/prom.txt"
[ "$(metrics 'j.costs.total_nanousd')" = 439509000 ] || fail "/metrics total: $(metrics j.costs.total_nanousd)"
[ "$(metrics 'j.costs.cache_savings_nanousd')" = 486000000 ] || fail "/metrics savings"
total=$(grep '^anthropic_proxy_cost_usd_total{' "$T/prom.txt" | awk '{s += $2} END {printf "%.2f", s}')
saved=$(grep '^anthropic_proxy_cache_savings_usd_total{' "$T/prom.txt" | awk '{s += $2} END {printf "%.2f", s}')
[ "$total" = 0.44 ] && [ "$saved" = 0.49 ] || fail "Prometheus total $total, savings $saved"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$T/prom.txt" >"$T/promtool.log" 2>&1 || fail "promtool: $(cat "$T/promtool.log")"
    say "promtool check metrics: accepted"
else
    say "promtool is not installed (Debian package prometheus): format not checked"
fi
ok "/metrics, Prometheus and the ledger agree to the cent for each developer, the total (\$0.439509) and the cache savings (\$0.486)"

# the rows: ids and classes, never content or a key
ledger export --format json >"$T/proxy-ledger-export.log"
json 'j.length' <"$T/proxy-ledger-export.log" | grep -qx 4 || fail "export: not 4 rows"
json 'j[0].developer + " " + j[0].session + " " + j[0].prompt_id + " " + j[0].request_class + " " + j[0].client_request_id + " " + j[0].client_version + " " + j[0].client_retries + " " + (j[0].request_id || "").slice(0, 4) + " " + j[0].status' \
    <"$T/proxy-ledger-export.log" | grep -qx 'alice 0b7c3a5e-sess prompt-7 main cr-a1 2.0.99 0 req_ 200' ||
    fail "first row: $(json 'j[0]' <"$T/proxy-ledger-export.log")"
! grep -q 'the prompt text\|Hello from the mock' "$T/proxy-ledger-export.log" || fail "content in the ledger"
for k in "$K_ALICE" "$K_BOB" "$K_CAROL"; do
    grep -qaF "$k" "$T/ledger.sqlite"* && fail "a key is in the ledger file"
done
ledger export --format csv | head -n 1 | grep -q '^time,developer,team,session,prompt_id,request_class,model,status,' ||
    fail "export csv header"
ok "export: one row per exchange with session, prompt id, class, ids, version, retries; no content, no key"

# a reload, then a supervisor restart: the rows stay, new ones join them
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'reload done' "$T/proxy.log" || fail "no reload"
send "x-api-key: $K_CAROL" claude-haiku-4-5 false -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
wait_for 10 written 5 || fail "no row after the reload"
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
start_proxy
send "x-api-key: $K_CAROL" claude-haiku-4-5 false -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
count6() { [ "$(ledger export --format csv | wc -l)" = 7 ]; }
wait_for 10 count6 || fail "rows after a supervisor restart: $(ledger export --format csv | wc -l)"
ledger report --format csv | grep -qx 'carol,web,3,30000,3000,0,0,0,0,0.045000,0.000000' ||
    fail "carol after the restart: $(ledger report --format csv)"
ok "the ledger survived a reload and a supervisor restart: 6 rows, carol \$0.045"

# retention runs without traffic: two rows made 500 days old (time and id, as
# a row written then would have), a restart, and no request at all
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null || true
python3 - "$T/ledger.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
d = 500 * 86400000
db.execute("UPDATE exchanges SET time_ms = time_ms - ?, id = id - ? * 1000 WHERE id IN "
           "(SELECT id FROM exchanges ORDER BY id LIMIT 2)", (d, d))
db.commit()
PY
start_proxy
count4() { [ "$(ledger export --format csv | wc -l)" = 5 ]; }
wait_for 10 count4 || fail "rows older than LEDGER_RETENTION_DAYS (400) still there without traffic: $(ledger export --format csv | wc -l) lines"
ok "retention expired the two 500-day-old rows with no request sent"

# a file of the first layout (ids 1, 2, 3..., an index on time_ms, no
# user_version): ledger report and export read it as before
python3 - "$T/old.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
CREATE TABLE exchanges (id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,
  developer TEXT NOT NULL, team TEXT NOT NULL, session TEXT, prompt_id TEXT,
  request_class TEXT, model TEXT, status INTEGER, input_tokens INTEGER,
  output_tokens INTEGER, cache_read_tokens INTEGER, cache_write_5m_tokens INTEGER,
  cache_write_1h_tokens INTEGER, web_search_requests INTEGER, web_fetch_requests INTEGER,
  cost_nanousd INTEGER NOT NULL, duration_ms REAL, ttfb_ms REAL, retries INTEGER,
  client_retries INTEGER, request_id TEXT, client_request_id TEXT, client_version TEXT,
  cache_savings_nanousd INTEGER NOT NULL DEFAULT 0);
CREATE INDEX exchanges_time ON exchanges(time_ms);
INSERT INTO exchanges (time_ms, developer, team, cost_nanousd) VALUES
  (1780000000000, 'dora', 'old', 1500000), (1779900000000, 'dora', 'old', 250000);
""")
db.commit()
PY
"$PROXY_BIN" ledger report --ledger "$T/old.sqlite" --since 2026-05-28 --format csv |
    grep -qx 'dora,old,1,0,0,0,0,0,0,0.001500,0.000000' ||
    fail "first-layout file: $("$PROXY_BIN" ledger report --ledger "$T/old.sqlite" --since 2026-05-28 --format csv)"
[ "$("$PROXY_BIN" ledger export --ledger "$T/old.sqlite" --format csv | wc -l)" = 3 ] ||
    fail "first-layout file: export"
ok "a ledger file of the first layout (no time ids) is reported and exported as before"
