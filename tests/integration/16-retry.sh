#!/bin/sh
# The retry stage: 529 answers are retried after the configured delays,
# retry-after and x-should-retry are obeyed, the budget passes the 529 on,
# a client that leaves during a wait stops further attempts, and a GOAWAY
# from the upstream during a burst loses no request.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
copy_pipeline
sed -i 's/delays_ms: \[1000, 2000, 4000\]/delays_ms: [100, 200, 400]/; s/# budget_min: 10 /budget_min: 100  /' "$PIPELINE"
grep -q 'delays_ms: \[100, 200, 400\]' "$PIPELINE" || fail "could not set test delays"
start_proxy

attempts() { mock_log | json "j.filter(r => r.key === '$1').length"; }
post() { # KEY FAIL-FIRST [extra curl args...]
    k=$1; n=$2; shift 2
    pcurl -o /dev/null -w '%{http_code} %{time_total}' -X POST -H "x-mock-key: $k" \
        -H "x-mock-fail-first: $n" "$@" -d '{"model":"m","messages":[]}' "$PURL/v1/messages"
}

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

# GOAWAY from the upstream in the middle of a burst: every request answered
i=0
while [ $i -lt 40 ]; do
    i=$((i + 1))
    g=""; [ $i = 20 ] && g="-H x-mock-goaway:1"
    # shellcheck disable=SC2086
    pcurl -o /dev/null -w '%{http_code}\n' -X POST $g -H "x-mock-delay-ms: 50" \
        -d '{}' "$PURL/v1/messages" >>"$T/burst" &
    burst="${burst:-} $!"
done
# shellcheck disable=SC2086
wait $burst
[ "$(grep -c '^200$' "$T/burst")" = 40 ] || fail "GOAWAY burst: $(sort "$T/burst" | uniq -c)"
ok "GOAWAY during a burst of 40 concurrent requests: all 40 answered 200"

# the budget: a reload sets it to 2 retries a minute (and 0 %): the first two
# 529s are retried, the next ones go to the client as they came
sed -i 's/budget_min: 100 /budget_min: 2   /; s/budget_percent: 20 /budget_percent: 0  /' "$PIPELINE"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q "reload done" "$T/proxy.log" || fail "reload for the budget test failed"
refused_before=$(metrics 'j.counters.retries_refused_budget_total')
j=0
: >"$T/budget"
while [ $j -lt 5 ]; do
    j=$((j + 1))
    post "budget$j" 1 | cut -d' ' -f1 >>"$T/budget"
done
[ "$(grep -c '^200$' "$T/budget")" = 2 ] && [ "$(grep -c '^529$' "$T/budget")" = 3 ] ||
    fail "budget of 2: $(tr '\n' ' ' <"$T/budget")"
refused=$(metrics 'j.counters.retries_refused_budget_total')
[ $((refused - refused_before)) = 3 ] || fail "refusals counted: $((refused - refused_before))"
ok "retry budget spent: 2 retried, 3 passed on as 529 and counted"
[ "$(metrics 'j.counters.requests_succeeded_after_retry_total')" -ge 5 ] || fail "succeeded-after-retry not counted"
ok "retries counted in /metrics: $(metrics 'JSON.stringify([j.counters.retries_total, j.counters.retries_refused_budget_total, j.counters.requests_succeeded_after_retry_total])')"

# SIGTERM during a wait: the drain lets the retry happen and finish
sed -i 's/budget_min: 2   /budget_min: 100 /' "$PIPELINE"
kill -HUP "$PROXY_PID"
wait_for 10 sh -c "[ \$(grep -c 'reload done' '$T/proxy.log') -ge 2 ]" || fail "second reload failed"
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
