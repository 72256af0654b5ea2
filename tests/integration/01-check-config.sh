#!/bin/sh
# --check-config accepts a good configuration and names every bad value,
# with exit status 2; the daemon refuses to start on the same errors.
. "$top_srcdir/tests/integration/lib.sh"

write_config
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1) || fail "good config refused: $out"
echo "$out" | grep -q "configuration OK" || fail "no OK line: $out"
ok "good configuration accepted"

write_config "PORT=http" "LOG_LEVEL=chatty"
set +e
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] || fail "exit status $rc, want 2: $out"
echo "$out" | grep -q "ANTHROPIC_PROXY_PORT=http is not valid: allowed: an integer from 1 to 65535" ||
    fail "PORT error not named: $out"
echo "$out" | grep -q "ANTHROPIC_PROXY_LOG_LEVEL=chatty is not valid: allowed: one of debug, info, warning, error" ||
    fail "LOG_LEVEL error not named: $out"
ok "each bad value named, exit 2"

write_config "TLS_CERT=$T/missing.pem"
set +e
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] && echo "$out" | grep -q "TLS_CERT=$T/missing.pem: cannot read it: No such file or directory" ||
    fail "missing certificate not reported ($rc): $out"
ok "missing certificate reported"

# the upstream's CA file: once, named, and refused before a start binds a port
write_config "UPSTREAM_CA_FILE=$T/missing-ca.pem"
set +e
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] && [ "$(echo "$out" | grep -c "UPSTREAM_CA_FILE=$T/missing-ca.pem: cannot read it: No such file or directory")" -eq 1 ] &&
    echo "$out" | grep -q "1 problem(s) found" || fail "missing CA file not reported once ($rc): $out"
set +e
out=$("$PROXY_BIN" --foreground --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] &&
    echo "$out" | grep -q "UPSTREAM_CA_FILE=$T/missing-ca.pem: cannot read it" ||
    fail "start with a missing CA file: want one line and exit 2 ($rc): $out"
ok "missing upstream CA file: one line, exit 2, before the ports are bound"

# every problem at once: the certificate and the pipeline file
write_config "TLS_CERT=$T/missing.pem" "PIPELINE=$T/missing.yaml"
set +e
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] && echo "$out" | grep -q "TLS_CERT=$T/missing.pem: cannot read it" &&
    echo "$out" | grep -q "$T/missing.yaml: cannot read" &&
    echo "$out" | grep -q "2 problem(s) found" || fail "not every problem reported: $out"
ok "a missing certificate and a missing pipeline file reported together"

# environment beats the file, and a bad environment value stops a start
write_config
set +e
out=$(ANTHROPIC_PROXY_UPSTREAM_READ_TIMEOUT=-3 "$PROXY_BIN" --foreground --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] || fail "start with a bad value exited $rc: $out"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "want one line: $out"
echo "$out" | grep -q "environment: ANTHROPIC_PROXY_UPSTREAM_READ_TIMEOUT=-3 is not valid" || fail "$out"
ok "bad environment value: one line, exit 2"

echo "NOT_A_LINE" >>"$T/proxy.env"
set +e
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
set -e
[ "$rc" -eq 2 ] && echo "$out" | grep -q "proxy.env:[0-9]*: expected KEY=VALUE" || fail "$out"
ok "malformed line reported with its line number"

"$PROXY_BIN" --help | grep -q "UPSTREAM_MAX_KEEPALIVE_CONNECTIONS" || fail "--help lacks settings"
"$PROXY_BIN" --version | grep -q "^anthropic-proxy [0-9]" || fail "--version"
ok "--help and --version"
