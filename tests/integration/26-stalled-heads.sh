#!/bin/sh
# 1000 clients send half a request head and stall (slowloris): the proxy
# keeps serving others meanwhile and answers each stalled one 408 and
# closes it once CLIENT_HEADER_TIMEOUT has passed.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy CLIENT_HEADER_TIMEOUT=4 LOG_LEVEL=info
"$NODE" "$top_srcdir/tests/integration/hostile.js" stall --port "$PORT" --count 1000 \
    --wait 20 --ready "$T/ready" >"$T/stall.json" 2>"$T/stall.log" &
HOSTILE=$!
started "$HOSTILE"
wait_for 20 test -s "$T/ready" || fail "the 1000 stalled connections were not all opened"
ok "1000 connections hold half a request head"
for i in 1 2 3; do
    code=$(pcurl -o /dev/null -w '%{http_code}' -X POST -d '{"model":"m","messages":[]}' \
        "$PURL/v1/messages")
    [ "$code" = 200 ] || fail "request $i while stalled: $code"
    code=$(pcurl --http2 -o /dev/null -w '%{http_code}' "$PURL/health")
    [ "$code" = 200 ] || fail "h2 /health $i while stalled: $code"
done
ok "other clients served meanwhile (HTTP/1.1 and h2)"
wait "$HOSTILE" || fail "hostile.js failed"
r=$(cat "$T/stall.json")
say "stall: $r"
[ "$(echo "$r" | json j.closed)" = 1000 ] || fail "not every stalled connection was closed"
[ "$(echo "$r" | json j.status408)" = 1000 ] || fail "not every stalled connection got a 408"
# opened within a few seconds, each closed 4 s after its first byte
last=$(echo "$r" | json j.lastClose)
echo "$last" | awk '{ exit !($1 < 15) }' || fail "last stalled connection closed after $last s"
ok "all 1000 answered 408 and closed after CLIENT_HEADER_TIMEOUT (last at ${last}s)"
pcurl -f -o /dev/null "$PURL/health" || fail "not healthy afterwards"
ok "healthy afterwards"
