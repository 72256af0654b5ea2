#!/bin/sh
# GET /metrics/prometheus on both ports: text format 0.0.4 that a real
# parser accepts (promtool check metrics, from Debian's prometheus package),
# token counters labelled by model, histograms with le buckets whose +Inf
# equals their count.
. "$top_srcdir/tests/integration/lib.sh"
need curl
command -v promtool >/dev/null 2>&1 ||
    skip "promtool is not installed (Debian package prometheus): format not checked"
start_mock
start_proxy

for i in 1 2 3; do
    pcurl -o /dev/null -H 'x-mock-input-tokens: 12' -H 'x-mock-cache-5m: 3' -H 'x-mock-web-search: 1' \
        -d '{"model":"claude-x","stream":true,"messages":[]}' "$PURL/v1/messages"
done
pcurl -o /dev/null -H 'x-mock-status: 529' -H 'x-mock-should-retry: false' \
    -d '{"model":"claude-x","messages":[]}' "$PURL/v1/messages"

for url in "$PURL/metrics/prometheus" "$DURL/metrics/prometheus"; do
    pcurl -D "$T/head.txt" -o "$T/prom.txt" "$url"
    grep -qi '^content-type: text/plain; version=0.0.4' "$T/head.txt" ||
        fail "content type: $(grep -i content-type "$T/head.txt")"
    promtool check metrics <"$T/prom.txt" >"$T/promtool.log" 2>&1 ||
        fail "promtool rejected $url: $(cat "$T/promtool.log")"
    ok "promtool check metrics accepts $url ($(wc -l <"$T/prom.txt") lines)"
done

has() { grep -qx "$1" "$T/prom.txt" || fail "missing line: $1"; }
has 'anthropic_proxy_tokens_input_total{model="claude-x"} 36'
has 'anthropic_proxy_tokens_cache_creation_5m_total{model="claude-x"} 9'
has 'anthropic_proxy_server_tool_web_search_requests_total{model="claude-x"} 3'
has 'anthropic_proxy_requests_by_status_total{status="529"} 1'
has 'anthropic_proxy_requests_total 4'
has '# TYPE anthropic_proxy_request_duration_seconds histogram'
has 'anthropic_proxy_request_duration_seconds_bucket{le="+Inf"} 4'
has 'anthropic_proxy_request_duration_seconds_count 4'
has 'anthropic_proxy_plugin_info{name="metrics",version="1.0.0",kind="stage"} 1'
has 'anthropic_proxy_config_revision 1'
ok "token counters by model, statuses, histograms and plugins as expected"
