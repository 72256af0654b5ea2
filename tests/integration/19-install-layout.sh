#!/bin/sh
# make install DESTDIR=...: every file where SPEC section 9 puts it, the
# installed binary looks for its files at the configured paths (never the
# build tree) and runs --check-config from the installed files alone, and a
# reinstall never overwrites an operator's edited settings file.
. "$top_srcdir/tests/integration/lib.sh"
: "${sbindir:?}" "${sysconfdir:?}" "${pkglibdir:?}" "${includedir:?}" "${libdir:?}" "${mandir:?}"
D=$T/root
etc=$sysconfdir/anthropic-proxy
# a make of our own, not a job of the make running the tests
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$top_builddir" install DESTDIR="$D" >"$T/install.log" 2>&1 ||
    fail "make install failed: $(tail -n 20 "$T/install.log")"

[ -x "$D$sbindir/anthropic-proxy" ] || fail "no $sbindir/anthropic-proxy"
for f in stages/scrubber stages/metrics stages/dashboard stages/retry detectors/anthropic_key \
         detectors/email detectors/regex; do
    [ -f "$D$pkglibdir/$f.so" ] || fail "no $pkglibdir/$f.so"
done
[ "$(find "$D$pkglibdir" -name '*.la' | wc -l)" -eq 0 ] || fail "libtool .la files installed"
for f in "$includedir/anthropic-proxy/plugin.h" "$libdir/pkgconfig/anthropic-proxy-plugin.pc" \
         "$etc/anthropic-proxy.env" "$etc/pipeline.yaml" "$etc/prices.yaml" "$etc/developers.yaml" \
         "$mandir/man8/anthropic-proxy.8" \
         "$mandir/man5/anthropic-proxy.env.5" "$mandir/man5/anthropic-proxy-pipeline.5" \
         "$mandir/man5/anthropic-proxy-prices.5" "$mandir/man5/anthropic-proxy-developers.5" \
         "$mandir/man3/anthropic-proxy-plugin.3"; do
    [ -f "$D$f" ] || fail "no $f"
done
if [ -n "${systemdsystemunitdir:-}" ]; then
    [ -f "$D$systemdsystemunitdir/anthropic-proxy.service" ] ||
        fail "no $systemdsystemunitdir/anthropic-proxy.service"
    grep -q "^ExecStart=$sbindir/anthropic-proxy --foreground --config $etc/anthropic-proxy.env\$" \
        "$D$systemdsystemunitdir/anthropic-proxy.service" || fail "unit's ExecStart"
fi
! grep -n '\${sysconfdir}\|\${pkglibdir}\|@[a-z]*@' "$D$etc/anthropic-proxy.env" "$D$etc/pipeline.yaml" ||
    fail "placeholders left in the installed examples"
grep -q "^#ANTHROPIC_PROXY_PLUGIN_DIR=$pkglibdir\$" "$D$etc/anthropic-proxy.env" ||
    fail "the installed settings file does not show PLUGIN_DIR=$pkglibdir"
ok "installed: binary, plugins (no .la), header, .pc, examples, man pages${systemdsystemunitdir:+, unit}"

# With nothing but the settings file given, the binary looks for its
# certificate, its pipeline file and its plugins at the configured paths.
bin=$D$sbindir/anthropic-proxy
env=$D$etc/anthropic-proxy.env
check() { "$bin" --check-config --config "$env" >"$T/check.out" 2>&1; }
if [ -e "$etc/server.crt" ] || [ -e "$etc/pipeline.yaml" ] || [ -e "$pkglibdir" ]; then
    say "note: $etc or $pkglibdir exists on this machine: not checking the built-in paths"
else
    ! check || fail "check passed without a certificate: $(cat "$T/check.out")"
    grep -q "TLS_CERT=$etc/server.crt: cannot read it" "$T/check.out" ||
        fail "certificate not looked for at $etc/server.crt: $(cat "$T/check.out")"
    make_cert
    export ANTHROPIC_PROXY_TLS_CERT="$T/cert.pem" ANTHROPIC_PROXY_TLS_KEY="$T/key.pem"
    check || fail "$(cat "$T/check.out")"
    grep -q "no pipeline file at $etc/pipeline.yaml" "$T/check.out" ||
        fail "pipeline not looked for at $etc/pipeline.yaml: $(cat "$T/check.out")"
    export ANTHROPIC_PROXY_PIPELINE="$D$etc/pipeline.yaml"
    ! check || fail "plugins found outside $pkglibdir: $(cat "$T/check.out")"
    grep -q ": $pkglibdir/detectors/[a-z_]*\.so: no such plugin file" "$T/check.out" ||
        fail "plugins not looked for in $pkglibdir: $(cat "$T/check.out")"
    ok "built-in paths: $etc/server.crt, $etc/pipeline.yaml, $pkglibdir"
fi

make_cert
export ANTHROPIC_PROXY_TLS_CERT="$T/cert.pem" ANTHROPIC_PROXY_TLS_KEY="$T/key.pem"
export ANTHROPIC_PROXY_PIPELINE="$D$etc/pipeline.yaml" ANTHROPIC_PROXY_PLUGIN_DIR="$D$pkglibdir"
export ANTHROPIC_PROXY_PRICES="$D$etc/prices.yaml" ANTHROPIC_PROXY_DEVELOPERS="$D$etc/developers.yaml"
check || fail "installed configuration refused: $(cat "$T/check.out")"
# every detector the installed pipeline file lists, loaded
ndet=$(sed -n '/^detectors:/,$p' "$D$etc/pipeline.yaml" | grep -c '^  - plugin:')
grep -q "configuration OK .*scrubber .*retry .*$ndet detectors" "$T/check.out" ||
    fail "not every plugin loaded: $(cat "$T/check.out")"
! grep -q "$top_builddir" "$T/check.out" || fail "the build tree was used: $(cat "$T/check.out")"
ok "the installed binary checks the installed files: $(grep -o "configuration OK.*detectors" "$T/check.out")"

# An operator's edits survive a reinstall; the new example lands beside them.
echo "ANTHROPIC_PROXY_LOG_LEVEL=debug" >>"$env"
make -s -C "$top_builddir" install DESTDIR="$D" >"$T/install2.log" 2>&1 ||
    fail "second make install failed: $(tail -n 20 "$T/install2.log")"
tail -n 1 "$env" | grep -q '^ANTHROPIC_PROXY_LOG_LEVEL=debug$' || fail "edited settings file overwritten"
[ -f "$env.dist" ] || fail "no $etc/anthropic-proxy.env.dist beside the edited file"
[ ! -f "$D$etc/pipeline.yaml.dist" ] || fail "pipeline.yaml.dist written for an unedited file"
ok "reinstall kept the edited settings file, new example in anthropic-proxy.env.dist"

make -s -C "$top_builddir" uninstall DESTDIR="$D" >"$T/uninstall.log" 2>&1 ||
    fail "make uninstall failed: $(tail -n 20 "$T/uninstall.log")"
left=$(cd "$D" && find . -type f | sort)
[ "$left" = "./${etc#/}/anthropic-proxy.env" ] || fail "after uninstall, left: $left"
ok "uninstall removed everything but the edited settings file"
