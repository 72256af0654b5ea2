#!/bin/sh
# An upstream that fails after the response started: the client must see a
# truncated response, never a clean end (HTTP/1.1: no final chunk; h2:
# RST_STREAM).
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy
sreq='{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
set +e
pcurl --http1.1 -X POST -H 'x-mock-reset-after: 3' --data-binary "$sreq" \
    -o "$T/h1.out" "$PURL/v1/messages" 2>"$T/h1.err"; rc1=$?
pcurl --http2 -X POST -H 'x-mock-reset-after: 3' --data-binary "$sreq" \
    -o "$T/h2.out" "$PURL/v1/messages" 2>"$T/h2.err"; rc2=$?
set -e
[ "$rc1" -eq 18 ] || fail "HTTP/1.1: curl exit $rc1, want 18 (partial): $(cat "$T/h1.err")"
grep -q '^event: message_start' "$T/h1.out" || fail "HTTP/1.1: the events before the reset are missing"
ok "HTTP/1.1 client sees the truncation (curl: $(cat "$T/h1.err"))"
[ "$rc2" -eq 92 ] || [ "$rc2" -eq 56 ] || [ "$rc2" -eq 18 ] ||
    fail "h2: curl exit $rc2, want a stream error: $(cat "$T/h2.err")"
grep -q '^event: message_start' "$T/h2.out" || fail "h2: the events before the reset are missing"
ok "h2 client sees the truncation (curl: $(cat "$T/h2.err"))"
pcurl -f "$PURL/health" >/dev/null || fail "proxy unhealthy after resets"
