#!/bin/sh
# Claude Code's side routes through the gateway (CLAUDE-CODE.md,
# "Pass-through"): the connection-warming probe HEAD /api/hello (older
# builds HEAD /), POST /v1/messages/count_tokens and model discovery
# GET /v1/models?limit=1000 (3 s timeout, redirects fail) reach the upstream
# as sent and come back as the upstream answered: the same status, headers
# and body bytes as from the upstream directly, over HTTP/1.1 and h2.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock --allow-http1
start_proxy

# fetch BASE PROTO OUT ARGS...: OUT.h (headers that describe the message,
# sorted, lower-cased), OUT.b (the body), OUT.s ("status time" from curl)
fetch() {
    base=$1 proto=$2 out=$3; shift 3
    # with -I curl writes the head where the body would go: no body to keep
    b=$out.b; [ "${1:-}" = -I ] && { b=/dev/null; : >"$out.b"; }
    pcurl "$proto" -D "$out.raw" -o "$b" -w '%{http_code} %{time_total} %{num_redirects}' \
        -H 'x-mock-seed: 7' -H 'anthropic-version: 2023-06-01' "$@" "$base" >"$out.s"
    tr -d '\r' <"$out.raw" | grep -v '^HTTP/' | grep -v '^$' | tr 'A-Z' 'a-z' |
        grep -v '^\(date\|connection\|keep-alive\|transfer-encoding\|x-mock-request-seq\):' |
        sort >"$out.h"
}
# same ROUTE PROTO ARGS...: the proxied answer equals the direct one
same() {
    route=$1 proto=$2; shift 2
    fetch "$MOCK_URL$route" "$proto" "$T/direct" "$@"
    fetch "$PURL$route" "$proto" "$T/proxied" "$@"
    [ "$(cut -d' ' -f1 "$T/proxied.s")" = "$(cut -d' ' -f1 "$T/direct.s")" ] ||
        fail "$proto $route: status $(cat "$T/proxied.s"), direct $(cat "$T/direct.s")"
    diff "$T/direct.h" "$T/proxied.h" >"$T/diff" || fail "$proto $route: headers differ: $(cat "$T/diff")"
    cmp -s "$T/direct.b" "$T/proxied.b" || fail "$proto $route: bodies differ"
}
# seen METHOD PATH: the upstream's last request had this method and path
seen() {
    got=$(mock_log | json 'const r = j.filter(r => !r.path.startsWith("/__")).pop(); r.method + " " + r.path')
    [ "$got" = "$1 $2" ] || fail "the upstream saw '$got', want '$1 $2'"
}

for proto in --http1.1 --http2; do
    same /api/hello "$proto" -I
    seen HEAD /api/hello
    grep -q '^content-type: application/json' "$T/proxied.h" || fail "$proto HEAD: no content-type"
    ok "$proto HEAD /api/hello: $(cut -d" " -f1 "$T/proxied.s"), $(wc -l <"$T/proxied.h") headers as the upstream sent them"

    # older builds probe HEAD /: the upstream's answer (here a 404) comes back
    same / "$proto" -I
    seen HEAD /
    ok "$proto HEAD /: the upstream's $(cut -d' ' -f1 "$T/proxied.s") passed on"

    body='{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count me, please"}],"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.0.0"}],"tools":[]}'
    same '/v1/messages/count_tokens?beta=true' "$proto" -X POST -H 'content-type: application/json' \
        -H 'anthropic-beta: token-counting-2024-11-01' --data-binary "$body"
    seen POST '/v1/messages/count_tokens?beta=true'
    want=$(( (${#body} + 3) / 4 ))
    [ "$(json j.input_tokens <"$T/proxied.b")" = "$want" ] ||
        fail "$proto count_tokens: $(cat "$T/proxied.b"), want $want (the body changed on the way)"
    [ "$(mock_log | json 'j.pop().body_sha256')" = "$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" ] ||
        fail "$proto count_tokens: the upstream got another body"
    ok "$proto POST /v1/messages/count_tokens?beta=true: body as sent, answer $(cat "$T/proxied.b")"

    same '/v1/models?limit=1000' "$proto"
    seen GET '/v1/models?limit=1000'
    set -- $(cat "$T/proxied.s")
    [ "$1" = 200 ] && [ "$3" = 0 ] || fail "$proto models: status $1, $3 redirects"
    awk -v t="$2" 'BEGIN { exit !(t < 3.0) }' || fail "$proto models took ${2}s (Claude Code gives up at 3 s)"
    [ "$(json 'j.data[0].id' <"$T/proxied.b")" = claude-sonnet-4-5 ] || fail "$proto models: $(cat "$T/proxied.b")"
    ok "$proto GET /v1/models?limit=1000: 200 in ${2}s, no redirect, the upstream's list"
done

# HTTP/1.1 keep-alive: no body follows the HEAD answer, so the next request on
# the connection is read as a request and answered
printf 'HEAD /api/hello HTTP/1.1\r\nHost: localhost\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
    timeout 10 "$OPENSSL" s_client -quiet -connect "127.0.0.1:$PORT" -servername localhost \
        -alpn http/1.1 2>/dev/null | tr -d '\r' >"$T/pipelined"
grep '^HTTP/1.1' "$T/pipelined" | tr '\n' ';' >"$T/statuses"
[ "$(cat "$T/statuses")" = "HTTP/1.1 200 OK;HTTP/1.1 200 OK;" ] || fail "HEAD then GET: $(cat "$T/statuses")"
[ "$(tail -n 1 "$T/pipelined")" = '{"status": "ok"}' ] || fail "HEAD then GET: $(tail -n 3 "$T/pipelined")"
ok "HTTP/1.1 HEAD /api/hello then GET on one connection: no body after the HEAD answer"
