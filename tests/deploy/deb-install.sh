#!/bin/sh
# The Debian packages, installed into this machine: dpkg -i of both .debs,
# every file where it belongs (conffiles under /etc/anthropic-proxy, the
# unit, the sysusers entry, plugins, man pages, the -dev files), the system
# user and a self-signed certificate made, the service neither enabled nor
# started, --check-config passing on the installed files as the service's
# user, the daemon serving /health from them, the detector template building
# against the installed header; a reinstall keeps an edited settings file
# and makes no certificate when one is configured elsewhere; dpkg --purge
# leaves nothing behind but the system user (and an operator's own
# certificate, which the last round checks). Needs root and a machine
# without anthropic-proxy installed. Run by make check-deb (DEB_DIR: where
# make deb put the .debs).
. "$top_srcdir/tests/integration/lib.sh"
: "${DEB_DIR:?the directory holding the built .debs (make check-deb sets it)}"
[ "$(id -u)" = 0 ] || skip "installing a .deb needs root"
need dpkg
deb=$(ls "$DEB_DIR"/anthropic-proxy_*.deb 2>/dev/null | head -n 1)
dev=$(ls "$DEB_DIR"/anthropic-proxy-dev_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] && [ -f "$dev" ] || fail "no .debs in $DEB_DIR (make deb)"
if dpkg-query -W -f '${Status}' anthropic-proxy 2>/dev/null | grep -q 'installed\|config-files'; then
    skip "anthropic-proxy is already installed here: not touching it"
fi
[ ! -e /etc/anthropic-proxy ] || skip "/etc/anthropic-proxy exists: not touching it"
ETC=/etc/anthropic-proxy
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PKGLIB=/usr/lib/$multiarch/anthropic-proxy
user_before=$(getent passwd anthropic-proxy || true)

# Whatever happens, the machine is left as it was.
purge() { dpkg --purge anthropic-proxy-dev anthropic-proxy >"$T/purge.log" 2>&1; }
# (the package keeps its system user at purge, and an operator's
# certificate: this test removes both again; /etc/anthropic-proxy did not
# exist before it, so whatever is there is the test's)
trap 'st=$?; purge || true; rm -rf "$ETC"; [ -n "$user_before" ] || userdel anthropic-proxy 2>/dev/null || true; (exit $st); cleanup' EXIT

dpkg -i "$deb" "$dev" >"$T/install.log" 2>&1 || fail "dpkg -i: $(cat "$T/install.log")"
ok "dpkg -i $(basename "$deb") $(basename "$dev")"

for f in /usr/sbin/anthropic-proxy "$PKGLIB/stages/scrubber.so" "$PKGLIB/stages/metrics.so" \
         "$PKGLIB/stages/dashboard.so" "$PKGLIB/stages/retry.so" "$PKGLIB/detectors/anthropic_key.so" \
         "$PKGLIB/detectors/credential_assignment.so" "$PKGLIB/detectors/regex.so" \
         /lib/systemd/system/anthropic-proxy.service /usr/lib/sysusers.d/anthropic-proxy.conf \
         "$ETC/anthropic-proxy.env" "$ETC/pipeline.yaml" "$ETC/prices.yaml" "$ETC/developers.yaml" \
         /usr/share/man/man5/anthropic-proxy-prices.5.gz /usr/share/man/man5/anthropic-proxy-developers.5.gz \
         /usr/share/man/man8/anthropic-proxy.8.gz /usr/share/man/man5/anthropic-proxy.env.5.gz \
         /usr/share/man/man5/anthropic-proxy-pipeline.5.gz /usr/share/man/man7/anthropic-proxy-detectors.7.gz \
         /usr/share/doc/anthropic-proxy/README.Debian /usr/share/doc/anthropic-proxy/copyright \
         /usr/include/anthropic-proxy/plugin.h "/usr/lib/$multiarch/pkgconfig/anthropic-proxy-plugin.pc" \
         /usr/share/man/man3/anthropic-proxy-plugin.3.gz \
         /usr/share/doc/anthropic-proxy-dev/examples/detector-template/acme_token.c \
         /usr/share/doc/anthropic-proxy-dev/examples/detector-template/Makefile; do
    # (dh_compress leaves a short README.Debian as it is)
    [ -e "$f" ] || [ -e "$f.gz" ] || fail "not installed: $f"
done
[ "$(find "$PKGLIB" -name '*.so' | wc -l)" -ge 30 ] || fail "plugins: $(find "$PKGLIB" -name '*.so' | wc -l)"
! find "$PKGLIB" -name '*.la' | grep -q . || fail ".la files installed"
printf '%s\n' "$ETC/anthropic-proxy.env" "$ETC/developers.yaml" "$ETC/pipeline.yaml" "$ETC/prices.yaml" >"$T/want.conffiles"
dpkg-query --control-show anthropic-proxy conffiles | sort >"$T/conffiles"
diff "$T/want.conffiles" "$T/conffiles" || fail "conffiles: $(cat "$T/conffiles")"
grep -q "^#ANTHROPIC_PROXY_PLUGIN_DIR=$PKGLIB\$" "$ETC/anthropic-proxy.env" ||
    fail "the settings file does not show PLUGIN_DIR=$PKGLIB"
grep -q "^ExecStart=/usr/sbin/anthropic-proxy --foreground --config $ETC/anthropic-proxy.env\$" \
    /lib/systemd/system/anthropic-proxy.service || fail "the unit's ExecStart"
ok "files: daemon, $(find "$PKGLIB" -name '*.so' | wc -l) plugins (no .la), unit, sysusers entry, man pages; conffiles: $(tr '\n' ' ' <"$T/conffiles")"

getent passwd anthropic-proxy >"$T/user" || fail "no system user anthropic-proxy"
uid=$(cut -d: -f3 "$T/user")
[ "$uid" -lt 1000 ] || fail "anthropic-proxy is not a system user (uid $uid)"
[ -f "$ETC/server.crt" ] && [ -f "$ETC/server.key" ] || fail "no self-signed certificate"
[ "$(stat -c '%a %U %G' "$ETC/server.key")" = "640 root anthropic-proxy" ] ||
    fail "server.key: $(stat -c '%a %U %G' "$ETC/server.key")"
ok "system user anthropic-proxy (uid $uid); self-signed certificate, key 640 root:anthropic-proxy"

[ ! -e /etc/systemd/system/multi-user.target.wants/anthropic-proxy.service ] ||
    fail "the service was enabled at installation"
if [ -d /run/systemd/system ]; then
    ! systemctl is-active -q anthropic-proxy || fail "the service was started at installation"
fi
ok "the service is neither enabled nor started"

as_user() { runuser -u anthropic-proxy -- "$@"; }
as_user /usr/sbin/anthropic-proxy --check-config --config "$ETC/anthropic-proxy.env" >"$T/check.out" 2>&1 ||
    fail "--check-config on the installed files: $(cat "$T/check.out")"
ok "anthropic-proxy --check-config (as anthropic-proxy) on the installed files: $(tail -n 1 "$T/check.out")"

# the installed daemon serves from the installed files, on loopback
PORT=$(free_port) DASH_PORT=$(free_port)
ANTHROPIC_PROXY_HOST=127.0.0.1 ANTHROPIC_PROXY_PORT=$PORT ANTHROPIC_PROXY_DASHBOARD_PORT=$DASH_PORT \
    ANTHROPIC_PROXY_CONTROL_SOCKET='' \
    runuser -u anthropic-proxy -- /usr/sbin/anthropic-proxy --foreground \
    --config "$ETC/anthropic-proxy.env" >"$T/proxy.log" 2>&1 &
PROXY_PID=$!
started "$PROXY_PID"
wait_for 10 curl -sf --cacert "$ETC/server.crt" --resolve "localhost:$PORT:127.0.0.1" \
    "https://localhost:$PORT/health" || fail "the installed daemon did not serve /health"
kill -TERM "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
ok "the installed daemon served /health with the package's certificate and plugins"

# -dev: the template builds against the installed header alone
cp -r /usr/share/doc/anthropic-proxy-dev/examples/detector-template "$T/template"
make -s -C "$T/template" >"$T/template.log" 2>&1 || fail "the detector template: $(cat "$T/template.log")"
[ "$(pkg-config --variable=pkglibdir anthropic-proxy-plugin)" = "$PKGLIB" ] ||
    fail "pkg-config pkglibdir: $(pkg-config --variable=pkglibdir anthropic-proxy-plugin)"
ok "anthropic-proxy-dev: the detector template builds with pkg-config's flags; pkglibdir $PKGLIB"

# a reinstall keeps an edited settings file; a certificate configured
# elsewhere means none is made at the default path
rm -f "$ETC/server.crt" "$ETC/server.key"
printf 'ANTHROPIC_PROXY_TLS_CERT=/etc/ssl/certs/site.pem\nANTHROPIC_PROXY_TLS_KEY=/etc/ssl/private/site.key\n' \
    >>"$ETC/anthropic-proxy.env"
dpkg -i --force-confold "$deb" >"$T/reinstall.log" 2>&1 || fail "reinstall: $(cat "$T/reinstall.log")"
grep -q '^ANTHROPIC_PROXY_TLS_CERT=/etc/ssl/certs/site.pem$' "$ETC/anthropic-proxy.env" ||
    fail "the reinstall overwrote the edited settings file"
[ ! -e "$ETC/server.crt" ] || fail "a certificate was made although the settings file names one"
ok "reinstall: edited settings kept, no certificate made when TLS_CERT names another"

dpkg -L anthropic-proxy anthropic-proxy-dev | sort -u >"$T/owned"
purge || fail "dpkg --purge: $(cat "$T/purge.log")"
! dpkg-query -W -f '${Status}\n' anthropic-proxy anthropic-proxy-dev 2>/dev/null | grep -q 'installed\|config-files' ||
    fail "still known to dpkg: $(dpkg-query -W -f '${Package} ${Status}\n' anthropic-proxy anthropic-proxy-dev)"
left=""
while read -r f; do
    [ -e "$f" ] || continue
    [ -d "$f" ] && [ -n "$(ls -A "$f")" ] && continue # a shared directory (/usr/share/man/man8...)
    left="$left $f"
done <"$T/owned"
for f in "$ETC" /var/lib/anthropic-proxy "$PKGLIB" /usr/include/anthropic-proxy; do
    [ ! -e "$f" ] || left="$left $f"
done
[ -z "$left" ] || fail "left behind by dpkg --purge:$left"
getent passwd anthropic-proxy >/dev/null || fail "purge removed the system user (README.Debian says it stays)"
ok "dpkg --purge: nothing of its $(wc -l <"$T/owned") paths left, no $ETC, no /var/lib/anthropic-proxy (the system user stays, as README.Debian says)"

# purge removes the self-signed certificate postinst made...
dpkg -i "$deb" >"$T/install2.log" 2>&1 || fail "dpkg -i again: $(cat "$T/install2.log")"
[ -f "$ETC/server.crt" ] || fail "no self-signed certificate on the second installation"
purge || fail "dpkg --purge: $(cat "$T/purge.log")"
[ ! -e "$ETC" ] || fail "purge left $(find "$ETC" | tr '\n' ' ')"
ok "install and purge again: the self-signed certificate made and removed, no $ETC left"

# ...but not one the operator put in its place
dpkg -i "$deb" >"$T/install3.log" 2>&1 || fail "dpkg -i again: $(cat "$T/install3.log")"
"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=operator.example \
    -keyout "$ETC/server.key" -out "$ETC/server.crt" 2>/dev/null || fail "openssl req"
sha256sum "$ETC/server.crt" "$ETC/server.key" >"$T/operator.sha256"
purge || fail "dpkg --purge: $(cat "$T/purge.log")"
sha256sum --status -c "$T/operator.sha256" || fail "purge removed or changed the operator's certificate"
[ "$(ls -A "$ETC" | tr '\n' ' ')" = "server.crt server.key " ] || fail "purge left $(ls -A "$ETC")"
[ ! -e /var/lib/anthropic-proxy ] || fail "purge left /var/lib/anthropic-proxy"
ok "install, the operator's own certificate in place, purge: that certificate stays, nothing else"
