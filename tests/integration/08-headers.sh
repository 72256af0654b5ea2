#!/bin/sh
# Request headers reach the upstream as sent, minus hop-by-hop ones, with the
# upstream's authority and nothing identifying the client; response headers
# (rate limits, request-id, retry-after, x-should-retry) reach the client
# untouched.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock --allow-http1
start_proxy
for proto in --http1.1 --http2; do
    pcurl "$proto" -X POST "$PURL/__echo/v1/messages?beta=true" \
        -H 'x-api-key: sk-ant-api03-testkey' -H 'Authorization: Bearer test-token' \
        -H 'anthropic-version: 2023-06-01' -H 'anthropic-beta: a,b' -H 'X-Custom: Mixed Case' \
        -H 'Connection: keep-alive, x-drop-me' -H 'x-drop-me: 1' -H 'Keep-Alive: timeout=5' \
        -H 'Proxy-Authorization: Basic eA==' -H 'TE: trailers' -H 'Upgrade: h2c' \
        -H 'content-type: application/json' --data-binary '{"a": 1}' >"$T/echo.json"
    h() { json "(j.headers.find(h => h[0] === '$1') || [])[1]" <"$T/echo.json"; }
    [ "$(h x-api-key)" = sk-ant-api03-testkey ] || fail "$proto x-api-key: $(h x-api-key)"
    [ "$(h authorization)" = "Bearer test-token" ] || fail "$proto authorization"
    [ "$(h anthropic-version)" = 2023-06-01 ] || fail "$proto anthropic-version"
    [ "$(h anthropic-beta)" = a,b ] || fail "$proto anthropic-beta"
    [ "$(h x-custom)" = "Mixed Case" ] || fail "$proto x-custom"
    [ "$(h content-length)" = 8 ] || fail "$proto content-length: $(h content-length)"
    [ "$(h :authority)" = "localhost:$MOCK_PORT" ] || fail "$proto :authority: $(h :authority)"
    [ "$(json j.path <"$T/echo.json")" = "/__echo/v1/messages?beta=true" ] || fail "$proto path"
    [ "$(json 'Buffer.from(j.body_b64, "base64").toString()' <"$T/echo.json")" = '{"a": 1}' ] ||
        fail "$proto body"
    # h2 has no Connection header (curl drops it), so x-drop-me is an ordinary
    # header there and rightly forwarded
    [ "$(h te)" = trailers ] || fail "$proto TE: trailers not passed on: $(h te)"
    dropped="connection keep-alive proxy-authorization upgrade host transfer-encoding"
    [ "$proto" = --http1.1 ] && dropped="$dropped x-drop-me"
    for gone in $dropped x-forwarded-for via forwarded; do
        [ -z "$(h $gone)" ] || fail "$proto: $gone was forwarded: $(h $gone)"
    done
    ok "$proto request headers forwarded as sent, hop-by-hop dropped"
done

# TE is hop-by-hop but for "trailers", the one value h2 allows upstream
te_upstream() { # TE VALUE
    pcurl --http1.1 "$PURL/__echo/v1/models" -H "TE: $1" -H 'Connection: TE' >"$T/te.json"
    json "(j.headers.find(h => h[0] === 'te') || [])[1] || 'none'" <"$T/te.json"
}
[ "$(te_upstream 'gzip')" = none ] || fail "TE: gzip was forwarded: $(te_upstream gzip)"
[ "$(te_upstream 'deflate;q=0.5, trailers')" = trailers ] ||
    fail "TE with trailers: $(te_upstream 'deflate;q=0.5, trailers')"
ok "TE: only trailers passed on"

# response headers: compare the proxied set to the direct one
resp_headers() { # URL PROTO
    pcurl "$2" -D - -o /dev/null -X POST -H 'x-mock-status: 529' -H 'x-mock-retry-after: 7' \
        -H 'x-mock-should-retry: false' -H 'x-mock-seed: 9' "$1/v1/messages" -d '{}' |
        tr -d '\r' | grep -iv '^date:' | grep -iv '^HTTP/' | grep -iv '^connection:' |
        grep -iv '^transfer-encoding:' | grep -iv '^x-mock-request-seq:' | grep -v '^$' |
        tr 'A-Z' 'a-z' | sort
}
for proto in --http1.1 --http2; do
    resp_headers "$MOCK_URL" "$proto" >"$T/direct.h"
    resp_headers "$PURL" "$proto" >"$T/proxied.h"
    diff "$T/direct.h" "$T/proxied.h" || fail "$proto response headers differ"
    for want in retry-after x-should-retry request-id anthropic-ratelimit-requests-remaining; do
        grep -q "^$want:" "$T/proxied.h" || fail "$proto lacks $want"
    done
    ok "$proto response headers untouched ($(wc -l <"$T/proxied.h") headers)"
done
if grep -q 'sk-ant-api03-testkey\|test-token' "$T/proxy.log"; then
    fail "a credential appeared in the log"
fi
ok "no credential in the debug request log"
