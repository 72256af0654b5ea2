#!/bin/sh
# What the client receives through the proxy is what it receives from the
# upstream directly: JSON and SSE bodies byte for byte, with curl over
# HTTP/1.1 and h2, and with nghttp.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock --allow-http1
start_proxy

req='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
sreq='{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'

# Ids and request ids differ per request: the mock derives them from the
# x-mock-seed header so two runs of the same request are byte-identical.
fetch() { # URL PROTOCOL BODY OUT
    pcurl "$2" -X POST -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
        -H 'x-mock-seed: 42' -H 'x-mock-events: 12' --data-binary "$3" -o "$4" "$1/v1/messages"
}

for proto in --http1.1 --http2; do
    for kind in json sse; do
        body=$req; [ $kind = sse ] && body=$sreq
        fetch "$MOCK_URL" "$proto" "$body" "$T/direct.$kind"
        fetch "$PURL" "$proto" "$body" "$T/proxied.$kind"
        cmp "$T/direct.$kind" "$T/proxied.$kind" || fail "$kind over $proto differs"
        [ -s "$T/proxied.$kind" ] || fail "$kind over $proto is empty"
    done
    grep -q '^event: message_stop' "$T/proxied.sse" || fail "SSE stream incomplete"
    ok "JSON and SSE identical to direct over curl $proto"
done

if command -v nghttp >/dev/null 2>&1; then
    printf '%s' "$sreq" >"$T/req.json"
    for url in "$MOCK_URL" "$PURL"; do
        nghttp --no-verify-peer -d "$T/req.json" -H 'x-mock-seed: 42' -H 'x-mock-events: 12' \
            -H 'content-type: application/json' "$url/v1/messages" >"$T/nghttp.$(echo "$url" | tr -dc 0-9)"
    done
    cmp "$T/nghttp.$(echo "$MOCK_URL" | tr -dc 0-9)" "$T/nghttp.$(echo "$PURL" | tr -dc 0-9)" ||
        fail "nghttp output differs"
    ok "SSE identical to direct over nghttp"
else
    say "SKIP (part): nghttp not installed"
fi

# SSE events arrive as they are produced, not all at the end
pcurl --http1.1 -N -X POST -H 'x-mock-event-delay-ms: 300' -H 'x-mock-events: 6' \
    --data-binary "$sreq" "$PURL/v1/messages" | while IFS= read -r line; do
        case "$line" in event:*) printf '%s %s\n' "$(date +%s%N)" "$line";; esac
    done >"$T/times"
first=$(head -n 1 "$T/times" | cut -d' ' -f1)
last=$(tail -n 1 "$T/times" | cut -d' ' -f1)
spread=$(( (last - first) / 1000000 ))
[ "$spread" -ge 1500 ] || fail "events arrived together (spread ${spread} ms): buffered"
ok "SSE events streamed as they came (spread ${spread} ms)"
