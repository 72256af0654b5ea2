#!/bin/sh
# GET /metrics/stream: SSE on both ports, a snapshot at once and then every
# 1.5 s, to many viewers at once while requests go through; after a reload
# the old configuration ends its streams so that viewers reconnect to the
# new one (and the old one can be let go).
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy

VIEWERS=20
i=0
while [ "$i" -lt "$VIEWERS" ]; do
    if [ $((i % 2)) = 0 ]; then url=$DURL/metrics/stream; else url=$PURL/metrics/stream; fi
    pcurl -N --max-time 4 -o "$T/viewer$i.txt" "$url" 2>/dev/null &
    VPIDS="${VPIDS:-} $!"
    i=$((i + 1))
done
for pid in $VPIDS; do started "$pid"; done

sleep 0.5
start=$(date +%s%N)
for n in 1 2 3 4 5; do
    pcurl -o /dev/null -d '{"model":"claude-s","messages":[]}' "$PURL/v1/messages"
done
ms=$((($(date +%s%N) - start) / 1000000))
ok "5 requests in ${ms} ms with $VIEWERS viewers connected"
for pid in $VPIDS; do wait "$pid" || true; done

i=0
while [ "$i" -lt "$VIEWERS" ]; do
    events=$(grep -c '^data: ' "$T/viewer$i.txt" || true)
    [ "$events" -ge 3 ] || fail "viewer $i got $events snapshots in 4 s, want at least 3"
    i=$((i + 1))
done
last=$(grep '^data: ' "$T/viewer0.txt" | tail -n 1 | sed 's/^data: //' | json 'j.requests.total')
[ "$last" = 5 ] || fail "the last snapshot says $last requests, want 5"
grep -q '^retry: ' "$T/viewer0.txt" || fail "no retry: field for EventSource"
ok "$VIEWERS viewers on both ports each got a snapshot at once and every 1.5 s"

# A reload ends the old configuration's streams.
pcurl -N --max-time 15 -o "$T/reload.txt" "$DURL/metrics/stream" 2>/dev/null &
V=$!
started "$V"
sleep 1
t0=$(date +%s)
kill -HUP "$PROXY_PID"
rc=0; wait "$V" || rc=$?
[ "$rc" = 0 ] || fail "the stream did not end cleanly after the reload (curl exit $rc): $(tail -c 300 "$T/reload.txt")"
t=$(($(date +%s) - t0))
[ "$t" -le 5 ] || fail "the stream took ${t}s to end after the reload"
ok "after SIGHUP the old stream ended in ${t}s (EventSource reconnects)"
pcurl -N --max-time 2 "$DURL/metrics/stream" 2>/dev/null | grep '^data: ' | head -n 1 |
    sed 's/^data: //' | json 'j.pipeline.revision' | grep -qx 2 || fail "new stream not on revision 2"
ok "a new viewer gets revision 2"

# An open dashboard does not hold the shutdown to SHUTDOWN_TIMEOUT (10 s here).
pcurl -N --max-time 15 -o /dev/null "$DURL/metrics/stream" 2>/dev/null &
V=$!
started "$V"
sleep 1
t0=$(date +%s)
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || fail "the proxy exited with status $?"
rc=0; wait "$V" || rc=$?
t=$(($(date +%s) - t0))
[ "$t" -le 3 ] || fail "SIGTERM with a viewer open took ${t}s"
[ "$rc" = 0 ] || fail "the viewer's stream did not end cleanly at shutdown (curl exit $rc)"
ok "SIGTERM with a viewer open: the stream ended cleanly and the proxy exited in ${t}s"
