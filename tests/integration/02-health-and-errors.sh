#!/bin/sh
# /health on the main port; the proxy's own errors in Anthropic's JSON shape
# with the right status and a reason phrase on every HTTP/1.1 status line.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy "MAX_REQUEST_BODY=4096" "UPSTREAM_READ_TIMEOUT=1" "CLIENT_HEADER_TIMEOUT=2"

for v in --http1.1 --http2; do
    body=$(pcurl $v "$PURL/health")
    [ "$body" = '{"status": "ok"}' ] || fail "/health $v: $body"
done
ok "/health over HTTP/1.1 and h2"

# status_of ARGS...: the HTTP/1.1 status line of a request through the proxy
status_line() {
    pcurl --http1.1 -o "$T/body" -D - "$@" | head -n 1 | tr -d '\r'
}
is_anthropic_error() { # FILE TYPE
    t=$(json 'j.type + "/" + j.error.type + "/" + typeof j.error.message' <"$1")
    [ "$t" = "error/$2/string" ] || fail "not an Anthropic error ($2): $(cat "$1")"
}

line=$(status_line "$DURL/v1/messages")
[ "$line" = "HTTP/1.1 404 Not Found" ] || fail "dashboard port: $line"
is_anthropic_error "$T/body" not_found_error
ok "dashboard port answers 404 for proxy paths"

head -c 5000 /dev/zero | tr '\0' 'a' >"$T/big"
line=$(status_line -X POST --data-binary @"$T/big" -H 'content-type: application/json' "$PURL/v1/messages")
[ "$line" = "HTTP/1.1 413 Content Too Large" ] || fail "413: $line"
is_anthropic_error "$T/body" request_too_large
line=$(status_line -X POST --data-binary @"$T/big" -H 'transfer-encoding: chunked' "$PURL/v1/messages")
[ "$line" = "HTTP/1.1 413 Content Too Large" ] || fail "chunked 413: $line"
ok "413 past MAX_REQUEST_BODY (length and chunked)"

hdr=$(head -c 70000 /dev/zero | tr '\0' 'h')
line=$(status_line -H "x-big: $hdr" "$PURL/v1/models")
[ "$line" = "HTTP/1.1 431 Request Header Fields Too Large" ] || fail "431: $line"
is_anthropic_error "$T/body" invalid_request_error
ok "431 for an oversized head"

# ambiguous framing, sent raw over TLS
raw() {
    printf "$1" | timeout 5 "$OPENSSL" s_client -quiet -connect "127.0.0.1:$PORT" \
        -servername localhost -alpn http/1.1 2>/dev/null | head -n 1 | tr -d '\r'
}
line=$(raw 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
[ "$line" = "HTTP/1.1 400 Bad Request" ] || fail "CL+TE: $line"
line=$(raw 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd')
[ "$line" = "HTTP/1.1 400 Bad Request" ] || fail "two lengths: $line"
line=$(raw 'GET /health HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n')
[ "$line" = "HTTP/1.1 400 Bad Request" ] || fail "obs-fold: $line"
ok "400 for ambiguous framing"

line=$(status_line -H 'x-mock-delay-ms: 3000' "$PURL/v1/messages" -d '{}')
[ "$line" = "HTTP/1.1 504 Gateway Timeout" ] || fail "504: $line"
is_anthropic_error "$T/body" api_error
ok "504 when the upstream is silent past UPSTREAM_READ_TIMEOUT"

for st in 400 401 429 500 529; do
    line=$(status_line -H "x-mock-status: $st" "$PURL/v1/messages" -d '{}')
    case "$line" in "HTTP/1.1 $st "?*) ;; *) fail "upstream $st came back as: $line";; esac
done
ok "upstream statuses pass through with reason phrases"

# a second proxy whose upstream refuses connections: 502
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
MOCK_URL=https://localhost:$(free_port) PORT= DASH_PORT= start_proxy
line=$(status_line "$PURL/v1/messages" -d '{}')
[ "$line" = "HTTP/1.1 502 Bad Gateway" ] || fail "502: $line"
is_anthropic_error "$T/body" api_error
grep -q "upstream unreachable" "$T/body" || fail "502 without a reason: $(cat "$T/body")"
ok "502 when the upstream is unreachable"

# an upstream that accepts TCP but never speaks: no stream slot in time, 503
"$NODE" -e 'const s=require("net").createServer(()=>{});s.listen(0,"127.0.0.1",()=>{require("fs").writeFileSync(process.argv[1],String(s.address().port))})' "$T/silent.port" &
started $!
wait_for 10 test -s "$T/silent.port"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
MOCK_URL=https://localhost:$(cat "$T/silent.port") PORT= DASH_PORT= start_proxy \
    "UPSTREAM_POOL_TIMEOUT=1" "UPSTREAM_CONNECT_TIMEOUT=20"
line=$(status_line "$PURL/v1/messages" -d '{}')
[ "$line" = "HTTP/1.1 503 Service Unavailable" ] || fail "503: $line"
is_anthropic_error "$T/body" api_error
ok "503 when no upstream stream is free within UPSTREAM_POOL_TIMEOUT"
