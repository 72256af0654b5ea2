#!/bin/sh
# Beyond MAX_CLIENT_CONNECTIONS a client is refused politely: after the TLS
# handshake (HTTP/1.1 even if it offered h2) it reads a 503 with Anthropic's
# overloaded_error JSON and retry-after, then the connection closes. The
# connections already served keep working, and the supervisor runs with its
# fd limit raised to the hard limit.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
# started with a low soft limit, so that raising it is seen
ulimit -S -n 1024
start_proxy MAX_CLIENT_CONNECTIONS=50 CLIENT_IDLE_TIMEOUT=30 CLIENT_HEADER_TIMEOUT=30

soft=$(awk '/Max open files/ { print $4 }' "/proc/$PROXY_PID/limits")
hard=$(awk '/Max open files/ { print $5 }' "/proc/$PROXY_PID/limits")
[ "$soft" = "$hard" ] || fail "supervisor's fd limit is $soft, hard limit $hard"
core_soft=$(awk '/Max open files/ { print $4 }' "/proc/$(core_pid)/limits")
[ "$core_soft" = "$hard" ] || fail "core's fd limit is $core_soft, hard limit $hard"
ok "fd limit raised to the hard limit ($hard) in the supervisor and the core"

"$NODE" "$top_srcdir/tests/integration/hostile.js" overload --port "$PORT" --count 80 \
    --hold 2 --wait 20 >"$T/over.json"
r=$(cat "$T/over.json")
say "80 idle connections: $r"
[ "$(echo "$r" | json j.opened)" = 80 ] || fail "not every connection finished its handshake"
[ "$(echo "$r" | json j.status503)" = 30 ] || fail "want 30 refusals with 503"
[ "$(echo "$r" | json j.closedOther)" = 0 ] || fail "some connections closed without a 503"
[ "$(echo "$r" | json 'JSON.parse(j.body).error.type')" = overloaded_error ] ||
    fail "the 503's body is not an overloaded_error"
ok "50 served, 30 refused with 503 overloaded_error and closed"

# h2 clients over the limit get the same HTTP/1.1 answer (ALPN picks it)
"$NODE" "$top_srcdir/tests/integration/hostile.js" overload --port "$PORT" --count 50 \
    --hold 30 --wait 40 --ready "$T/ready" >/dev/null &
HOLD=$!
started "$HOLD"
wait_for 20 test -s "$T/ready" || fail "could not fill the connection limit"
code=$(pcurl --http2 -o "$T/refused.json" -D "$T/refused.head" -w '%{http_code}' "$PURL/v1/messages" || true)
[ "$code" = 503 ] || fail "a client over the limit got $code"
grep -qi '^retry-after: 1' "$T/refused.head" || fail "no retry-after on the 503"
grep -q '^HTTP/1.1 503' "$T/refused.head" || fail "the refusal was not HTTP/1.1"
[ "$(json j.error.type <"$T/refused.json")" = overloaded_error ] || fail "refusal body: $(cat "$T/refused.json")"
ok "an h2 client over the limit reads the 503 in HTTP/1.1"
kill "$HOLD" 2>/dev/null || true
wait "$HOLD" 2>/dev/null || true
wait_for 10 pcurl -f -o /dev/null "$PURL/health" || fail "not served once the others left"
ok "served again once the connections are released"
grep -q 'refusing client connections: MAX_CLIENT_CONNECTIONS (50) reached' "$T/proxy.log" ||
    fail "the refusals were not logged"
