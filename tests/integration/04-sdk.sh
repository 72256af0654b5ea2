#!/bin/sh
# The official Anthropic TypeScript SDK, streaming and not, through the proxy.
. "$top_srcdir/tests/integration/lib.sh"
SDK_DIR=$top_srcdir/tests/node
[ -d "$SDK_DIR/node_modules/@anthropic-ai/sdk" ] ||
    skip "npm packages not installed (run: npm ci --prefix tests/node)"
start_mock
start_proxy
export NODE_EXTRA_CA_CERTS=$T/cert.pem
out=$("$NODE" "$SDK_DIR/sdk-check.mjs" --base-url "$PURL") || fail "SDK non-streaming: $out"
[ "$out" = "Hello from the mock upstream." ] || fail "SDK non-streaming answer: $out"
ok "SDK messages.create through the proxy: $out"
out=$("$NODE" "$SDK_DIR/sdk-check.mjs" --base-url "$PURL" --stream) || fail "SDK streaming: $out"
[ "$out" = "Hello from the mock upstream." ] || fail "SDK streaming answer: $out"
ok "SDK streaming through the proxy: $out"
grep -q 'HTTP/1.1 POST /v1/messages 200' "$T/proxy.log" || fail "the SDK did not come over HTTP/1.1"
ok "the SDK used HTTP/1.1 keep-alive"
