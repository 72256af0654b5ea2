#!/bin/sh
# The metrics stage through the proxy: after a known mix of requests —
# JSON and SSE, gzip, cached tokens, 4xx, 5xx, a stream reset midway, an
# error event, h1 and h2 — /metrics reports exactly the tokens, statuses and
# bytes the mock sent, per model; active requests rise and fall; and the
# figures survive a reload.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy

BYTES_IN=0
BYTES_OUT=0
# send MODEL STREAM [curl args...]: one request; adds up the bytes both ways.
send() {
    body="{\"model\":\"$1\",\"stream\":$2,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    shift 2
    n=$(pcurl -o /dev/null -w '%{size_download}' -H 'content-type: application/json' \
        "$@" --data-binary "$body" "$PURL/v1/messages" 2>/dev/null) || true
    BYTES_IN=$((BYTES_IN + ${#body}))
    BYTES_OUT=$((BYTES_OUT + ${n:-0}))
}

H1=--http1.1
send claude-a false $H1 -H 'x-mock-input-tokens: 100' -H 'x-mock-output-tokens: 20' \
    -H 'x-mock-cache-read: 30' -H 'x-mock-cache-creation: 40' -H 'x-mock-cache-5m: 25' \
    -H 'x-mock-cache-1h: 15'
send claude-b true $H1 -H 'x-mock-input-tokens: 200' -H 'x-mock-output-tokens: 7' \
    -H 'x-mock-cache-read: 11' -H 'x-mock-delta-usage: full' -H 'x-mock-web-search: 2'
send claude-a false $H1 -H 'x-mock-gzip: 1' -H 'x-mock-input-tokens: 50' -H 'x-mock-output-tokens: 5'
send claude-a false $H1 -H 'x-mock-gzip: auto' -H 'accept-encoding: gzip, deflate, br, zstd' \
    -H 'x-mock-input-tokens: 10' -H 'x-mock-output-tokens: 1' -H 'x-mock-key: narrowed'
send claude-a false $H1 -H 'x-mock-status: 400'
send claude-a false $H1 -H 'x-mock-status: 500'
send claude-b true $H1 -H 'x-mock-input-tokens: 300' -H 'x-mock-reset-after: 3'
send claude-a true --http2 -H 'x-mock-input-tokens: 60' -H 'x-mock-events: 3'
send claude-b true $H1 -H 'x-mock-input-tokens: 4' -H 'x-mock-stream-error-after: 2'
ok "9 requests sent: $BYTES_IN bytes in, $BYTES_OUT bytes out"

ae=$(mock_log | json "j.find(r => r.key === 'narrowed').headers.find(h => h[0] === 'accept-encoding')[1]")
[ "$ae" = gzip ] || fail "accept-encoding upstream: '$ae', want gzip"
ok "Accept-Encoding narrowed to what the stage can decode: '$ae'"

# One slow stream: active while it runs, not after.
slow='{"model":"claude-c","stream":true,"messages":[{"role":"user","content":"slow"}]}'
pcurl $H1 -o /dev/null -w '%{size_download}' -H 'content-type: application/json' \
    -H 'x-mock-input-tokens: 5' -H 'x-mock-events: 10' -H 'x-mock-event-delay-ms: 200' \
    --data-binary "$slow" "$PURL/v1/messages" >"$T/slow.out" &
SLOW=$!
active_is() { [ "$(metrics j.requests.active)" = "$1" ]; }
wait_for 5 active_is 1 || fail "requests.active never reached 1: $(metrics j.requests)"
ok "a stream in flight: requests.active = 1"
wait "$SLOW"
BYTES_IN=$((BYTES_IN + ${#slow}))
BYTES_OUT=$((BYTES_OUT + $(cat "$T/slow.out")))

expect() { # EXPR WANT
    got=$(metrics "$1")
    [ "$got" = "$2" ] || fail "$1 = $got, want $2"
}
check_all() {
    expect 'j.requests.active' 0
    expect 'j.requests.total' 10
    expect 'JSON.stringify(j.requests.by_status)' '{"200":8,"400":1,"500":1}'
    expect 'j.requests.errors' 4   # 400, 500, the reset stream, the error event
    expect 'j.requests.truncated' 1
    expect 'j.requests.stream_errors' 1
    expect 'j.requests.usage_incomplete' 2
    expect 'j.requests.usage_unmetered' 0
    expect 'j.requests.error_rate' 0.4
    expect 'j.bytes.in' "$BYTES_IN"
    expect 'j.bytes.out' "$BYTES_OUT"
    expect 'JSON.stringify(j.tokens.by_model["claude-a"])' \
        '{"input":220,"output":29,"cache_read":30,"cache_creation":40,"cache_creation_5m":25,"cache_creation_1h":15,"web_search_requests":0,"web_fetch_requests":0}'
    expect 'JSON.stringify(j.tokens.by_model["claude-b"])' \
        '{"input":504,"output":9,"cache_read":11,"cache_creation":0,"cache_creation_5m":0,"cache_creation_1h":0,"web_search_requests":2,"web_fetch_requests":0}'
    expect 'JSON.stringify(j.tokens.by_model["claude-c"])' \
        '{"input":5,"output":10,"cache_read":0,"cache_creation":0,"cache_creation_5m":0,"cache_creation_1h":0,"web_search_requests":0,"web_fetch_requests":0}'
    expect 'j.tokens.input' 729
    expect 'j.tokens.output' 48
    expect 'j.latency_seconds.count' 10
    expect 'j.ttfb_seconds.count' 10
    expect 'j.latency_seconds.p50 > 0 && j.latency_seconds.p50 <= j.latency_seconds.p95 && j.latency_seconds.p95 <= j.latency_seconds.p99' true
    expect 'j.latency_seconds.p99 >= 1.5' true  # the slow stream took about 2 s
}
check_all
ok "tokens, statuses, bytes, errors, latency exactly as the mock sent: $(metrics 'JSON.stringify(j.tokens)')"

# the last minute's error rate, sampled every 1.5 s, must outlive the reload
wait_for 5 sh -c "[ -n \"\$(curl -sS --cacert '$T/cert.pem' '$PURL/metrics' | '$NODE' -e 'let s=\"\";process.stdin.on(\"data\",d=>s+=d).on(\"end\",()=>{const j=JSON.parse(s);process.stdout.write(j.requests.error_rate_recent===null?\"\":\"x\")})')\" ]" ||
    fail "no recent error rate before the reload: $(metrics j.requests)"
recent=$(metrics 'j.requests.error_rate_recent')
kill -HUP "$PROXY_PID"
revision_is() { [ "$(metrics j.pipeline.revision)" = "$1" ]; }
wait_for 10 revision_is 2 ||
    fail "no reload: $(metrics j.pipeline)"
check_all
expect 'j.reloads.ok' 1
[ "$(metrics 'j.requests.error_rate_recent')" = "$recent" ] ||
    fail "the recent error rate did not survive the reload: $recent -> $(metrics 'j.requests.error_rate_recent')"
ok "every figure survived a SIGHUP reload (revision 2), the last minute's error rate ($recent) included"

# Every field of GET /metrics is documented in anthropic-proxy(8).
fields=$(metrics 'const out = [], open = ["requests.by_status", "tokens.by_model", "costs.by_model",
  "costs.unknown_models", "costs.by_developer", "costs.by_team", "costs.by_class",
  "scrub", "counters", "caps.developers", "caps.teams"];
const walk = (o, p) => { for (const k of Object.keys(o)) { const q = p ? p + "." + k : k; out.push(q);
  if (o[k] && typeof o[k] === "object" && !Array.isArray(o[k]) && !open.includes(q)) walk(o[k], q); } };
walk(j, ""); out.join(" ")')
for f in $fields; do
    sed -n '/^\.SH METRICS/,/^\.SH RETRIES/p' "$top_srcdir/man/anthropic-proxy.8" |
        grep -q "\b${f##*.}\b" || fail "/metrics field $f is not documented in anthropic-proxy(8)"
done
ok "each of the $(echo $fields | wc -w) fields of /metrics is documented in anthropic-proxy(8)"
