#!/bin/sh
# The ledger on a full disk and on a read-only one (a small tmpfs, when the
# test may mount one; else a path no one can open): requests are still
# served, the failure is logged and counted, and CAPS_ON_ERROR is honoured:
# open (the default) goes on counting spend in memory, closed refuses
# capped developers (only them) with a billing_error until the ledger works
# again (writes come back by themselves; a reload reads the spend again).
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
K_ALICE=sk-ant-api03-alice-failure-0001
K_BOB=sk-ant-api03-bob-failure-0002
add_developer alice core "$K_ALICE" ', daily_usd: 1'
add_developer bob core "$K_BOB"

# haiku KEY: $0.015 (10000 in x $1 + 1000 out x $5); prints the status
haiku() {
    pcurl -o "$T/answer.json" -w '%{http_code}' -H 'content-type: application/json' \
        -H "x-api-key: $1" -H 'x-mock-input-tokens: 10000' -H 'x-mock-output-tokens: 1000' \
        --data-binary '{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}' \
        "$PURL/v1/messages"
}
counter() { metrics "j.counters.$1 || 0"; }
at_least() { [ "$(counter "$1")" -ge "$2" ]; }
restart() {
    kill -TERM "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null || true
    start_proxy "$@"
}
refused_for_ledger() {
    [ "$(haiku "$K_ALICE")" = 429 ] || fail "alice served with CAPS_ON_ERROR=closed: $(cat "$T/answer.json")"
    json 'j.type + " " + j.error.type + " " + j.error.message' <"$T/answer.json" |
        grep -q "^error billing_error Spend caps cannot be checked: the proxy's spend ledger is unavailable (CAPS_ON_ERROR=closed)" ||
        fail "answer: $(cat "$T/answer.json")"
    refusal=$(json 'j.error.message' <"$T/answer.json")
}

M=$T/disk
mkdir "$M"
if mount -t tmpfs -o size=256k,mode=0755 tmpfs "$M" 2>/dev/null; then
    at_exit "umount -l '$M'"
    LEDGER=$M/ledger.sqlite
    start_proxy
    [ "$(haiku "$K_ALICE")" = 200 ] || fail "first request"
    wait_for 10 at_least ledger_rows_written_total 1 || fail "no row written"

    # ---- full disk, CAPS_ON_ERROR=open (the default)
    dd if=/dev/zero of="$M/fill" bs=4k 2>/dev/null || true
    for k in "$K_ALICE" "$K_BOB" "$K_ALICE"; do
        [ "$(haiku "$k")" = 200 ] || fail "a request with the disk full: $(cat "$T/answer.json")"
    done
    wait_for 10 at_least ledger_rows_lost_total 3 || fail "lost rows: $(counter ledger_rows_lost_total)"
    at_least ledger_write_errors_total 1 || fail "no write error counted"
    grep -q 'ledger: .*full.*; requests are still served, their rows are lost' "$T/proxy.log" ||
        fail "the full disk is not logged: $(grep 'ledger:' "$T/proxy.log" | tail -3)"
    [ "$(metrics j.caps.developers.alice.spent_today_nanousd)" = 45000000 ] ||
        fail "alice's spend: $(metrics j.caps.developers.alice)"
    ok "full disk, open: 3 requests served, $(counter ledger_rows_lost_total) rows lost, $(counter ledger_write_errors_total) write error(s), logged: '$(grep -o 'ledger: [^;]*full[^;]*' "$T/proxy.log" | head -1)'; alice's \$0.045 still counted"

    # ---- full disk, CAPS_ON_ERROR=closed: a new supervisor
    restart CAPS_ON_ERROR=closed
    dd if=/dev/zero of="$M/fill2" bs=1k 2>/dev/null || true # what the last checkpoint freed
    errors=$(counter ledger_write_errors_total)
    [ "$(haiku "$K_BOB")" = 200 ] || fail "bob (no cap) refused with the disk full"
    wait_for 10 at_least ledger_write_errors_total $((errors + 1)) || fail "bob's row did not fail"
    refused_for_ledger
    [ "$(haiku "$K_BOB")" = 200 ] || fail "bob (no cap) refused with CAPS_ON_ERROR=closed"
    pcurl "$PURL/metrics/prometheus" |
        grep -qx 'anthropic_proxy_caps_blocked_requests_total{cap="ledger_unavailable"} 1' ||
        fail "ledger_unavailable not counted"
    ok "full disk, closed: bob (no cap) served, alice (capped) refused: '$refusal'"

    # ---- space again: the writer recovers by itself, a reload reads the spend
    rm -f "$M/fill" "$M/fill2"
    [ "$(haiku "$K_BOB")" = 200 ] || fail "bob with space again"
    wait_for 10 grep -q 'ledger: writing again' "$T/proxy.log" || fail "no 'writing again'"
    kill -HUP "$PROXY_PID"
    wait_for 10 grep -q 'reload done' "$T/proxy.log" || fail "no reload"
    [ "$(haiku "$K_ALICE")" = 200 ] || fail "alice still refused with the ledger back: $(cat "$T/answer.json")"
    [ "$(metrics j.caps.ledger_readable)" = true ] || fail "the ledger is still unreadable"
    ok "space again: the ledger writes again by itself; after a reload alice is served"

    # ---- read-only
    restart CAPS_ON_ERROR=closed
    kill -TERM "$PROXY_PID"
    wait "$PROXY_PID" 2>/dev/null || true
    mount -o remount,ro "$M" || fail "cannot remount read-only"
    : >"$T/proxy.log"
    start_proxy CAPS_ON_ERROR=closed
    what="a read-only tmpfs"
else
    # no mount (not root): a path under a regular file, which nobody can open
    say "cannot mount a tmpfs (needs root): the full-disk part is skipped"
    : >"$T/file"
    LEDGER=$T/file/ledger.sqlite
    start_proxy CAPS_ON_ERROR=closed
    what="a path under a regular file"
fi

# ---- a ledger that cannot be written (nor perhaps read), CAPS_ON_ERROR=closed
errors=$(counter ledger_write_errors_total)
[ "$(haiku "$K_BOB")" = 200 ] || fail "bob refused with the ledger on $what"
wait_for 10 at_least ledger_write_errors_total $((errors + 1)) || fail "bob's row did not fail"
refused_for_ledger
grep -q 'ledger: .*; requests are still served, their rows are lost' "$T/proxy.log" ||
    fail "the failure is not logged"
ok "ledger on $what, closed: bob served, alice refused; logged: '$(grep -o 'ledger: [^;]*; requests are still served' "$T/proxy.log" | head -1)'"

# ---- the same, CAPS_ON_ERROR=open: everyone served
restart
[ "$(haiku "$K_ALICE")" = 200 ] && [ "$(haiku "$K_BOB")" = 200 ] || fail "refused with CAPS_ON_ERROR=open"
wait_for 10 at_least ledger_rows_lost_total 2 || fail "rows not counted as lost"
ok "ledger on $what, open: alice and bob served, $(counter ledger_rows_lost_total) rows counted lost"
