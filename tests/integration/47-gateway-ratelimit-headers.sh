#!/bin/sh
# retry-after, x-should-retry, request-id and the plan-usage headers
# anthropic-ratelimit-unified-* reach the client on every response
# (CLAUDE-CODE.md, "Pass-through"): every upstream answer (200 JSON and SSE,
# count_tokens, models, HEAD, 4xx, 429, 500, 529 passed at once or after the
# retries) carries exactly the upstream's; the proxy's own 429, 503 and 529
# (a stage's refusal, no upstream stream in time) carry retry-after and the
# unified-* headers the upstream last sent to that credential, never
# another's.
. "$top_srcdir/tests/integration/lib.sh"
need curl
PLUG=$(cd "$top_builddir" && pwd)/tests/plugins/.libs/refusing_stage.so
[ -f "$PLUG" ] || fail "test plugins not built"
start_mock
copy_pipeline
sed -i 's/delays_ms: \[1000, 2000, 4000\]/delays_ms: [20]/' "$PIPELINE"
sed -i "s#^stages:#stages:\n  - plugin: $PLUG#" "$PIPELINE"
grep -q 'delays_ms: \[20\]' "$PIPELINE" && grep -q "plugin: $PLUG" "$PIPELINE" ||
    fail "could not prepare the pipeline"
start_proxy
KEY_A=sk-ant-api03-test-not-a-real-key
KEY_B=sk-ant-api03-testkey

# the headers under test, one per line, sorted: "status" first
hdrs() { # URL CURL-ARGS...
    u=$1; shift
    pcurl -D - -o /dev/null "$@" "$u" | tr -d '\r' | tr 'A-Z' 'a-z' >"$T/head"
    sed -n '1s/^http\/[0-9.]* \([0-9]*\).*/status: \1/p' "$T/head"
    grep -E '^(retry-after|x-should-retry|request-id|anthropic-ratelimit-unified-[a-z0-9-]*):' \
        "$T/head" | sort
}
# same WHAT ROUTE CURL-ARGS...: direct and proxied (both protocols) agree
same() {
    what=$1 route=$2; shift 2
    hdrs "$MOCK_URL$route" --http2 -H 'x-mock-seed: 9' -H "x-api-key: $KEY_A" "$@" >"$T/direct"
    [ "$(grep -c '^anthropic-ratelimit-unified-' "$T/direct")" = 10 ] ||
        fail "$what: the mock sent no unified-* headers"
    for p in --http1.1 --http2; do
        hdrs "$PURL$route" "$p" -H 'x-mock-seed: 9' -H "x-api-key: $KEY_A" "$@" >"$T/proxied"
        diff "$T/direct" "$T/proxied" >"$T/diff" || fail "$p $what: $(cat "$T/diff")"
    done
    extra=$(grep -o '^\(retry-after\|x-should-retry\):' "$T/proxied" | tr -d : | tr '\n' ' ')
    ok "$what: $(head -n 1 "$T/proxied"), request-id, 10 unified-* ${extra:+and $extra}as the upstream sent them"
}
msg='{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
sse='{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
same "200 JSON" /v1/messages -X POST --data-binary "$msg"
same "200 SSE" /v1/messages -X POST --data-binary "$sse"
same "count_tokens" /v1/messages/count_tokens -X POST --data-binary "$msg"
same "models" '/v1/models?limit=1000'
same "HEAD /api/hello" /api/hello -I
same "400" /v1/messages -X POST -H 'x-mock-status: 400' --data-binary "$msg"
same "401" /v1/messages -X POST -H 'x-mock-status: 401' --data-binary "$msg"
same "429 with retry-after" /v1/messages -X POST -H 'x-mock-status: 429' \
    -H 'x-mock-retry-after: 30' --data-binary "$msg"
same "500" /v1/messages -X POST -H 'x-mock-status: 500' -H 'x-mock-should-retry: true' --data-binary "$msg"
same "529 x-should-retry: false" /v1/messages -X POST -H 'x-mock-status: 529' \
    -H 'x-mock-should-retry: false' -H 'x-mock-retry-after: 5' --data-binary "$msg"
same "529 after the retries" /v1/messages -X POST -H 'x-mock-status: 529' \
    -H 'x-mock-retry-after: 1' -H 'x-mock-retry-after-ms: 10' --data-binary "$msg"
[ "$(metrics 'j.counters.retries_total')" -ge 6 ] || fail "the 529s were not retried"

# the proxy's own refusals
learn() { # KEY UTILIZATION: an answer from the upstream to KEY
    pcurl -o /dev/null -X POST -H "x-api-key: $1" -H "x-mock-unified: $2" -H 'x-mock-seed: 9' \
        --data-binary "$msg" "$PURL/v1/messages"
}
own() { # STATUS KEY PROTO [curl args]: the refusal's headers
    st=$1 key=$2 p=$3; shift 3
    hdrs "$PURL/v1/messages" "$p" -X POST -H "x-api-key: $key" ${st:+-H "x-test-refuse: $st"} \
        "$@" --data-binary "$msg"
}
# want_own FILE STATUS UTILIZATION: the status, retry-after in whole
# seconds, and the unified-* headers learnt (UTILIZATION none: none at all)
want_own() {
    [ "$(head -n 1 "$1")" = "status: $2" ] || fail "own $2: $(head -n 1 "$1")"
    grep -Eq '^retry-after: [0-9]+$' "$1" || fail "own $2: no retry-after in seconds: $(cat "$1")"
    if [ "$3" = none ]; then
        ! grep -q '^anthropic-ratelimit-unified-' "$1" || fail "own $2: another credential's unified-* headers"
        return 0
    fi
    [ "$(grep -c '^anthropic-ratelimit-unified-' "$1")" = 10 ] || fail "own $2: unified-* headers: $(cat "$1")"
    grep -q "^anthropic-ratelimit-unified-5h-utilization: $3\$" "$1" ||
        fail "own $2: $(grep 5h-utilization "$1"), want $3"
}
learn "$KEY_A" 0.61
for p in --http1.1 --http2; do
    for st in 429 503 529; do
        own "$st" "$KEY_A" "$p" >"$T/own"
        want_own "$T/own" "$st" 0.61
        own "$st" "$KEY_B" "$p" >"$T/own"
        want_own "$T/own" "$st" none
    done
    ok "$p own 429, 503, 529: $(grep '^retry-after' "$T/own"), the credential's own 10 unified-* headers; a credential never answered gets none"
done
learn "$KEY_B" 0.05
learn "$KEY_A" 0.72
own 429 "$KEY_A" --http2 >"$T/own"
want_own "$T/own" 429 0.72
own 429 "$KEY_B" --http2 >"$T/own"
want_own "$T/own" 429 0.05
ok "each credential's refusal shows its own latest plan usage (0.72 and 0.05)"

# no upstream stream within UPSTREAM_POOL_TIMEOUT: the core's own 503, after
# a reload to an upstream that never speaks (the memo outlives the reload)
"$NODE" -e 'const s=require("net").createServer(()=>{});s.listen(0,"127.0.0.1",()=>{require("fs").writeFileSync(process.argv[1],String(s.address().port))})' "$T/silent.port" &
started $!
wait_for 10 test -s "$T/silent.port"
sed -i "s#^ANTHROPIC_PROXY_UPSTREAM_BASE_URL=.*#ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://localhost:$(cat "$T/silent.port")#" "$T/proxy.env"
echo "ANTHROPIC_PROXY_UPSTREAM_POOL_TIMEOUT=1" >>"$T/proxy.env"
echo "ANTHROPIC_PROXY_UPSTREAM_CONNECT_TIMEOUT=20" >>"$T/proxy.env"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'reload done' "$T/proxy.log" || fail "reload failed"
for p in --http1.1 --http2; do
    own "" "$KEY_A" "$p" >"$T/own"
    want_own "$T/own" 503 0.72
done
ok "UPSTREAM_POOL_TIMEOUT's 503: $(grep '^retry-after' "$T/own"), the credential's last unified-* headers"
