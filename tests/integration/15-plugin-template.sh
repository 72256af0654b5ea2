#!/bin/sh
# The operator's kit: install into a staging tree, build the template
# detector out of tree against the installed header with pkg-config alone,
# add it to a pipeline, reload, and see it loaded with its samples passing.
. "$top_srcdir/tests/integration/lib.sh"
need curl
need pkg-config
stage=$T/stage
# a make of our own, not a job of the make running the tests
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$top_builddir" install DESTDIR="$stage" >"$T/install.log" 2>&1 ||
    fail "make install failed: $(tail -n 20 "$T/install.log")"
pc=$(find "$stage" -name anthropic-proxy-plugin.pc | head -n 1)
[ -n "$pc" ] || fail "anthropic-proxy-plugin.pc not installed"
[ -n "$(find "$stage" -path '*/include/anthropic-proxy/plugin.h')" ] || fail "plugin.h not installed"
ok "installed: $(echo "$pc" | sed "s|$stage||")"

cp -r "$top_srcdir/examples/detector-template" "$T/template"
chmod -R u+w "$T/template"
# only the installed tree: no -I into the source
PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$stage \
    make -s -C "$T/template" >"$T/template.log" 2>&1 || fail "template build: $(cat "$T/template.log")"
[ -f "$T/template/acme_token.so" ] || fail "no acme_token.so"
grep -q -- "-I$stage" "$T/template.log" 2>/dev/null || true
ok "template detector built against the installed header"
chmod 0755 "$T/template"
chmod 0644 "$T/template/acme_token.so"

start_mock
copy_pipeline
start_proxy
printf '  - plugin: %s\n    priority: 170\n' "$T/template/acme_token.so" >>"$PIPELINE"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q "reload done" "$T/proxy.log" || fail "reload with the template failed: $(grep 'reload' "$T/proxy.log")"
metrics 'j.pipeline.plugins.map(p => p.name + " " + p.version).join(",")' | grep -q "acme_token 1.0.0" ||
    fail "acme_token not listed: $(metrics j.pipeline.plugins)"
ok "acme_token loaded at reload, its samples passing (listed in /metrics)"
