#!/bin/sh
# Below HTTP: plain HTTP sent to the TLS port is closed at once, and 200
# TLS handshakes that never finish are closed after CLIENT_HEADER_TIMEOUT
# (fractions of a second included) while other clients are served; a
# returning client resumes its TLS session.
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

# A returning client resumes its TLS 1.3 session from the one ticket we send
need "$OPENSSL"
s_client() {
    # -ign_eof: read until the proxy closes after its answer (Connection: close)
    (sleep 1; printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n') |
        "$OPENSSL" s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
            -CAfile "$T/cert.pem" -ign_eof "$@" 2>&1
}
s_client -sess_out "$T/sess" >"$T/s1" || fail "first TLS handshake: $(tail -n 3 "$T/s1")"
grep -q '^New, TLSv1.3' "$T/s1" || fail "first handshake: $(grep -E '^(New|Reused)' "$T/s1")"
s_client -sess_in "$T/sess" >"$T/s2" || fail "resumed handshake: $(tail -n 3 "$T/s2")"
grep -q '^Reused, TLSv1.3' "$T/s2" || fail "session not resumed: $(grep -E '^(New|Reused)' "$T/s2")"
grep -q '"status": "ok"' "$T/s2" || fail "no answer on the resumed session"
ok "a TLS 1.3 session resumes from its ticket"
