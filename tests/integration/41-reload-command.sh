#!/bin/sh
# anthropic-proxy reload: asks the supervisor on its control socket, waits,
# prints the receipt (revision, plugins and versions; the reason on
# failure) and exits 0 only when the new configuration serves. The TLS
# certificate is re-read on every reload: a new one renamed into place is
# what the next handshake gets (openssl s_client), a broken one is refused
# and the old one keeps serving.
. "$top_srcdir/tests/integration/lib.sh"
need curl
start_mock
copy_pipeline
cp "$PIPELINE" "$T/pipeline.good"
# the HTTPS port's own certificate files, the same bits as the mock's at first
cp "$T/cert.pem" "$T/front.pem"
cp "$T/key.pem" "$T/front.key"
start_proxy "TLS_CERT=$T/front.pem" "TLS_KEY=$T/front.key"
reload() { "$PROXY_BIN" reload --config "$T/proxy.env" "$@"; }

reload >"$T/r1.out" 2>"$T/r1.err" || fail "reload: exit $?: $(cat "$T/r1.out" "$T/r1.err")"
grep -qx 'anthropic-proxy: reload done: configuration revision 2 serves' "$T/r1.out" ||
    fail "receipt: $(cat "$T/r1.out")"
want=$(metrics 'j.pipeline.plugins.map(p => p.name + " " + p.version).join(", ")')
got=$(sed -n 's/^plugins: //p' "$T/r1.out")
[ "$got" = "$want" ] || fail "receipt's plugins: '$got', /metrics says '$want'"
[ "$(metrics j.pipeline.revision)" = 2 ] || fail "revision after the reload: $(metrics j.pipeline.revision)"
say "$(cat "$T/r1.out" | cut -c1-150)"
ok "reload: exit 0, revision 2, every plugin with its version (as /metrics lists them)"

printf 'stages: [\n' >"$PIPELINE"
rc=0
reload >"$T/r2.out" 2>"$T/r2.err" || rc=$?
[ "$rc" -eq 1 ] || fail "a failed reload exited $rc: $(cat "$T/r2.out" "$T/r2.err")"
grep -q "^anthropic-proxy: reload failed: $PIPELINE" "$T/r2.err" || fail "no reason: $(cat "$T/r2.err")"
grep -qx 'still serving configuration revision 2' "$T/r2.err" || fail "$(cat "$T/r2.err")"
pcurl -f -o /dev/null "$PURL/health" || fail "not serving after the failed reload"
say "$(cat "$T/r2.err")"
ok "failed reload: exit 1, the reason, the revision still serving"
cp "$T/pipeline.good" "$PIPELINE"

# three at once: each waits for a reload that began after it asked
for i in 1 2 3; do (reload >"$T/c$i.out" 2>&1; echo $? >"$T/c$i.rc") & done
wait_for 30 sh -c "[ -s '$T/c1.rc' ] && [ -s '$T/c2.rc' ] && [ -s '$T/c3.rc' ]" || fail "concurrent reloads hung"
for i in 1 2 3; do
    [ "$(cat "$T/c$i.rc")" = 0 ] || fail "concurrent reload $i: $(cat "$T/c$i.out")"
done
rev=$(metrics j.pipeline.revision)
[ "$rev" -ge 3 ] && [ "$rev" -le 5 ] || fail "revision after three concurrent reloads: $rev"
ok "three concurrent reloads: each exit 0, revision now $rev"

served_fp() {
    echo | "$OPENSSL" s_client -connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null |
        "$OPENSSL" x509 -noout -fingerprint -sha256
}
fp_of() { "$OPENSSL" x509 -noout -fingerprint -sha256 -in "$1"; }
[ "$(served_fp)" = "$(fp_of "$T/cert.pem")" ] || fail "not serving the first certificate"
"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost-renewed \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$T/new.key" -out "$T/new.pem" 2>/dev/null
# as certbot and friends do: write beside, rename into place
cp "$T/new.key" "$T/front.key.tmp" && mv "$T/front.key.tmp" "$T/front.key"
cp "$T/new.pem" "$T/front.pem.tmp" && mv "$T/front.pem.tmp" "$T/front.pem"
reload >"$T/r3.out" 2>&1 || fail "reload after the new certificate: $(cat "$T/r3.out")"
[ "$(served_fp)" = "$(fp_of "$T/new.pem")" ] ||
    fail "still serving the old certificate: $(served_fp)"
curl -sS -f -o /dev/null --cacert "$T/new.pem" "$PURL/health" || fail "the new certificate does not verify"
ok "a certificate renamed into place is served after the reload ($(fp_of "$T/new.pem" | cut -c1-40)...)"

# a certificate that does not match its key is refused, the previous one kept
"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mismatch \
    -keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
cp "$T/other.pem" "$T/front.pem.tmp" && mv "$T/front.pem.tmp" "$T/front.pem"
rc=0
reload >"$T/r4.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "a mismatched certificate: exit $rc: $(cat "$T/r4.out")"
[ "$(served_fp)" = "$(fp_of "$T/new.pem")" ] || fail "the refused certificate is served"
say "$(head -n 1 "$T/r4.out")"
ok "a certificate not matching its key: exit 1 with the reason, the previous one still served"

rc=0
"$PROXY_BIN" reload --socket "$T/nobody.sock" >"$T/r5.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q 'cannot reach the supervisor' "$T/r5.out" ||
    fail "no supervisor: exit $rc: $(cat "$T/r5.out")"
ok "no supervisor there: exit 1, $(cut -c1-70 "$T/r5.out")..."
