#!/bin/sh
# h2 abuse on the main port: rapid reset (HEADERS+RST_STREAM floods),
# CONTINUATION floods, an HPACK bomb, a SETTINGS flood and a request body
# that never ends. Each abusive connection is closed (the stalled body after
# its 408 and CLIENT_IDLE_TIMEOUT); a streaming request running on another
# connection all along is unaffected, and the proxy stays healthy.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy CLIENT_HEADER_TIMEOUT=2 CLIENT_IDLE_TIMEOUT=3
HOSTILE_JS=$top_srcdir/tests/integration/hostile.js

# a well-behaved h2 client streaming throughout (80 events, 100 ms apart)
pcurl --http2 -N -o "$T/stream.out" -w '%{http_code}' -H 'x-mock-events: 80' \
    -H 'x-mock-event-delay-ms: 100' -X POST \
    -d '{"model":"m","stream":true,"messages":[]}' "$PURL/v1/messages" >"$T/stream.code" &
STREAM=$!
started "$STREAM"

for attack in rapid-reset continuation hpack-bomb settings-flood; do
    r=$("$NODE" "$HOSTILE_JS" h2 --attack "$attack" --port "$PORT" --wait 10)
    say "$attack: $r"
    closed=$(echo "$r" | json j.closedAt)
    [ -n "$closed" ] || fail "$attack: the connection was not closed"
    echo "$closed" | awk '{ exit !($1 < 5) }' || fail "$attack: closed only after $closed s"
    if [ "$attack" = hpack-bomb ]; then
        # the bomb guard ends it at once, not the idle timeout after 50 answers
        echo "$closed" | awk '{ exit !($1 < 2) }' || fail "hpack-bomb: closed only after $closed s"
        [ "$(echo "$r" | json j.responses)" -lt 50 ] ||
            fail "hpack-bomb: every bomb was decoded and answered ($(echo "$r" | json j.responses))"
    fi
    code=$(pcurl --http2 -o /dev/null -w '%{http_code}' -X POST -d '{"model":"m","messages":[]}' \
        "$PURL/v1/messages")
    [ "$code" = 200 ] || fail "after $attack: a request on a new connection got $code"
    ok "$attack: connection closed after ${closed}s; others served"
done

grep -q 'Too many CONTINUATION frames' "$T/proxy.log" || fail "CONTINUATION flood not named in the log"
grep -q 'Flooding was detected' "$T/proxy.log" || fail "SETTINGS flood not named in the log"

r=$("$NODE" "$HOSTILE_JS" h2 --attack body-stall --port "$PORT" --wait 15)
say "body-stall: $r"
[ "$(echo "$r" | json j.responses)" = 1 ] || fail "stalled h2 body not answered"
[ "$(echo "$r" | json j.resets)" = 1 ] || fail "stalled h2 body: stream not reset after the answer"
[ -n "$(echo "$r" | json j.closedAt)" ] || fail "stalled h2 body: connection kept open"
grep -q 'h2 POST /v1/messages 408' "$T/proxy.log" || fail "no 408 logged for the stalled body"
ok "h2 body that never ends: 408, RST_STREAM(NO_ERROR), closed when idle"

wait "$STREAM" || fail "the streaming client failed"
[ "$(cat "$T/stream.code")" = 200 ] || fail "streaming client got $(cat "$T/stream.code")"
grep -q 'event: message_stop' "$T/stream.out" || fail "the concurrent stream was cut"
ok "a streaming request on another connection ran to its end throughout"
pcurl -f -o /dev/null "$PURL/health" || fail "not healthy afterwards"
ok "healthy afterwards"
