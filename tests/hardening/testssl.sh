#!/bin/sh
# testssl.sh (Debian package testssl.sh) against the main port: fails on any
# finding of severity HIGH or CRITICAL, and unless only TLS 1.2 and 1.3 are
# offered. Slow (a minute or more): not part of make check. Run from the
# build directory:
#   sh tests/hardening/testssl.sh        (OUT=FILE keeps the JSON findings)
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
. "$top_srcdir/tests/integration/lib.sh"
need testssl
need curl

# A certificate as a deployment would have one: issued by a CA (passed to
# testssl with --add-ca), 90 days, a CRL distribution point. lib.sh's
# self-signed two-day test certificate would only rate itself CRITICAL.
# cert.pem holds the chain (leaf, then CA): the proxy serves it and, as
# UPSTREAM_CA_FILE, trusts the mock's copy of it through the CA.
"$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=apx-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
"$OPENSSL" req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$T/key.pem" \
    -out "$T/leaf.csr" 2>/dev/null
printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
    'crlDistributionPoints=URI:http://127.0.0.1/apx-test-ca.crl' >"$T/leaf.ext"
"$OPENSSL" x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 90 -sha256 -extfile "$T/leaf.ext" -out "$T/leaf.pem" 2>/dev/null
cat "$T/leaf.pem" "$T/ca.pem" >"$T/cert.pem"
start_mock
start_proxy LOG_LEVEL=info LOG_REQUESTS=false

# --ip one: the test certificate is for localhost; no DNS, no outside lookups
testssl --quiet --color 0 --warnings batch --ip one --add-ca "$T/ca.pem" --jsonfile "$T/testssl.json" \
    --connect-timeout 10 --openssl-timeout 10 "127.0.0.1:$PORT" >"$T/testssl.log" 2>&1 ||
    say "testssl exit status $? (counts findings; judged below)"
[ -s "$T/testssl.json" ] || fail "testssl wrote no findings: $(tail -n 5 "$T/testssl.log")"
[ -z "${OUT:-}" ] || cp "$T/testssl.json" "$OUT"

summary=$(json 'const n={};for(const f of j)n[f.severity]=(n[f.severity]||0)+1;Object.keys(n).sort().map(k=>k+"="+n[k]).join(" ")' <"$T/testssl.json")
say "findings by severity: $summary"
bad=$(json 'j.filter(f=>f.severity==="HIGH"||f.severity==="CRITICAL").map(f=>f.id+" ("+f.severity+"): "+f.finding).join("\n")' <"$T/testssl.json")
[ -z "$bad" ] || fail "HIGH or CRITICAL findings:
$bad"
ok "no HIGH or CRITICAL finding"

for proto in SSLv2 SSLv3 TLS1 TLS1_1; do
    f=$(json "(j.find(f=>f.id===\"$proto\")||{}).finding" <"$T/testssl.json")
    case $f in "not offered"*) ;; *) fail "$proto: $f" ;; esac
done
for proto in TLS1_2 TLS1_3; do
    f=$(json "(j.find(f=>f.id===\"$proto\")||{}).finding" <"$T/testssl.json")
    case $f in "offered"*) ;; *) fail "$proto: $f" ;; esac
done
ok "only TLS 1.2 and TLS 1.3 offered"
for list in NULL aNULL EXPORT LOW 3DES_IDEA AVERAGE; do
    f=$(json "(j.find(f=>f.id===\"cipherlist_$list\")||{}).finding" <"$T/testssl.json")
    case $f in "not offered"*) ;; *) fail "cipher list $list: $f" ;; esac
done
# every cipher the server accepts has an ephemeral (EC)DH key exchange
nofs=$(json 'j.filter(f=>/^cipher_x/.test(f.id)&&!/^\S+\s+\S+\s+(ECDH|DH)\b/.test(f.finding)).map(f=>f.finding).join("; ")' <"$T/testssl.json")
[ -z "$nofs" ] || fail "ciphers without forward secrecy: $nofs"
ciphers=$(json 'j.filter(f=>/^cipher_x/.test(f.id)).map(f=>f.finding.split(/\s+/)[1]).join(" ")' <"$T/testssl.json")
ok "forward-secret AEAD ciphers only: $ciphers"
