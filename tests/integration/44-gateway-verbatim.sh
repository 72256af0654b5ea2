#!/bin/sh
# What the gateway must pass verbatim (CLAUDE-CODE.md, "Pass-through"), with
# the scrubber on as in production: anthropic-beta values (never an
# allow-list), every anthropic-* header, known or not, and body fields the
# proxy has never heard of (they travel with their beta values: drop one half
# and the API answers 400); error bodies come back byte for byte, since
# Claude Code's recovery matches on the upstream's wording, also a 529 the
# retry stage gave up on.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
copy_pipeline
sed -i 's/delays_ms: \[1000, 2000, 4000\]/delays_ms: [20]/' "$PIPELINE"
grep -q 'delays_ms: \[20\]' "$PIPELINE" || fail "could not shorten the retry delays"
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$("$OPENSSL" rand -hex 32)"

beta='context-management-2025-06-27,interleaved-thinking-2025-05-14, fine-grained-tool-streaming-2025-05-14,extended-cache-ttl-2025-04-11,oauth-2025-04-20,some-future-beta-2099-12-31'
# fields the proxy knows nothing of, odd spacing, escapes and number forms
# kept as written: a byte changed anywhere shows in the digest
cat >"$T/body.json" <<'EOF'
{"model":"claude-opus-4-1","max_tokens":32000, "stream":false,
 "context_management":{"edits":[{"type":"clear_tool_uses_20250919","trigger":{"type":"input_tokens","value":30000}}]},
 "output_config":{"effort":"high","future_knob":[1,2.50,1e3,-0.0]},
 "thinking":{"type":"enabled","budget_tokens":31999},
 "tools":[{"name":"Read","description":"Reads a file","strict":true,"input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"],"additionalProperties":false},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
 "messages":[{"role":"user","content":[{"type":"text","text":"caf\u00e9 \ud83d\ude00 \"quoted\"\ttab","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],
 "metadata":{"user_id":"user_0123abcd_account__session_feedface"},
 "a_field_from_2099":{"nested":{"deeper":[null,true,false,{}]}}
}
EOF
for proto in --http1.1 --http2; do
    pcurl "$proto" -X POST "$PURL/__echo/v1/messages?beta=true" \
        -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
        -H "anthropic-beta: $beta" -H 'anthropic-beta: second-line-beta-2030-01-01' \
        -H 'anthropic-dangerous-direct-browser-access: true' \
        -H 'anthropic-unknown-future-header: Value  With Spaces;q=0.5, "quoted"' \
        -H 'Anthropic-Mixed-Case-Name: kept' \
        -H 'x-claude-code-session-id: 4b1d6a3e-0000-4000-8000-00000000c0de' \
        -H 'x-stainless-retry-count: 0' -H 'x-app: cli' \
        --data-binary @"$T/body.json" >"$T/echo.json"
    # every anthropic-* header the upstream saw, in order
    json 'j.headers.filter(h => h[0].startsWith("anthropic-")).map(h => h[0] + ": " + h[1]).join("\n")' \
        <"$T/echo.json" >"$T/got"
    printf '%s\n' 'anthropic-version: 2023-06-01' "anthropic-beta: $beta" \
        'anthropic-beta: second-line-beta-2030-01-01' \
        'anthropic-dangerous-direct-browser-access: true' \
        'anthropic-unknown-future-header: Value  With Spaces;q=0.5, "quoted"' \
        'anthropic-mixed-case-name: kept' >"$T/want"
    diff "$T/want" "$T/got" >"$T/diff" || fail "$proto anthropic-* headers changed: $(cat "$T/diff")"
    for h in x-claude-code-session-id x-stainless-retry-count x-app; do
        [ -n "$(json "(j.headers.find(h => h[0] === '$h') || [])[1]" <"$T/echo.json")" ] ||
            fail "$proto: $h did not reach the upstream"
    done
    ok "$proto anthropic-beta ($(printf '%s' "$beta" | awk -F, '{ print NF }') values and a second line) and unknown anthropic-* headers reached the upstream verbatim, in order"
    [ "$(json j.body_sha256 <"$T/echo.json")" = "$(sha256sum <"$T/body.json" | cut -d' ' -f1)" ] ||
        fail "$proto: the body changed on the way"
    ok "$proto body with unknown fields (context_management, output_config, strict, a 2099 field) reached the upstream byte for byte"
done

# error bodies: the upstream's bytes, whatever they are
b64() { printf '%s' "$1" | base64 -w0; }
check_error() { # STATUS BODY PROTO
    pcurl "$3" -o "$T/err.out" -w '%{http_code}' -X POST -H "x-mock-status: $1" \
        -H "x-mock-error-body: $(b64 "$2")" -H 'content-type: application/json' \
        --data-binary '{"model":"m","messages":[]}' "$PURL/v1/messages" >"$T/err.code"
    [ "$(cat "$T/err.code")" = "$1" ] || fail "$3 upstream $1 came back as $(cat "$T/err.code")"
    printf '%s' "$2" | cmp -s - "$T/err.out" || fail "$3 $1: body changed: $(cat "$T/err.out")"
}
for proto in --http1.1 --http2; do
    check_error 400 '{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0: Invalid `signature` in `thinking` block"},"request_id":"req_011CTestSig"}' "$proto"
    check_error 400 '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 201234 tokens > 200000 maximum"}}' "$proto"
    check_error 401 '{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}' "$proto"
    check_error 403 '{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:inference"}}' "$proto"
    check_error 404 '{"type":"error","error":{"type":"not_found_error","message":"model: claude-nonexistent"}}' "$proto"
    check_error 413 '{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}' "$proto"
    check_error 429 '{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account'"'"'s rate limit. Please try again later."}}' "$proto"
    check_error 500 '{"type":"error","error":{"type":"api_error","message":"Internal server error"}}' "$proto"
    check_error 529 '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' "$proto"
    # not even JSON, odd whitespace, a trailing newline, UTF-8: still the same bytes
    check_error 502 "$(printf '<html>\n  <body>bad gateway \303\251</body>\n</html>\n ')" "$proto"
    check_error 400 "$(printf '{ "type" : "error" ,\n\t"error":{"type":"invalid_request_error","message":"caf\\u00e9 \342\200\224 \\"x\\""} }')" "$proto"
    ok "$proto error bodies byte-identical (400 signature and prompt-too-long, 401, 403, 404, 413, 429, 500, 529 after the retries, a non-JSON 502)"
done
[ "$(metrics 'j.counters.retries_total')" -ge 6 ] || fail "the 529s were not retried: the retry path is untested"
