#!/bin/sh
# Below HTTP: plain HTTP sent to the TLS port is closed at once, and 200
# TLS handshakes that never finish are closed after CLIENT_HEADER_TIMEOUT
# (fractions of a second included) while other clients are served.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy CLIENT_HEADER_TIMEOUT=1.5
HOSTILE_JS=$top_srcdir/tests/integration/hostile.js

r=$("$NODE" "$HOSTILE_JS" plain --port "$PORT" --wait 5)
say "plain: $r"
[ -n "$(echo "$r" | json j.closedAt)" ] || fail "plain HTTP on the TLS port: not closed"
echo "$(echo "$r" | json j.closedAt)" | awk '{ exit !($1 < 1) }' || fail "plain HTTP closed late"
[ "$(echo "$r" | json j.http)" = false ] || fail "plain HTTP on the TLS port got an HTTP answer"
ok "plain HTTP on the TLS port: closed at once, nothing served"

"$NODE" "$HOSTILE_JS" handshake --port "$PORT" --count 200 --wait 10 --ready "$T/ready" \
    >"$T/hs.json" &
HOSTILE=$!
started "$HOSTILE"
wait_for 10 test -s "$T/ready" || fail "the stalled handshakes did not connect"
code=$(pcurl -o /dev/null -w '%{http_code}' -X POST -d '{"model":"m","messages":[]}' "$PURL/v1/messages")
[ "$code" = 200 ] || fail "request while 200 handshakes stall: $code"
ok "served while 200 TLS handshakes stall"
wait "$HOSTILE" || fail "hostile.js failed"
r=$(cat "$T/hs.json")
say "handshakes: $r"
[ "$(echo "$r" | json j.closed)" = 200 ] || fail "not every stalled handshake was closed"
echo "$(echo "$r" | json j.lastClose)" | awk '{ exit !($1 >= 1.4 && $1 < 5) }' ||
    fail "stalled handshakes not closed about CLIENT_HEADER_TIMEOUT=1.5 s after they began"
ok "200 unfinished TLS handshakes closed after CLIENT_HEADER_TIMEOUT"
pcurl -f -o /dev/null "$PURL/health" || fail "not healthy afterwards"
ok "healthy afterwards"
