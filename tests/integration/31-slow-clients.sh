#!/bin/sh
# A client reading slowly holds back the upstream's flow-control credit: the
# upstream's silence is then the proxy's doing, and UPSTREAM_READ_TIMEOUT
# must not end the response. A client that takes nothing at all for that
# long (and at least 30 s: TCP shows a slow reader's progress only in bursts
# seconds apart) is stalled: its exchange ends, and with it the upstream
# stream.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy UPSTREAM_READ_TIMEOUT=2

# 30 MB at 300 kB/s outlasts every buffer on the way; curl gives up at 12 s.
# TCP opens this reader's window in bursts about 4 s apart, longer than the
# 2 s timeout: only the log can tell a cut, as buffered bytes outlast curl.
set +e
pcurl --http1.1 -o /dev/null --limit-rate 300k --max-time 12 -H 'x-mock-big-body: 30000000' \
    "$PURL/v1/messages" -d '{}' 2>"$T/slow.err"
rc=$?
set -e
[ "$rc" -eq 28 ] || fail "slow reader: curl exit $rc, want 28 (its own time limit): $(cat "$T/slow.err")"
if grep -q 'UPSTREAM_READ_TIMEOUT' "$T/proxy.log"; then
    fail "a slow reader was cut by UPSTREAM_READ_TIMEOUT"
fi
ok "a slow reader is not an upstream timeout"

# the stalled client never reads again, so it cannot see the close either:
# the proxy's log and the mock tell
"$NODE" "$top_srcdir/tests/integration/hostile.js" noread --port "$PORT" --wait 60 \
    --ready "$T/stalled" >"$T/stalled.json" &
STALLED=$!
started "$STALLED"
wait_for 10 test -s "$T/stalled" || fail "the stalled client got no answer"
stalled_at=$(date +%s)
wait_for 50 grep -q 'the client took nothing for UPSTREAM_READ_TIMEOUT' "$T/proxy.log" ||
    fail "a client reading nothing was not cut within 50 s"
took=$(( $(date +%s) - stalled_at ))
[ "$took" -ge 28 ] && [ "$took" -le 40 ] ||
    fail "the stalled client was cut after ${took}s: want about 30 s (2 s timeout, 30 s floor)"
wait_for 5 outcome_is stalled cancelled ||
    fail "the stalled client's upstream stream: $(mock_outcome stalled)"
ok "a client that takes nothing for UPSTREAM_READ_TIMEOUT is cut (${took}s), its upstream stream cancelled"
kill "$STALLED" 2>/dev/null || true
pcurl -f -o /dev/null "$PURL/health" || fail "not healthy afterwards"
