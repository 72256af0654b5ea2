#!/bin/sh
# The h2 front keeps RFC 9113's stream rules, checked with raw frames (a
# python3 client that builds them by hand; HTTP/2 libraries refuse to send
# these): a client stream id not above every one it opened is a connection
# error PROTOCOL_ERROR (5.1.1), frames on closed streams get 5.1's errors
# (STREAM_CLOSED), frames after our own RST_STREAM are ignored, and legal
# traffic (trailers on an open stream) goes on.
. "$top_srcdir/tests/integration/lib.sh"
need python3
start_mock
start_proxy
# expect SCENARIO LINES: the server's frames for SCENARIO, exactly
expect() {
    got=$(python3 "$top_srcdir/tests/integration/h2raw.py" "$PORT" "$T/cert.pem" "$1" 2>"$T/h2raw.err" |
        tr '\n' ';') || true
    [ "$got" = "$2" ] || fail "$1: server sent '$got', want '$2' $(cat "$T/h2raw.err")"
    ok "$1: $3 ($got)"
}
expect ok "HEADERS 1 200;DATA 1 END;HEADERS 3 200;DATA 3 END;OPEN;" "two requests, connection kept"
expect trailers-open "HEADERS 1 200;DATA 1 END;HEADERS 3 200;DATA 3 END;OPEN;" \
    "trailers on an open stream are fine"
expect lower-id "HEADERS 5 200;DATA 5 END;GOAWAY 5 PROTOCOL_ERROR;EOF;" \
    "HEADERS on 3 after 5: GOAWAY PROTOCOL_ERROR (5.1.1)"
ids=$(i=1; while [ $i -le 79 ]; do printf 'HEADERS %d 200;DATA %d END;' $i $i; i=$((i + 2)); done)
expect reused-id-old "${ids}GOAWAY 79 PROTOCOL_ERROR;EOF;" \
    "HEADERS reusing id 1, 40 streams later: PROTOCOL_ERROR (5.1.1)"
expect reused-id "HEADERS 1 200;DATA 1 END;GOAWAY 1 STREAM_CLOSED;EOF;" \
    "HEADERS on 1 just closed: STREAM_CLOSED (5.1)"
expect data-after-close "HEADERS 1 200;DATA 1 END;GOAWAY 1 STREAM_CLOSED;EOF;" \
    "DATA on a closed stream: STREAM_CLOSED (5.1)"
expect trailers-after-close "HEADERS 1 200;DATA 1 END;GOAWAY 1 STREAM_CLOSED;EOF;" \
    "HEADERS after END_STREAM on a closed stream: STREAM_CLOSED (5.1)"
expect data-old "${ids}GOAWAY 79 STREAM_CLOSED;EOF;" "DATA on a long-closed stream: STREAM_CLOSED"
expect data-after-client-rst "GOAWAY 1 STREAM_CLOSED;EOF;" \
    "DATA after the client's RST_STREAM: STREAM_CLOSED (5.1, as a connection error, 5.4.1)"
expect data-half-closed "GOAWAY 1 STREAM_CLOSED;EOF;" \
    "DATA after the client's END_STREAM, answer pending: STREAM_CLOSED (5.1 half-closed)"
expect data-after-server-rst "HEADERS 1 ?;DATA 1 END;RST 1 NO_ERROR;HEADERS 3 200;DATA 3 END;OPEN;" \
    "DATA after our RST_STREAM is ignored (5.1 closed); the connection goes on"
expect refused "RST 257 REFUSED_STREAM;HEADERS 1 200;DATA 1 END;OPEN;" \
    "DATA on a stream refused past MAX_CONCURRENT_STREAMS is ignored; the others go on"
