#!/bin/sh
# SIGKILL the core while a client loops requests: the supervisor says why it
# died and restarts it, and no connection is ever refused.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy
old=$(core_pid)
[ -n "$old" ] || fail "no core process"
(
    i=0
    while [ $i -lt 150 ]; do
        i=$((i + 1))
        rc=0
        curl -sS --max-time 10 --cacert "$T/cert.pem" -o /dev/null -X POST -d '{}' \
            "$PURL/v1/messages" 2>>"$T/client.err" || rc=$?
        echo "$rc" >>"$T/client.rc"
    done
) &
loop=$!
sleep 1
kill -KILL "$old"
wait "$loop"
new=$(core_pid)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "core not restarted ($old -> $new)"
grep -q "core was killed by signal 9 (Killed)" "$T/proxy.log" || fail "death not explained"
grep -q "restarting in" "$T/proxy.log" || fail "restart not logged"
refused=$(grep -c '^7$' "$T/client.rc" || true)
total=$(wc -l <"$T/client.rc")
failed=$(grep -vc '^0$' "$T/client.rc" || true)
[ "$refused" -eq 0 ] || fail "$refused of $total requests saw 'connection refused'"
say "requests: $total, failed (cut by the kill): $failed, refused: 0"
pcurl -f "$PURL/health" >/dev/null || fail "unhealthy after the restart"
ok "core restarted after SIGKILL without refusing a connection"
