#!/bin/sh
# HTTP/1.1 keep-alive: many requests on one connection, upstream reused.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
start_proxy
urls=""
for i in 1 2 3 4 5; do urls="$urls $PURL/v1/messages"; done
# shellcheck disable=SC2086
pcurl --http1.1 -v -X POST -d '{"model":"m","messages":[]}' $urls -o /dev/null -o /dev/null \
    -o /dev/null -o /dev/null -o /dev/null 2>"$T/verbose"
reused=$(grep -c 'Re-using existing connection' "$T/verbose" || true)
[ "$reused" -eq 4 ] || fail "client connection reused $reused times, want 4"
grep -q 'HTTP/1.1 200 OK' "$T/verbose" || fail "no reason phrase"
ok "5 requests on one HTTP/1.1 connection"
n=$(grep -c 'upstream=reused' "$T/proxy.log" || true)
[ "$n" -ge 4 ] || fail "upstream connection not reused ($n)"
ok "upstream h2 connection reused"
