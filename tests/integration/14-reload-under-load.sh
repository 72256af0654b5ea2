#!/bin/sh
# 20 SIGHUPs while a client sends requests continuously and a slow SSE
# stream is open: some reloads change the pipeline (a detector disabled, the
# retry stage's max_retries changed), some break it. No request fails, the
# slow stream completes intact, and after each good reload requests behave
# per the new pipeline.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
copy_pipeline
good=$T/pipeline.good
cp "$PIPELINE" "$good"
start_proxy

sreq='{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
pcurl --http1.1 -X POST -H 'x-mock-event-delay-ms: 150' -H 'x-mock-events: 60' \
    --data-binary "$sreq" -o "$T/slow.out" "$PURL/v1/messages" &
slow=$!

# a client looping requests until the reloads are done, bounded in count
# (3000) and time (60 s); each line of codes: status, curl exit, and whether
# the body was the whole JSON answer (its last field present)
(
    i=0
    t0=$(date +%s)
    while [ ! -f "$T/stop" ]; do
        if [ $i -ge 3000 ] || [ $(($(date +%s) - t0)) -ge 60 ]; then
            echo "stopped after $i requests, $(($(date +%s) - t0)) s" >"$T/loop.cut"
            break
        fi
        i=$((i + 1))
        rc=0
        rm -f "$T/loop.body"
        code=$(curl -s --max-time 10 --cacert "$T/cert.pem" -o "$T/loop.body" -w '%{http_code}' \
            -X POST -d '{"model":"m","messages":[]}' "$PURL/v1/messages") || rc=$?
        whole=cut
        grep -q '^{"id":"msg_.*"stop_reason":"end_turn".*}}$' "$T/loop.body" 2>/dev/null && whole=whole
        echo "$code $rc $whole" >>"$T/codes"
    done
) &
loop=$!

# variant N: the shipped pipeline, with the email detector disabled on odd
# N and the retry stage's max_retries set to N mod 2 * 3
variant() {
    n=$1
    sed -e "s/max_retries: 3/max_retries: $(( (n % 2) * 3 ))/" "$good" >"$PIPELINE"
    if [ $((n % 2)) -eq 1 ]; then
        printf '%s\n' '/plugin: email/{n;n;s/enabled: true/enabled: false/;}' >"$T/sed"
        sed -i -f "$T/sed" "$PIPELINE"
    fi
}
expect_rev=1
failed=0
n=0
while [ $n -lt 20 ]; do
    n=$((n + 1))
    if [ $((n % 5)) -eq 0 ]; then
        printf 'stages: [\n' >"$PIPELINE" # broken YAML
        failed=$((failed + 1))
    else
        variant $n
        expect_rev=$((expect_rev + 1))
    fi
    kill -HUP "$PROXY_PID"
    wait_for 10 sh -c "[ \$(grep -c 'reload done\|reload failed' '$T/proxy.log') -ge $n ]" ||
        fail "reload $n not finished"
    rev=$(metrics j.pipeline.revision)
    [ "$rev" = "$expect_rev" ] || fail "after reload $n: revision $rev, want $expect_rev"
    if [ $((n % 5)) -ne 0 ]; then
        has_email=$(metrics 'j.pipeline.plugins.some(p => p.name === "email")')
        want=true; [ $((n % 2)) -eq 1 ] && want=false
        [ "$has_email" = "$want" ] || fail "reload $n: email detector loaded=$has_email, want $want"
        # retry behaviour follows max_retries: one 529 then success
        code=$(pcurl -o /dev/null -w '%{http_code}' -X POST -H "x-mock-key: r$n" \
            -H 'x-mock-fail-first: 1' -d '{}' "$PURL/v1/messages")
        want=529; [ $((n % 2)) -eq 1 ] && want=200
        [ "$code" = "$want" ] || fail "reload $n: retry gave $code, want $want"
    fi
    sleep 0.2
done
ok "20 reloads: $((20 - failed)) applied, $failed refused, each checked"

[ ! -f "$T/loop.cut" ] || fail "the load ended before the reloads did: $(cat "$T/loop.cut")"
touch "$T/stop"
wait "$loop"
wait "$slow" || fail "the slow stream failed"
grep -q '^event: message_stop' "$T/slow.out" || fail "the slow stream was cut"
[ "$(grep -c '^event: content_block_delta' "$T/slow.out")" -eq 60 ] || fail "the slow stream lost events"
ok "the slow SSE stream, opened before the first reload, completed intact"
total=$(wc -l <"$T/codes")
bad=$(grep -vc '^200 0 whole$' "$T/codes" || true)
[ "$bad" -eq 0 ] || fail "$bad of $total looping requests failed (status, curl exit, body): $(sort "$T/codes" | uniq -c)"
ok "$total looping requests during all 20 reloads, each 200 with its whole answer"
grep -q "generation 1 released" "$T/proxy.log" || fail "the first generation was never released"
ok "old generations released once their exchanges ended"
