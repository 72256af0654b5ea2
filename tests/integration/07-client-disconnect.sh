#!/bin/sh
# A client that goes away cancels its upstream stream at once.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy
sreq='{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
for proto in --http1.1 --http2; do
    curl -s -X POST -H "x-mock-key: gone$proto" -H 'x-mock-event-delay-ms: 500' -H 'x-mock-events: 40' \
        --max-time 1.5 --cacert "$T/cert.pem" "$proto" --data-binary "$sreq" \
        -o /dev/null "$PURL/v1/messages" || true
    # the stream would run 20 s; it must be cancelled within 2 s of the client leaving
    wait_for 2 outcome_is "gone$proto" cancelled ||
        fail "$proto: upstream stream not cancelled: $(mock_outcome "gone$proto")"
    ok "$proto client gone: upstream stream cancelled"
done
