#!/bin/sh
# SIGTERM: the proxy stops accepting, lets a slow request finish, exits 0.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy "SHUTDOWN_TIMEOUT=20"
sreq='{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
pcurl --http1.1 -X POST -H 'x-mock-event-delay-ms: 250' -H 'x-mock-events: 10' \
    --data-binary "$sreq" -o "$T/slow.out" "$PURL/v1/messages" &
client=$!
sleep 1
kill -TERM "$PROXY_PID"
sleep 0.5
if pcurl --max-time 2 "$PURL/health" >/dev/null 2>&1; then
    fail "a new connection was served during the drain"
fi
wait "$client" || fail "the slow request failed during the drain"
grep -q '^event: message_stop' "$T/slow.out" || fail "the slow response was cut"
set +e
wait "$PROXY_PID"; rc=$?
set -e
[ "$rc" -eq 0 ] || fail "supervisor exit status $rc"
grep -q "drained: every request finished" "$T/proxy.log" || fail "no drain message"
ok "slow request completed during the drain; exit status 0"
