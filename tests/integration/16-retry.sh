#!/bin/sh
# The retry stage: 529 answers are retried after the configured delays,
# retry-after and x-should-retry are obeyed, the budget passes the 529 on
# (and a SIGHUP does not refill it), a client that leaves during a wait stops
# further attempts; in the core, a refused stream is replayed on another
# connection, and a GOAWAY from the upstream during a burst loses no request.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
copy_pipeline
# first a budget of 2 retries a minute (and 0 %), for the budget checks
sed -i 's/delays_ms: \[1000, 2000, 4000\]/delays_ms: [50]/; s/# budget_min: 10 /budget_min: 2    /; s/budget_percent: 20 /budget_percent: 0  /' "$PIPELINE"
grep -q 'delays_ms: \[50\]' "$PIPELINE" && grep -q 'budget_min: 2 ' "$PIPELINE" ||
    fail "could not set the test budget"
start_proxy

attempts() { mock_log | json "j.filter(r => r.key === '$1').length"; }
post() { # KEY FAIL-FIRST [extra curl args...]
    k=$1; n=$2; shift 2
    pcurl -o /dev/null -w '%{http_code} %{time_total}' -X POST -H "x-mock-key: $k" \
        -H "x-mock-fail-first: $n" "$@" -d '{"model":"m","messages":[]}' "$PURL/v1/messages"
}
reload() { # wait for the Nth "reload done"
    kill -HUP "$PROXY_PID"
    wait_for 10 sh -c "[ \$(grep -c 'reload done' '$T/proxy.log') -ge $1 ]" || fail "reload $1 failed"
}

# the budget: the first two 529s are retried, the next ones go to the
# client as they came; a SIGHUP (same file) must not give a fresh budget
: >"$T/budget"
for j in 1 2 3 4; do post "budget$j" 1 | cut -d' ' -f1 >>"$T/budget"; done
[ "$(tr '\n' ' ' <"$T/budget")" = "200 200 529 529 " ] ||
    fail "budget of 2: $(tr '\n' ' ' <"$T/budget")"
[ "$(metrics 'j.counters.retries_refused_budget_total')" = 2 ] || fail "refusals not counted"
ok "retry budget of 2: 200 200 529 529, 2 refusals counted"
reload 1
: >"$T/budget"
for j in 5 6; do post "budget$j" 1 | cut -d' ' -f1 >>"$T/budget"; done
[ "$(tr '\n' ' ' <"$T/budget")" = "529 529 " ] ||
    fail "after a SIGHUP the budget was reset: $(tr '\n' ' ' <"$T/budget")"
ok "a SIGHUP does not reset the budget: 529 529 after it"

# raise the floor to 100 for the rest; the window keeps its 2 retries
sed -i 's/delays_ms: \[50\]/delays_ms: [100, 200, 400]/; s/budget_min: 2    /budget_min: 100  /; s/budget_percent: 0  /budget_percent: 20 /' "$PIPELINE"
reload 2

for n in 1 2 3; do
    set -- $(post "ok$n" "$n")
    [ "$1" = 200 ] || fail "$n failures: client got $1"
    [ "$(attempts "ok$n")" = $((n + 1)) ] || fail "$n failures: $(attempts "ok$n") attempts"
    ok "$n x 529 then 200: the client sees 200, the upstream saw $((n + 1)) attempts (${2}s)"
done
# delays 100+200+400 ms: about 0.7 s, well under the 7 s of the shipped defaults
t=$2
awk -v t="$t" 'BEGIN { exit !(t >= 0.65 && t < 3.0) }' || fail "3 retries took ${t}s, want ~0.7s"
ok "the configured delays were waited (${t}s for 100+200+400 ms)"

set -- $(post four 4)
[ "$1" = 529 ] || fail "4 failures: client got $1"
[ "$(attempts four)" = 4 ] || fail "4 failures: $(attempts four) attempts, want 4"
ok "4 x 529: the client gets the 529 after 4 attempts"

set -- $(post noretry 1 -H 'x-mock-should-retry: false')
[ "$1" = 529 ] && [ "$(attempts noretry)" = 1 ] || fail "x-should-retry: false was not obeyed"
ok "x-should-retry: false: no retry"

set -- $(post after 1 -H 'x-mock-retry-after: 1')
[ "$1" = 200 ] || fail "retry-after: $1"
awk -v t="$2" 'BEGIN { exit !(t >= 0.95 && t < 3.0) }' || fail "retry-after: 1 waited ${2}s"
ok "retry-after: 1 honoured (${2}s instead of 0.1 s)"

# a client that leaves during the wait: no further attempt
pcurl -o /dev/null -X POST -H 'x-mock-key: gone' -H 'x-mock-fail-first: 3' \
    -H 'x-mock-retry-after-ms: 1500' --max-time 0.5 -d '{}' "$PURL/v1/messages" 2>/dev/null || true
sleep 2
[ "$(attempts gone)" = 1 ] || fail "client left during the wait, yet $(attempts gone) attempts"
ok "client gone during the backoff: the retry was dropped"

# a stream the upstream refuses (REFUSED_STREAM) is replayed on another
# connection, without counting as a retry
retries_before=$(metrics 'j.counters.retries_total')
code=$(pcurl -o "$T/refused.out" -w '%{http_code}' -X POST -H 'x-mock-key: refused' \
    -H 'x-mock-refuse-first: 2' -d '{"model":"m","messages":[]}' "$PURL/v1/messages")
[ "$code" = 200 ] || fail "refused twice: client got $code"
mock_log | json "j.filter(r => r.key === 'refused').map(r => r.conn + ':' + r.outcome).join(' ')" \
    >"$T/refused.conns"
say "refused stream attempts (connection:outcome): $(cat "$T/refused.conns")"
set -- $(cat "$T/refused.conns")
# the third attempt answered the client in full; the mock may log it as
# "cancelled" when curl closes before the upstream's END_STREAM is handled
[ $# = 3 ] && [ "${1#*:}" = refused-by-mock ] && [ "${2#*:}" = refused-by-mock ] &&
    { [ "${3#*:}" = completed ] || [ "${3#*:}" = cancelled ]; } ||
    fail "refused twice: attempts $(cat "$T/refused.conns")"
json 'j.type === "message" && Array.isArray(j.content)' <"$T/refused.out" | grep -q true ||
    fail "refused twice: incomplete answer: $(head -c 200 "$T/refused.out")"
[ "${1%%:*}" != "${2%%:*}" ] && [ "${2%%:*}" != "${3%%:*}" ] ||
    fail "a refused stream was replayed on the connection that refused it: $(cat "$T/refused.conns")"
[ "$(metrics 'j.counters.retries_total')" = "$retries_before" ] || fail "replays counted as retries"
ok "REFUSED_STREAM twice: each replay went to another connection, 200, no retry counted"

# GOAWAY from the upstream in the middle of a burst: every request gets its
# whole answer, and the streams above the GOAWAY's last-stream-id are
# replayed. The GOAWAY request goes first and is answered after 500 ms; the
# 39 others, sent once the mock has it, wait 1 s there: those that reach the
# old connection in those 500 ms are above its last-stream-id, unanswered.
want='j.type === "message" && j.content[0].text === "Hello from the mock upstream." && j.stop_reason === "end_turn"'
mkdir "$T/burst"
burst_one() { # N [curl args...]
    n=$1; shift
    # shellcheck disable=SC2086
    ( rc=0; pcurl -o "$T/burst/$n.body" -w '%{http_code}' -X POST "$@" -H "x-mock-key: burst$n" \
        -d '{"model":"m","messages":[]}' "$PURL/v1/messages" \
        >"$T/burst/$n.code" 2>"$T/burst/$n.err" || rc=$?; echo "$rc" >"$T/burst/$n.rc" ) &
    burst="$burst $!"
}
burst=""
burst_one 20 -H 'x-mock-goaway: 1' -H 'x-mock-delay-ms: 500'
wait_for 10 sh -c "curl -sS --http2 --cacert '$T/cert.pem' '$MOCK_URL/__mock/log' | grep -q '\"burst20\"'" ||
    fail "the GOAWAY request never reached the mock"
i=0
while [ $i -lt 40 ]; do
    i=$((i + 1))
    [ $i = 20 ] || burst_one $i -H 'x-mock-delay-ms: 1000'
done
# shellcheck disable=SC2086
wait $burst
i=0
while [ $i -lt 40 ]; do
    i=$((i + 1))
    [ "$(cat "$T/burst/$i.rc")" = 0 ] || fail "GOAWAY burst: request $i: curl exit $(cat "$T/burst/$i.rc"): $(cat "$T/burst/$i.err")"
    [ "$(cat "$T/burst/$i.code")" = 200 ] || fail "GOAWAY burst: request $i: status $(cat "$T/burst/$i.code")"
    [ "$(json "$want" <"$T/burst/$i.body")" = true ] || fail "GOAWAY burst: request $i: incomplete body: $(head -c 300 "$T/burst/$i.body")"
done
ok "GOAWAY during a burst of 40 concurrent requests: all 40 got 200 and their whole JSON answer"
mock_log >"$T/burst.log"
bad=$(json 'j.filter(r => r.outcome === "refused-by-mock" && r.status !== null).length' <"$T/burst.log")
[ "$bad" = 0 ] || fail "the mock refused $bad stream(s) it had already answered"
# refused by the mock's GOAWAY handling, or by node's HTTP/2 (REFUSED_STREAM, 7).
# Whether the burst catches streams above the last-stream-id depends on
# timing (a loaded machine answers them first); the replay itself is proven
# by the REFUSED_STREAM case above, so this only reports what happened.
replayed=$(json 'j.filter(r => r.key && r.key.startsWith("burst") &&
    (r.outcome === "refused-by-mock" || r.rst_code === 7) &&
    j.some(o => o.key === r.key && o.outcome === "completed")).length' <"$T/burst.log")
say "GOAWAY burst: $replayed stream(s) refused above the last-stream-id and replayed this run"

[ "$(metrics 'j.counters.requests_succeeded_after_retry_total')" -ge 6 ] || fail "succeeded-after-retry not counted"
ok "retries counted in /metrics: $(metrics 'JSON.stringify([j.counters.retries_total, j.counters.retries_refused_budget_total, j.counters.requests_succeeded_after_retry_total])')"

# SIGTERM during a wait: the drain lets the retry happen and finish
pcurl -o /dev/null -w '%{http_code}' -X POST -H 'x-mock-key: term' -H 'x-mock-fail-first: 1' \
    -H 'x-mock-retry-after-ms: 1500' -d '{}' "$PURL/v1/messages" >"$T/term.code" &
client=$!
sleep 0.5
kill -TERM "$PROXY_PID"
wait "$client" || true
[ "$(cat "$T/term.code")" = 200 ] || fail "SIGTERM during the wait: client got $(cat "$T/term.code")"
set +e
wait "$PROXY_PID"; rc=$?
set -e
[ "$rc" = 0 ] || fail "exit status $rc after the drain"
ok "SIGTERM during a backoff wait: the retry completed within the drain (200), exit 0"
