#!/bin/sh
# The supervisor speaks sd_notify(3) on $NOTIFY_SOCKET, as Type=notify-reload
# wants: READY=1 once the core serves; on SIGHUP RELOADING=1 with
# MONOTONIC_USEC= (now, on the same clock), then READY=1 when the new
# generation serves, or READY=1 with STATUS= naming the reason when the
# reload failed (the old generation keeps serving); STOPPING=1 on SIGTERM.
# Every message comes from the supervisor's pid (NotifyAccess=main). A small
# python3 listener plays systemd's socket.
. "$top_srcdir/tests/integration/lib.sh"
need curl
need python3
python3 "$top_srcdir/tests/integration/notify-listener.py" "$T/notify.sock" "$T/notify.log" \
    >"$T/listener.log" 2>&1 &
started $!
wait_for 10 test -f "$T/notify.log.ready" || fail "the notify listener did not start"
start_mock
copy_pipeline
cp "$PIPELINE" "$T/pipeline.good"
NOTIFY_SOCKET=$T/notify.sock
export NOTIFY_SOCKET
start_proxy
unset NOTIFY_SOCKET

# count_is N: the listener has N messages
count_is() { [ "$(wc -l <"$T/notify.log" 2>/dev/null || echo 0)" -ge "$1" ]; }
# msg N: the Nth message's text; field N K: its pid (1) or receipt time (2)
msg() { sed -n "${1}p" "$T/notify.log" | cut -d' ' -f3-; }
field() { sed -n "${1}p" "$T/notify.log" | cut -d' ' -f"$2"; }

wait_for 10 count_is 1 || fail "no READY=1 at start"
case "$(msg 1)" in READY=1\|STATUS=serving\ configuration\ revision\ 1:*) ;;
    *) fail "first message: $(msg 1)" ;; esac
pcurl -f -o /dev/null "$PURL/health" || fail "READY=1 but not serving"
ok "READY=1 once the core serves: $(msg 1 | cut -c1-80)..."

kill -HUP "$PROXY_PID"
wait_for 10 count_is 3 || fail "SIGHUP: messages: $(cat "$T/notify.log")"
case "$(msg 2)" in RELOADING=1\|MONOTONIC_USEC=*) ;; *) fail "after SIGHUP: $(msg 2)" ;; esac
sent=$(msg 2 | sed 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/')
got=$(field 2 2)
skew=$((got - sent))
[ "$skew" -ge 0 ] && [ "$skew" -lt 2000000 ] ||
    fail "MONOTONIC_USEC=$sent is not CLOCK_MONOTONIC now ($got at receipt)"
case "$(msg 3)" in READY=1\|STATUS=serving\ configuration\ revision\ 2:*) ;;
    *) fail "after the reload: $(msg 3)" ;; esac
ok "SIGHUP: RELOADING=1 with MONOTONIC_USEC (${skew} us before receipt), READY=1 at revision 2"

printf 'stages: [\n' >"$PIPELINE"
kill -HUP "$PROXY_PID"
wait_for 10 count_is 5 || fail "failed reload: messages: $(cat "$T/notify.log")"
case "$(msg 4)" in RELOADING=1\|MONOTONIC_USEC=*) ;; *) fail "bad reload: $(msg 4)" ;; esac
case "$(msg 5)" in
    READY=1\|STATUS=reload\ failed,\ still\ serving\ configuration\ revision\ 2:*pipeline*) ;;
    *) fail "failed reload: $(msg 5)" ;; esac
pcurl -f -o /dev/null "$PURL/health" || fail "not serving after the failed reload"
ok "failed reload: READY=1 with STATUS=$(msg 5 | sed 's/.*STATUS=//' | cut -c1-90)..."

cp "$T/pipeline.good" "$PIPELINE"
kill -TERM "$PROXY_PID"
wait_for 20 sh -c "! kill -0 $PROXY_PID 2>/dev/null" || fail "the proxy did not stop"
count_is 6 || fail "no message on SIGTERM: $(cat "$T/notify.log")"
case "$(msg 6)" in STOPPING=1*) ;; *) fail "on SIGTERM: $(msg 6)" ;; esac
[ "$(wc -l <"$T/notify.log")" -eq 6 ] || fail "more messages than expected: $(cat "$T/notify.log")"
ok "STOPPING=1 on SIGTERM"

bad=$(awk -v p="$PROXY_PID" '$1 != p' "$T/notify.log")
[ -z "$bad" ] || fail "messages not from the supervisor (pid $PROXY_PID): $bad"
ok "the order READY RELOADING READY RELOADING READY(failed) STOPPING, all from the supervisor's pid"
