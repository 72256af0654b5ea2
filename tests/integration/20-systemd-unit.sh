#!/bin/sh
# The installed systemd unit: systemd-analyze verify finds nothing wrong, and
# systemd-analyze security rates it 2.0 or lower ("OK"); the score is
# printed. The unit's duties are checked by name: foreground supervisor,
# --config (not EnvironmentFile), a reload that waits for its outcome
# (Type=notify-reload on systemd 253 and later, Type=notify with
# ExecReload=anthropic-proxy reload before), SIGTERM to the supervisor
# alone, restart on failure, the control socket's runtime directory.
. "$top_srcdir/tests/integration/lib.sh"
[ -n "${systemdsystemunitdir:-}" ] || skip "configured --with-systemdsystemunitdir=no: no unit installed"
need systemd-analyze
D=$T/root
unset MAKEFLAGS MFLAGS MAKELEVEL
make -s -C "$top_builddir" install DESTDIR="$D" >"$T/install.log" 2>&1 ||
    fail "make install failed: $(tail -n 20 "$T/install.log")"
unit=$D$systemdsystemunitdir/anthropic-proxy.service
[ -f "$unit" ] || fail "no $systemdsystemunitdir/anthropic-proxy.service"

sdver=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
if grep -qxF "Type=notify-reload" "$unit"; then
    ! grep -q '^ExecReload=' "$unit" || fail "Type=notify-reload with an ExecReload="
    [ -z "$sdver" ] || [ "$sdver" -ge 253 ] || fail "Type=notify-reload for systemd $sdver (253 needed)"
    reload="Type=notify-reload: systemd sends SIGHUP and waits for READY=1"
elif grep -qxF "Type=notify" "$unit"; then
    grep -qx "ExecReload=$sbindir/anthropic-proxy reload --socket /run/anthropic-proxy/control.sock" \
        "$unit" || fail "Type=notify without ExecReload=anthropic-proxy reload"
    reload="Type=notify, ExecReload=anthropic-proxy reload (systemd ${sdver:-?})"
else
    fail "unit is neither Type=notify-reload nor Type=notify: $(grep '^Type' "$unit")"
fi
for line in "User=anthropic-proxy" "KillMode=mixed" "Restart=on-failure" \
            "RuntimeDirectory=anthropic-proxy" \
            "Environment=ANTHROPIC_PROXY_CONTROL_SOCKET=/run/anthropic-proxy/control.sock" \
            "NoNewPrivileges=yes" "ProtectSystem=strict" \
            "ProtectHome=yes" "PrivateTmp=yes" "CapabilityBoundingSet=" \
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "SystemCallFilter=@system-service"; do
    grep -qxF "$line" "$unit" || fail "unit lacks '$line'"
done
grep -q '^ExecStart=.* --foreground --config ' "$unit" || fail "ExecStart is not --foreground --config"
! grep -q '^EnvironmentFile' "$unit" || fail "EnvironmentFile: a reload would not re-read it"
ok "unit: foreground, --config, $reload, KillMode=mixed, restart on failure, hardening"

# verify checks that ExecStart (and ExecReload) exist: point them at the staged binary
mkdir "$T/units"
sed "s|^\(Exec[A-Za-z]*\)=$sbindir/|\1=$D$sbindir/|" "$unit" >"$T/units/anthropic-proxy.service"
systemd-analyze verify --man=no "$T/units/anthropic-proxy.service" >"$T/verify.log" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$T/verify.log")"
[ ! -s "$T/verify.log" ] || fail "systemd-analyze verify complains: $(cat "$T/verify.log")"
ok "systemd-analyze verify: clean"

systemd-analyze security --offline=yes --no-pager "$T/units/anthropic-proxy.service" \
    >"$T/security.log" 2>&1 || fail "systemd-analyze security: $(tail -n 5 "$T/security.log")"
line=$(grep 'Overall exposure level' "$T/security.log") || fail "no score: $(cat "$T/security.log")"
score=$(echo "$line" | sed 's/.*: \([0-9][0-9]*\.[0-9]\).*/\1/')
say "systemd-analyze security: $(echo "$line" | sed 's/.*: //')"
grep '✗' "$T/security.log" || true
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0"
ok "systemd-analyze security: $score (2.0 or lower)"
