#!/bin/sh
# The real Claude Code CLI (`claude -p`) through the proxy prints the mock's
# answer. Claude Code speaks HTTP/1.1 with keep-alive and trusts the proxy's
# self-signed certificate through NODE_EXTRA_CA_CERTS. With scrubbing on, a
# key in the prompt reaches the upstream as a placeholder, and nothing else
# of Claude Code's large requests (system prompt, tool definitions) changes
# in a way the mock or the CLI notice.
. "$top_srcdir/tests/integration/lib.sh"
CLAUDE=$top_srcdir/tests/node/node_modules/.bin/claude
[ -x "$CLAUDE" ] || skip "Claude Code CLI not installed (run: npm ci --prefix tests/node)"
start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$("$OPENSSL" rand -hex 32)"
home=$T/home
mkdir -p "$home"
set +e
HOME=$home ANTHROPIC_BASE_URL=$PURL ANTHROPIC_API_KEY=sk-ant-api03-test-not-a-real-key \
    DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
    NODE_EXTRA_CA_CERTS=$T/cert.pem \
    timeout 120 "$CLAUDE" -p "say hi; my key is AKIAIOSFODNN7EXAMPLE" </dev/null >"$T/claude.out" 2>"$T/claude.log"
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "claude exited $rc: $(cat "$T/claude.out")"
grep -q "Hello from the mock upstream." "$T/claude.out" || fail "unexpected answer: $(cat "$T/claude.out")"
ok "claude -p through the proxy printed: $(cat "$T/claude.out")"
grep -q 'HTTP/1.1 POST /v1/messages' "$T/proxy.log" || fail "Claude Code's requests were not logged as HTTP/1.1"
if grep -q 'sk-ant-api03-test-not-a-real-key' "$T/proxy.log"; then
    fail "the API key appeared in the log"
fi
ok "Claude Code used HTTP/1.1; its key is not in the log"

# What the upstream received: the prompt's key replaced, the bodies JSON.
curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" >"$T/seen.json"
json 'j.filter(r => r.path.startsWith("/v1/messages") && r.body.includes("say hi")).length' <"$T/seen.json" |
    grep -qv '^0$' || fail "the mock saw no request with the prompt"
json 'j.some(r => r.body.includes("AKIAIOSFODNN7EXAMPLE"))' <"$T/seen.json" | grep -q false ||
    fail "the key in the prompt reached the upstream"
json 'j.filter(r => r.path.startsWith("/v1/messages") && r.body.includes("say hi")).every(r => { JSON.parse(r.body); return r.body.includes("<AWS_ACCESS_KEY_1>"); })' \
    <"$T/seen.json" | grep -q true || fail "the scrubbed requests are not JSON with the placeholder"
ok "scrubbing on: Claude Code's prompt reached the upstream with <AWS_ACCESS_KEY_1>, $(json 'Math.max(...j.map(r => r.body.length))' <"$T/seen.json") bytes in its largest request"
