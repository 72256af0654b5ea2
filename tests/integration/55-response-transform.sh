#!/bin/sh
# A stage's on_response_transform (plugin ABI 2.0) changes the response body
# as it streams: the client gets exactly what the stage emitted, JSON and
# SSE, over HTTP/1.1 (chunked, no content-length) and h2 (DATA frames, no
# content-length), with a byte held back across pieces and flushed at the
# end. A response no stage transforms keeps its bytes and content-length.
. "$top_srcdir/tests/integration/lib.sh"
need curl
PLUG=$top_builddir/tests/plugins/.libs/transform_stage.so
[ -f "$PLUG" ] || fail "test plugins not built"
printf 'stages:\n  - plugin: metrics\n  - plugin: %s\n' "$PLUG" >"$T/pipeline.yaml"
PIPELINE=$T/pipeline.yaml
start_mock --allow-http1
start_proxy

req='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
sreq='{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
fetch() { # URL PROTOCOL BODY OUT [CURL-ARGS...]
    url=$1 proto=$2 body=$3 out=$4
    shift 4
    pcurl "$proto" -X POST -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
        -H 'x-mock-seed: 7' -H 'x-mock-events: 12' -H 'x-mock-text: the tree sees everyone' \
        -D "$out.head" --data-binary "$body" -o "$out" "$@" "$url/v1/messages"
}

for proto in --http1.1 --http2; do
    for kind in json sse; do
        body=$req; [ $kind = sse ] && body=$sreq
        fetch "$MOCK_URL" "$proto" "$body" "$T/direct.$kind"
        fetch "$PURL" "$proto" "$body" "$T/out.$kind" -H 'x-test-transform: on'
        sed 's/e/EE/g' "$T/direct.$kind" >"$T/want.$kind"
        cmp "$T/want.$kind" "$T/out.$kind" || fail "$kind over $proto: not the transformed body"
        grep -qi '^content-length:' "$T/out.$kind.head" &&
            fail "$kind over $proto: content-length kept on a transformed body: $(cat "$T/out.$kind.head")"
        if [ "$proto" = --http1.1 ]; then
            grep -qi '^transfer-encoding: chunked' "$T/out.$kind.head" ||
                fail "$kind over HTTP/1.1 is not chunked: $(cat "$T/out.$kind.head")"
        fi
        # untouched without the header: the upstream's bytes and length
        fetch "$PURL" "$proto" "$body" "$T/plain.$kind"
        cmp "$T/direct.$kind" "$T/plain.$kind" || fail "$kind over $proto changed without a transform"
    done
    grep -qi '^content-length:' "$T/plain.json.head" ||
        fail "an untransformed JSON answer lost its content-length over $proto"
    grep -q '^EEvEEnt: mEEssagEE_stop' "$T/out.sse" || fail "the transformed stream lacks its end"
    ok "JSON and SSE transformed as the stage emitted over curl $proto ($(wc -c <"$T/direct.sse") bytes -> $(wc -c <"$T/out.sse")), no content-length; untouched without it"
done

# a big JSON answer in many pieces (16 KiB writes honouring back-pressure)
for proto in --http1.1 --http2; do
    fetch "$MOCK_URL" "$proto" "$req" "$T/big.direct" -H 'x-mock-big-body: 300000'
    fetch "$PURL" "$proto" "$req" "$T/big.out" -H 'x-mock-big-body: 300000' -H 'x-test-transform: on'
    sed 's/e/EE/g' "$T/big.direct" | cmp - "$T/big.out" || fail "300 KB answer over $proto"
done
ok "a 300 KB answer, transformed piece by piece, arrives whole over HTTP/1.1 and h2"
