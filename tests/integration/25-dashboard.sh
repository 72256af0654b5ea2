#!/bin/sh
# The dashboard in headless Chromium: loads with no console error and no
# request leaving 127.0.0.1, its figures change after traffic, the alert
# banner shows when the upstream answers errors, it reconnects by itself
# when the core restarts, it fits a phone. Screenshots are kept in
# tests/out/ of the build tree.
. "$top_srcdir/tests/integration/lib.sh"
need curl
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "chromium is not installed (Debian package chromium)"
[ -d "$top_srcdir/tests/node/node_modules/playwright-core" ] ||
    skip "playwright-core is not installed (npm ci --prefix tests/node)"
start_mock
start_proxy
pcurl -sS -o "$T/page.html" -D "$T/head.txt" "$PURL/dashboard"
grep -qi '^content-type: text/html' "$T/head.txt" || fail "GET /dashboard on the main port"
grep -Eio '(src|href)="(https?:)?//[^"]*' "$T/page.html" && fail "the page links outside"
ok "GET /dashboard on the main port: $(wc -c <"$T/page.html") bytes, nothing external"

OUT=$top_builddir/tests/out
mkdir -p "$OUT"
export CHROMIUM
HOME=$T timeout 120 "$NODE" "$top_srcdir/tests/node/dashboard-check.mjs" "$DURL" "$PURL" \
    "$T/cert.pem" "$PROXY_PID" "$OUT" >"$T/dashboard.log" 2>&1 ||
    { cat "$T/dashboard.log"; fail "dashboard check"; }
cat "$T/dashboard.log"
