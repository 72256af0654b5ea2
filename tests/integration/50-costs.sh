#!/bin/sh
# Costs from the price table: JSON and SSE answers with cache reads, 1-hour
# and split-less cache writes, web searches and a model the table does not
# know give, in /metrics and in Prometheus (promtool), exactly the figures
# worked out by hand below from etc/prices.yaml's rates. A broken price
# table is refused at SIGHUP with its file and line, the old one kept; a
# corrected one with a new price prices the next requests.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
PRICES=$T/prices.yaml
cp "$top_srcdir/etc/prices.yaml" "$PRICES"
start_proxy

# send MODEL STREAM [curl args...]
send() {
    body="{\"model\":\"$1\",\"stream\":$2,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    shift 2
    pcurl -o /dev/null -f -H 'content-type: application/json' "$@" --data-binary "$body" \
        "$PURL/v1/messages" || fail "request failed"
}

# Sonnet 4.5, JSON: 1000 x $3 + 2000 x $15 + 20000 (1h) x $6 + 100000 x $0.30
#   = 3000 + 30000 + 120000 + 30000 = 183000 $/M = $0.183
#   savings: 100000 x $3 - $0.03 = $0.27
send claude-sonnet-4-5-20250929 false -H 'x-mock-input-tokens: 1000' -H 'x-mock-output-tokens: 2000' \
    -H 'x-mock-cache-read: 100000' -H 'x-mock-cache-creation: 20000' -H 'x-mock-cache-5m: 0' \
    -H 'x-mock-cache-1h: 20000'
# Opus 4.5, SSE, no 5m/1h split (priced at 5 minutes): 500 x $5 + 300 x $25
#   + 4000 x $6.25 = 2500 + 7500 + 25000 = $0.035; 2 web searches x $10/1000 = $0.02
send claude-opus-4-5 true -H 'x-mock-input-tokens: 500' -H 'x-mock-output-tokens: 300' \
    -H 'x-mock-cache-creation: 4000' -H 'x-mock-web-search: 2' -H 'x-mock-delta-usage: full'
# Haiku 4.5, JSON: 10000 x $1 + 1000 x $5 = $0.015
send claude-haiku-4-5 false -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
# unknown, twice, at the fallback (Opus 4.1's rates): 1000 x $15 + 100 x $75 = $0.0225 each
for i in 1 2; do
    send claude-nonesuch-1 true -H 'x-mock-input-tokens: 1000' -H 'x-mock-output-tokens: 100'
done
ok "6 requests sent"

expect() { # EXPR WANT
    got=$(metrics "$1")
    [ "$got" = "$2" ] || fail "$1 = $got, want $2"
}
expect 'j.costs.by_model["claude-sonnet-4-5-20250929"].total_nanousd' 183000000
expect 'j.costs.by_model["claude-sonnet-4-5-20250929"].cache_write_1h_nanousd' 120000000
expect 'j.costs.by_model["claude-sonnet-4-5-20250929"].cache_savings_nanousd' 270000000
expect 'j.costs.by_model["claude-opus-4-5"].cache_write_5m_nanousd' 25000000
expect 'j.costs.by_model["claude-opus-4-5"].web_search_nanousd' 20000000
expect 'j.costs.by_model["claude-opus-4-5"].total_nanousd' 55000000
expect 'j.costs.by_model["claude-haiku-4-5"].total_nanousd' 15000000
expect 'j.costs.by_model["claude-nonesuch-1"].total_nanousd' 45000000
expect 'j.costs.unknown_models["claude-nonesuch-1"]' 2
expect 'j.costs.total_nanousd' 298000000
expect 'j.costs.total_usd.toFixed(2)' 0.30
expect 'j.costs.cache_savings_nanousd' 270000000
expect 'j.costs.prices.fallback_tier' claude-opus-4-1
ok "/metrics: total \$0.298, Sonnet \$0.183 (1h writes \$0.12), cache savings \$0.27, unknown model at the fallback"

n=$(grep -c "model 'claude-nonesuch-1' is not in" "$T/proxy.log" || true)
[ "$n" = 1 ] || fail "the unknown model was logged $n times, want once"
ok "the unknown model is logged once"

pcurl -o "$T/prom.txt" "$PURL/metrics/prometheus"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$T/prom.txt" >"$T/promtool.log" 2>&1 ||
        fail "promtool rejected the text: $(cat "$T/promtool.log")"
    ok "promtool check metrics accepts the cost families"
else
    say "promtool is not installed (Debian package prometheus): format not checked"
fi
has() { grep -qxF "$1" "$T/prom.txt" || fail "missing line: $1"; }
has '# TYPE anthropic_proxy_cost_usd_total counter'
has 'anthropic_proxy_cost_usd_total{model="claude-sonnet-4-5-20250929",kind="cache_write_1h"} 0.120000000'
has 'anthropic_proxy_cost_usd_total{model="claude-opus-4-5",kind="web_search"} 0.020000000'
has 'anthropic_proxy_cache_savings_usd_total{model="claude-sonnet-4-5-20250929"} 0.270000000'
has 'anthropic_proxy_prices_unknown_model_requests_total{model="claude-nonesuch-1"} 2'
sum=$(awk '/^anthropic_proxy_cost_usd_total\{/ { s += $2 } END { printf "%.9f", s }' "$T/prom.txt")
[ "$sum" = 0.298000000 ] || fail "Prometheus cost series add up to $sum, want 0.298000000"
ok "Prometheus: cost series in dollars, adding up to $sum"

# A broken table: refused with its line, the running one kept.
sed 's/^  - {id: claude-haiku-4-5,  since: 2025-10-15, input: 1.00,/  - {id: claude-haiku-4-5,  since: 2025-10-15, input: one,/' \
    "$top_srcdir/etc/prices.yaml" >"$PRICES"
line=$(grep -n 'input: one' "$PRICES" | cut -d: -f1)
[ -n "$line" ] || fail "the test could not break the table"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'reload failed' "$T/proxy.log" || fail "the broken table was not refused"
grep 'reload failed' "$T/proxy.log" | grep -q "prices.yaml:$line:" ||
    fail "the refusal does not name prices.yaml:$line: $(grep 'reload failed' "$T/proxy.log")"
ok "a broken table is refused: $(grep 'reload failed' "$T/proxy.log" | sed 's/.*prices.yaml/prices.yaml/' | head -1)"
send claude-haiku-4-5 false -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
expect 'j.costs.by_model["claude-haiku-4-5"].total_nanousd' 30000000

# A price change dated today: the next request is priced at it.
today=$(date -u +%Y-%m-%d)
{ cat "$top_srcdir/etc/prices.yaml"
  echo "  - {id: claude-haiku-4-5, since: $today, input: 2.00, output: 10.00, cache_write_5m: 2.50, cache_write_1h: 4.00, cache_read: 0.20}"
} >"$PRICES"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'reload done' "$T/proxy.log" || fail "the corrected table was not loaded"
send claude-haiku-4-5 false -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000'
# 10000 x $2 + 1000 x $10 = $0.03, on top of 2 x $0.015
expect 'j.costs.by_model["claude-haiku-4-5"].total_nanousd' 60000000
expect 'j.costs.total_nanousd' 343000000
ok "after SIGHUP the new price applies to new requests; the totals keep the old ones"
