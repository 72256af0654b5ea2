#!/bin/sh
# What a scrubber must never change in a Claude Code conversation: a
# multi-turn history (HTTP/1.1 and h2, streaming and not) whose thinking
# blocks hold an e-mail address and an AWS key in their text and a key-like
# run in their signature, a redacted_thinking block, cache_control objects,
# tool definitions, the attribution block first in `system` (with an
# e-mail-like value), tool_use and tool_result ids, odd spacing, escapes
# (\u0040, \/, \") and key order. The upstream receives the body byte for
# byte except exactly the secrets in user text, tool_result content and the
# later system block, each replaced by its placeholder: the expected body is
# the sent one with those spans replaced, compared byte for byte.
. "$top_srcdir/tests/integration/lib.sh"
need curl
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY" sk_live_51FakeThinkingTestKey0123456789 ASIAY3FAKETHINKING27 carol.ops@example.com
start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY"

# Opaque values as the API hands them out: long base64. Each holds a run
# that a detector would take for an AWS key if it looked there.
b64() { printf "$1 %s; the API would refuse it. " 1 2 3 4 5 6 7 8 | "$OPENSSL" base64 -A | tr -d =; }
SIG1=$(b64 "fake thinking signature one for anthropic-proxy tests")/AKIAIOSFODNN7EXAMPLE+$(b64 tail)
SIG2=$(b64 "fake thinking signature two for anthropic-proxy tests")
DATA=$(b64 "fake redacted thinking for anthropic-proxy tests")+ASIAY3FAKETHINKING27/$(b64 end)

# {{RAW=>PLACEHOLDER}} marks each span the scrubber must replace (and only
# those); scrub-check.mjs expand writes the body to send and the expected one.
cat >"$T/template.json" <<'EOF'
{
  "model" : "claude-opus-4-5",   "max_tokens":32000 ,
  "thinking":{"type":"enabled","budget_tokens":16000},
  "system":[
    {"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.330.aad; cc_entrypoint=cli; cc_user=dev.bot@ci.example.com;"},
    {"cache_control":{"type":"ephemeral","ttl":"1h"},"text":"You are Claude Code.\nThe user is {{carol.ops@example.com=>EMAIL_HMAC}}; cwd \/home\/carol\/app","type":"text"}
  ],
  "tools":[
    {"name":"Read","description":"Reads a file from the local filesystem. Maintainer: tools\u0040example.com","input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"e.g. \/home\/u\/.env"}},"required":["file_path"],"additionalProperties":false}},
    {"name":"Bash","description":"Runs a command, e.g. `export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE`","input_schema":{"type":"object","properties":{"command":{"type":"string"}}},"cache_control":{"type":"ephemeral"}}
  ],
  "messages":[
    {"role":"user","content":[
      {"type":"text","text":"Deploy is broken. My key is {{AKIAIOSFODNN7EXAMPLE=>AWS_ACCESS_KEY_1}}, mail me at {{alice.dev\u0040example.org=>EMAIL_HMAC}}."},
      {"type":"text","text":"Check .env please","cache_control":{"type":"ephemeral"}}]},
    {"role":"assistant","content":[
      {"signature":"@SIG1@","thinking":"The user (alice.dev@example.org) pasted AKIAIOSFODNN7EXAMPLE; write to bob\u0040example.net? No. Read .env first.","type":"thinking"},
      {"type":"redacted_thinking","data":"@DATA@"},
      {"type":"text","text":"I'll read the file."},
      {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9z","name":"Read","input":{"file_path":"\/home\/carol\/app\/.env"}}]},
    {"role":"user","content":[
      {"tool_use_id":"toolu_01A09q90qw90lq917835lq9z","type":"tool_result","content":"1\tGITHUB_TOKEN={{ghp_0123456789abcdefghijABCDEFGHIJ012345=>GITHUB_TOKEN_1}}\n2\tAWS_ACCESS_KEY_ID={{ASIAY3FAKETHINKING27=>AWS_ACCESS_KEY_2}}\n3\tDATABASE_URL={{postgres:\/\/admin:hunter2pw@db.internal.example:5432\/app=>DB_CONNECTION_STRING_1}}\n4\tOLD_KEY={{AKIAIOSFODNN7EXAMPLE=>AWS_ACCESS_KEY_1}}\n5\tOWNER={{alice.dev@example.org=>EMAIL_HMAC}}\n6\t","cache_control":{"type":"ephemeral"}}]},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"GITHUB_TOKEN is ghp_0123456789abcdefghijABCDEFGHIJ012345 and the old key AKIAIOSFODNN7EXAMPLE is still there.","signature":"@SIG2@"},
      {"type":"text","text":"The .env holds a live token. Let me check the environment too."},
      {"type":"tool_use","id":"toolu_01Bx7ZfKq2LmNp4RsT6vWy8z","name":"Bash","input":{"command":"env | grep -E '^(AWS|STRIPE)_'","description":"Show AWS and Stripe variables"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_01Bx7ZfKq2LmNp4RsT6vWy8z","is_error":false,"content":[{"type":"text","text":"AWS_ACCESS_KEY_ID={{AKIAIOSFODNN7EXAMPLE=>AWS_ACCESS_KEY_1}}\nSTRIPE_API_KEY={{sk_live_51FakeThinkingTestKey0123456789=>STRIPE_KEY_1}}\n"}]},
      {"type":"text","text":"Also \"rotate\" {{sk_live_51FakeThinkingTestKey0123456789=>STRIPE_KEY_1}} \u2014 caf\u00e9 é → done\/ok"}]}
  ],
  "metadata":{"user_id":"user_0f3a_account_b2c4_session_9d8e"},
  "stream":%STREAM%
}
EOF
sed -i -e "s|@SIG1@|$SIG1|" -e "s|@SIG2@|$SIG2|" -e "s|@DATA@|$DATA|" "$T/template.json"

CHECK=$top_srcdir/tests/integration/scrub-check.mjs
for stream in false true; do
    "$NODE" "$CHECK" expand "$T/template.json" "$KEY" "$stream" "$T/req-$stream.json" "$T/want-$stream.json" \
        >"$T/expand.out" || fail "$(cat "$T/expand.out")"
    cmp -s "$T/req-$stream.json" "$T/want-$stream.json" && fail "test bug: the expected body equals the sent one"
done
say "the template: $(cat "$T/expand.out")"

for proto in http1.1 http2; do
    for stream in false true; do
        code=$(pcurl "--$proto" -o "$T/answer.txt" -w '%{http_code}' -H 'content-type: application/json' \
            -H 'anthropic-version: 2023-06-01' -H 'anthropic-beta: interleaved-thinking-2025-05-14' \
            -H "x-mock-key: $proto-$stream" --data-binary "@$T/req-$stream.json" \
            "$PURL/v1/messages?beta=true") || fail "POST over $proto failed"
        [ "$code" = 200 ] || fail "$proto stream=$stream: status $code: $(head -c 300 "$T/answer.txt")"
    done
done
curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" >"$T/seen.json"
for proto in http1.1 http2; do
    for stream in false true; do
        out=$("$NODE" "$CHECK" same-body "$T/seen.json" "$proto-$stream" "$T/want-$stream.json") ||
            fail "${out#FAIL: }"
    done
    ok "$proto: the upstream got the sent bytes with exactly the marked spans replaced (stream and not)"
done
ok "thinking text and signatures, redacted_thinking, cache_control, tools, the attribution block and tool ids unchanged"
