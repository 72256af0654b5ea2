#!/bin/sh
# Oversized header lines get 431 (HTTP/1.1 and h2); a request body that
# stalls gets 408 after CLIENT_HEADER_TIMEOUT of silence; a chunked body
# that never ends is cut at MAX_REQUEST_BODY with 413. Each connection is
# closed and the upstream never sees these requests.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy CLIENT_HEADER_TIMEOUT=2 MAX_REQUEST_BODY=65536
HOSTILE_JS=$top_srcdir/tests/integration/hostile.js

r=$("$NODE" "$HOSTILE_JS" big-header --port "$PORT" --size 70000 --wait 5)
say "big header line: $r"
[ "$(echo "$r" | json j.status)" = 431 ] || fail "70 KB header line: not 431"
[ -n "$(echo "$r" | json j.closedAt)" ] || fail "70 KB header line: connection kept open"
ok "HTTP/1.1: a 70 KB header line gets 431 and the connection is closed"

# curl (nghttp2) refuses to send more than the SETTINGS we advertise, so
# the frames are written by hand
r=$("$NODE" "$HOSTILE_JS" h2 --attack big-headers --size 30000 --port "$PORT" --wait 3)
say "h2 90 KB of header lines: $r"
[ "$(echo "$r" | json j.responses)" = 1 ] || fail "h2: 90 KB of header lines not answered"
grep -q 'h2 POST /v1/messages 431' "$T/proxy.log" || fail "h2: 90 KB of header lines: no 431"
ok "h2: 90 KB of header lines get 431"
r=$("$NODE" "$HOSTILE_JS" h2 --attack big-headers --size 70000 --port "$PORT" --wait 5)
say "h2 70 KB header line: $r"
[ -n "$(echo "$r" | json j.closedAt)" ] || fail "h2: a 70 KB header line: connection kept open"
ok "h2: a single 70 KB header line (beyond HPACK's limit) closes the connection"

r=$("$NODE" "$HOSTILE_JS" body --port "$PORT" --wait 8)
say "stalled body: $r"
[ "$(echo "$r" | json j.status)" = 408 ] || fail "stalled body: not 408"
echo "$(echo "$r" | json j.closedAt)" | awk '{ exit !($1 >= 1.9 && $1 < 5) }' ||
    fail "stalled body not closed about CLIENT_HEADER_TIMEOUT after its last byte"
ok "HTTP/1.1: a body that stalls gets 408 after CLIENT_HEADER_TIMEOUT and is closed"

r=$("$NODE" "$HOSTILE_JS" body --chunked 1 --port "$PORT" --wait 10)
say "endless chunked body: $r"
[ "$(echo "$r" | json j.status)" = 413 ] || fail "endless chunked body: not 413"
[ -n "$(echo "$r" | json j.closedAt)" ] || fail "endless chunked body: connection kept open"
ok "HTTP/1.1: a chunked body that never ends is cut at MAX_REQUEST_BODY (413)"

n=$(mock_log | json 'j.length')
[ "$n" = 0 ] || fail "the upstream saw $n of these requests"
ok "none reached the upstream"
pcurl -f -o /dev/null "$PURL/health" || fail "not healthy afterwards"
