#!/bin/sh
# A detector plugin that crashes (SIGSEGV) takes down only the core: the
# supervisor logs the signal and the plugin's name, restarts the core, and
# the service is back, still scrubbing, with the same ports.
. "$top_srcdir/tests/integration/lib.sh"
need curl
PLUG=$top_builddir/tests/plugins/.libs/crashing_detector.so
[ -f "$PLUG" ] || fail "test plugins not built"
cat >"$T/pipeline.yaml" <<EOF2
stages:
  - plugin: scrubber
  - plugin: metrics
detectors:
  - plugin: $PLUG
EOF2
PIPELINE=$T/pipeline.yaml
# In a sanitizer build ASan would take the SIGSEGV itself: let the core's own
# handler (the thing under test) have it.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:allow_user_segv_handler=1
export ASAN_OPTIONS
start_mock
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY"
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY"
first=$(core_pid)
[ -n "$first" ] || fail "no core process"

post() { pcurl -s -o "$T/out.json" -w '%{http_code}' -X POST --data-binary "$1" "$PURL/__echo"; }
[ "$(post '{"t":"brk_0123456789abcdef"}')" = 200 ] || fail "a normal request failed before the crash"
grep -q '<BROKEN_1>' "$T/out.json" || grep -q "$(printf %s '{"t":"<BROKEN_1>"}' | base64)" "$T/out.json" ||
    fail "the crashing detector did not scrub before the crash"

code=$(post '{"t":"CRASH_ME_NOW"}' 2>/dev/null || true)
case $code in 200) fail "the crashing request got 200" ;; esac
wait_for 10 grep -q 'while running plugin crashing_detector' "$T/proxy.log" ||
    fail "the supervisor did not name the plugin: $(grep -i 'core' "$T/proxy.log" | tail -3)"
line=$(grep 'while running plugin crashing_detector' "$T/proxy.log" | tail -n 1)
echo "$line" | grep -q 'signal 11' || fail "the log does not give the signal: $line"
grep -q 'fatal signal 11 in plugin crashing_detector' "$T/proxy.log" ||
    fail "the core did not say which plugin on stderr"
ok "crash logged: $(echo "$line" | sed 's/.*\] *//' | cut -c1-110)"

wait_for 10 sh -c "[ -n \"\$(pgrep -P $PROXY_PID -f -- --core)\" ] && [ \"\$(pgrep -P $PROXY_PID -f -- --core)\" != $first ]" ||
    fail "no new core after the crash"
wait_for 10 pcurl -f -o /dev/null "$PURL/health" || fail "the service did not come back"
[ "$(post '{"t":"brk_0123456789abcdef"}')" = 200 ] || fail "a normal request failed after the restart"
ok "core restarted (pid $first -> $(core_pid)); the service is back and still scrubbing"
