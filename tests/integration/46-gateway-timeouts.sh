#!/bin/sh
# No proxy timeout shorter than the stream silence cuts a stream
# (CLAUDE-CODE.md: Claude Code itself aborts after 300 s of silence, the
# default UPSTREAM_READ_TIMEOUT). Shortened so the test stays quick: every
# other timeout is 1 s, UPSTREAM_READ_TIMEOUT 2.5 s, and the upstream is
# silent for 1.8 s before its head, between the head and a JSON body, and
# between every two SSE events: all of it arrives, over HTTP/1.1 and h2. A
# silence of 3.5 s is cut, so the silence bound is the one that holds.
. "$top_srcdir/tests/integration/lib.sh"
need curl
default=$("$PROXY_BIN" --help | awk '$1 == "UPSTREAM_READ_TIMEOUT" { print $3 }')
awk -v d="$default" 'BEGIN { exit !(d >= 300) }' || fail "UPSTREAM_READ_TIMEOUT defaults to $default, under 300 s"
ok "UPSTREAM_READ_TIMEOUT defaults to $default s, Claude Code's own 300 s of silence"
start_mock
start_proxy UPSTREAM_READ_TIMEOUT=2.5 CLIENT_HEADER_TIMEOUT=1 CLIENT_IDLE_TIMEOUT=1 \
    UPSTREAM_WRITE_TIMEOUT=1 UPSTREAM_POOL_TIMEOUT=1 UPSTREAM_CONNECT_TIMEOUT=1 LOG_SLOW_THRESHOLD=1
grep -q '^ANTHROPIC_PROXY_CLIENT_IDLE_TIMEOUT=1$' "$T/proxy.env" || fail "settings not written"

# run NAME PROTO STREAM HEADERS...: a request in the background; NAME.out,
# NAME.res ("status curl-exit seconds")
pids=""
run() {
    name=$1 proto=$2 stream=$3; shift 3
    (
        set +e
        # shellcheck disable=SC2086
        curl -sS -N --max-time 60 --cacert "$T/cert.pem" "$proto" -o "$T/$name.out" \
            -w '%{http_code} ' -X POST -H 'content-type: application/json' "$@" \
            --data-binary "{\"model\":\"m\",\"max_tokens\":8,\"stream\":$stream,\"messages\":[]}" \
            "$PURL/v1/messages" >"$T/$name.res" 2>"$T/$name.err"
        echo "$?" >>"$T/$name.res"
    ) &
    pids="$pids $!"
}
for p in --http1.1 --http2; do
    run "sse$p" "$p" true -H 'x-mock-events: 1' -H 'x-mock-event-delay-ms: 1800'
    run "head$p" "$p" true -H 'x-mock-delay-ms: 1800'
    run "json$p" "$p" false -H 'x-mock-delay-ms: 1800' -H 'x-mock-body-delay-ms: 1800'
    run "cut$p" "$p" true -H 'x-mock-events: 1' -H 'x-mock-event-delay-ms: 3500'
done
start=$(date +%s)
# shellcheck disable=SC2086
wait $pids
say "all requests done in $(( $(date +%s) - start )) s"

for p in --http1.1 --http2; do
    set -- $(cat "$T/sse$p.res")
    [ "$1 $2" = "200 0" ] || fail "$p SSE with 1.8 s gaps: $(cat "$T/sse$p.res") $(cat "$T/sse$p.err")"
    n=$(grep -c '^event: ' "$T/sse$p.out")
    tail -n 3 "$T/sse$p.out" | grep -q '^event: message_stop' || fail "$p SSE: no message_stop"
    ok "$p SSE stream with 1.8 s between each of its $n events: complete"

    set -- $(cat "$T/head$p.res")
    [ "$1 $2" = "200 0" ] && grep -q '^event: message_stop' "$T/head$p.out" ||
        fail "$p SSE after 1.8 s of silence before the head: $(cat "$T/head$p.res")"
    ok "$p SSE stream whose head came after 1.8 s: complete"

    set -- $(cat "$T/json$p.res")
    [ "$1 $2" = "200 0" ] && [ "$(json j.type <"$T/json$p.out")" = message ] ||
        fail "$p JSON after 1.8 s before the head and 1.8 s before the body: $(cat "$T/json$p.res")"
    ok "$p JSON answer, 1.8 s before its head and 1.8 s more before its body: complete"

    set -- $(cat "$T/cut$p.res")
    [ "$1" = 200 ] && [ "$2" != 0 ] && ! grep -q '^event: message_stop' "$T/cut$p.out" ||
        fail "$p a 3.5 s silence was not cut: $(cat "$T/cut$p.res")"
    ok "$p a 3.5 s silence in a stream is cut by UPSTREAM_READ_TIMEOUT=2.5 (curl exit $2, after $(grep -c '^event: ' "$T/cut$p.out") events)"
done
