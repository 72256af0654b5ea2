#!/bin/sh
# The scrubber through the proxy: what the upstream receives has no secret
# left and is otherwise byte for byte what the client sent; a body without
# secrets arrives identical; audit mode forwards unchanged and counts the
# same; the size limit, non-POST and non-JSON bodies pass through; the
# request log has a summary and never a value; a bad key is refused at
# reload while the old configuration keeps scrubbing.
. "$top_srcdir/tests/integration/lib.sh"
need curl
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY"
start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY" SCRUB_MAX_BODY_SIZE=4000000

# The test's secrets, each in a shape SPEC section 6 names.
ANT=sk-ant-api03-$(printf 'Ab1_%.0s' $(seq 1 24))xyzw
AWS=AKIAIOSFODNN7EXAMPLE
GHP=ghp_0123456789abcdefghijABCDEFGHIJ012345
MAIL=alice.dev@example.org
DB=postgres://admin:hunter2pw@db.internal.example:5432/app
PEM_BODY=MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
hmac() { printf %s "$1" | "$OPENSSL" dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" |
         awk '{ print toupper(substr($NF, 1, 8)) }'; }
MAIL_PH="<EMAIL_HMAC:$(hmac "$MAIL")>"

# A Claude Code-shaped request; \n escapes inside strings, a PEM block, a
# tool definition and an image that must be left alone.
cat >"$T/req.json" <<EOF
{"model":"claude-sonnet-4-5","max_tokens":1024,
 "system":[{"type":"text","text":"You are Claude Code.\\nUser: $MAIL"}],
 "tools":[{"name":"Read","description":"Reads $MAIL's files","input_schema":{"type":"object"}}],
 "messages":[{"role":"user","content":[
   {"type":"text","text":"my .env:\\nANTHROPIC_API_KEY=$ANT\\nAWS_ACCESS_KEY_ID=$AWS\\nDATABASE_URL=$DB"},
   {"type":"image","source":{"type":"base64","media_type":"image/png","data":"$AWS"}},
   {"type":"text","text":"-----BEGIN RSA PRIVATE KEY-----\\n$PEM_BODY\\n-----END RSA PRIVATE KEY-----\\nthen $GHP and $AWS again, mail $MAIL"}]}],
 "stream":false}
EOF
# What the upstream must receive: the same bytes with the values replaced.
sed -e "s#$ANT#<ANTHROPIC_KEY_1>#" \
    -e "s#$AWS\\\\nDATABASE#<AWS_ACCESS_KEY_1>\\\\nDATABASE#" \
    -e "s#$DB#<DB_CONNECTION_STRING_1>#" \
    -e "s#-----BEGIN RSA PRIVATE KEY-----\\\\n$PEM_BODY\\\\n-----END RSA PRIVATE KEY-----#<PRIVATE_KEY_1>#" \
    -e "s#then $GHP and $AWS again, mail $MAIL#then <GITHUB_TOKEN_1> and <AWS_ACCESS_KEY_1> again, mail $MAIL_PH#" \
    -e "s#User: $MAIL#User: $MAIL_PH#" \
    "$T/req.json" >"$T/want.json"
cmp -s "$T/req.json" "$T/want.json" && fail "test bug: the expected body equals the input"

# echo FILE [curl args]: POST it to the mock's echo route; the upstream's view
echo_post() {
    f=$1; shift
    pcurl -X POST -H 'content-type: application/json' --data-binary "@$f" "$@" \
        "$PURL/__echo" >"$T/echo.json" || fail "POST through the proxy failed"
    "$NODE" -e 'const fs = require("fs"); const j = JSON.parse(fs.readFileSync(process.argv[1]));
        fs.writeFileSync(process.argv[2], Buffer.from(j.body_b64, "base64"))' \
        "$T/echo.json" "$T/got.json" || fail "the mock's echo is not JSON"
}

echo_post "$T/req.json"
cmp "$T/got.json" "$T/want.json" || {
    diff "$T/got.json" "$T/want.json" | head -20; fail "the upstream did not get the expected body"; }
for s in "$ANT" "$AWS\\\\nDATA" "$GHP" "hunter2pw" "$PEM_BODY"; do
    grep -q -- "$s" "$T/got.json" && fail "a secret reached the upstream: ${s%"${s#??????}"}..."
done
grep -q "\"data\":\"$AWS\"" "$T/got.json" || fail "the base64 payload was changed"
grep -q "\"description\":\"Reads $MAIL's files\"" "$T/got.json" || fail "a tool description was changed"
cl=$(json 'j.headers.find(h => h[0] === "content-length")[1]' <"$T/echo.json")
[ "$cl" = "$(wc -c <"$T/want.json")" ] || fail "content-length $cl is not the new body's length"
ok "pseudonymize: upstream got every secret replaced, every other byte kept, content-length $cl"
json 'JSON.parse(Buffer.from(j.body_b64, "base64").toString()) && "ok"' <"$T/echo.json" >/dev/null ||
    fail "the scrubbed body is not JSON"

# A large body is scrubbed on a worker thread (over worker_min_bytes, 64 KiB):
# 3000 copies of the request (without its tool definitions, which are only
# left alone at the top level) in one array, 2 MB, each copy scrubbed alike
# (the same values get the same placeholders across the whole body).
sed '/"tools":/d' "$T/req.json" >"$T/req1.json"
sed '/"tools":/d' "$T/want.json" >"$T/want1.json"
{ printf '['; for i in $(seq 2999); do cat "$T/req1.json"; printf ','; done; cat "$T/req1.json"; printf ']'; } >"$T/big.json"
{ printf '['; for i in $(seq 2999); do cat "$T/want1.json"; printf ','; done; cat "$T/want1.json"; printf ']'; } >"$T/bigwant.json"
echo_post "$T/big.json"
cmp -s "$T/got.json" "$T/bigwant.json" || fail "the 2 MB body scrubbed on a worker differs from the expected"
ok "a $(wc -c <"$T/big.json")-byte body, scrubbed on a worker thread, arrives as expected"

# The same HMAC placeholder as an independent computation (openssl dgst).
grep -q "$MAIL_PH" "$T/got.json" || fail "e-mail placeholder is not $MAIL_PH"
ok "identifier placeholder $MAIL_PH matches openssl dgst -sha256 -mac HMAC"

# The request log: one summary line with detectors and JSON paths, no value.
wait_for 5 grep -q 'scrubber: replaced 8 values' "$T/proxy.log" || fail "no summary line in the log"
line=$(grep 'scrubber: replaced 8 values' "$T/proxy.log" | tail -n 1)
for want in "anthropic_key 1 at messages[0].content[0].text" "aws_access_key 2 at" \
            "private_key 1 at messages[0].content[2].text" "email 2 at system[0].text"; do
    case $line in *"$want"*) ;; *) fail "summary lacks '$want': $line" ;; esac
done
for s in "$ANT" "$AWS" "$GHP" "$MAIL" "hunter2pw" "$PEM_BODY"; do
    grep -qF -- "$s" "$T/proxy.log" && fail "the proxy log holds a secret value"
done
ok "request log: $(echo "$line" | sed 's/.*scrubber: //' | cut -c1-90)..."

# A body with nothing to scrub arrives byte-identical (escapes, spacing, numbers).
printf '{ "model" : "m", "messages":[{"role":"user","content":"commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 \\u00e9\\/ok"}],"temperature":0.70 ,"x":1E+2}' >"$T/clean.json"
echo_post "$T/clean.json"
cmp "$T/got.json" "$T/clean.json" || fail "a clean body was changed"
ok "a body with no finding arrives byte-identical"

# Size limit: exactly SCRUB_MAX_BODY_SIZE is scrubbed, one byte more passes.
pad_to() { # SIZE: a JSON body of exactly SIZE bytes holding $AWS
    { printf '{"t":"%s","p":"' "$AWS"
      head -c $(( $1 - ${#AWS} - 15 )) /dev/zero | tr '\0' x
      printf '"}'; } >"$T/sized.json"
    [ "$(wc -c <"$T/sized.json")" = "$1" ] || fail "test bug: padding"
}
pad_to 4000000
echo_post "$T/sized.json"
grep -q '<AWS_ACCESS_KEY_1>' "$T/got.json" || fail "a body of exactly SCRUB_MAX_BODY_SIZE was not scrubbed"
pad_to 4000001
echo_post "$T/sized.json"
cmp -s "$T/got.json" "$T/sized.json" || fail "a body one byte over SCRUB_MAX_BODY_SIZE was changed"
ok "SCRUB_MAX_BODY_SIZE=4000000: 4000000 bytes scrubbed, 4000001 passed through"

# Not POST, not JSON: passed through unchanged.
printf '{"t":"%s"}' "$AWS" >"$T/put.json"
pcurl -X PUT --data-binary "@$T/put.json" "$PURL/__echo" >"$T/echo.json"
json 'Buffer.from(j.body_b64, "base64").toString()' <"$T/echo.json" | grep -q "$AWS" ||
    fail "a PUT body was changed"
printf '{"t":"%s",}' "$AWS" >"$T/bad.json"
echo_post "$T/bad.json"
cmp -s "$T/got.json" "$T/bad.json" || fail "a non-JSON body was changed"
ok "PUT and non-JSON bodies pass through unchanged"

# Counters for the metrics stage (looked up by name wherever /metrics puts them).
counter() {
    pcurl "$PURL/metrics" | json "(function f(o){ if (o && typeof o === 'object') for (const k in o) { if (k === '$1') return o[k]; const v = f(o[k]); if (v !== undefined) return v; } })(j)"
}
[ "$(counter 'scrub_hits_total{detector="aws_access_key",action="pseudonymize"}')" = 6003 ] ||
    fail "scrub_hits_total for aws_access_key: $(counter 'scrub_hits_total{detector="aws_access_key",action="pseudonymize"}')"
[ "$(counter 'scrub_passed_total{reason="too_large"}')" = 1 ] || fail "too_large not counted"
[ "$(counter 'scrub_passed_total{reason="not_json"}')" = 1 ] || fail "not_json not counted"
[ "$(counter 'scrub_passed_total{reason="not_post"}')" -ge 1 ] || fail "not_post not counted"
[ "$(counter 'scrub_requests_scrubbed_total')" = 3 ] || fail "scrubbed requests miscounted"
ok "counters: hits per detector, passes by reason, scrubbed requests"

# A reload with a bad key is refused; the running configuration keeps scrubbing.
sed -i "s/^ANTHROPIC_PROXY_SCRUB_HMAC_KEY=.*/ANTHROPIC_PROXY_SCRUB_HMAC_KEY=abc/" "$T/proxy.env"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'SCRUB_HMAC_KEY' "$T/proxy.log" || fail "bad key at reload: no message"
grep 'SCRUB_HMAC_KEY' "$T/proxy.log" | tail -n 1 | grep -q '64 hex' || fail "bad key message does not say what is allowed"
echo_post "$T/req.json"
cmp -s "$T/got.json" "$T/want.json" || fail "after a refused reload the proxy stopped scrubbing"
ok "a bad SCRUB_HMAC_KEY at reload is refused: $(grep 'SCRUB_HMAC_KEY' "$T/proxy.log" | tail -n 1 | cut -c1-100)"

# Audit: forwarded unchanged, counted the same.
sed -i -e "s/^ANTHROPIC_PROXY_SCRUB_HMAC_KEY=.*/ANTHROPIC_PROXY_SCRUB_HMAC_KEY=$KEY/" \
    -e "s/^ANTHROPIC_PROXY_SCRUB_MODE=.*/ANTHROPIC_PROXY_SCRUB_MODE=audit/" "$T/proxy.env"
before=$(counter 'scrub_values_replaced_total')
kill -HUP "$PROXY_PID"
wait_for 10 grep -q 'reload done' "$T/proxy.log" || fail "the reload to audit mode failed"
echo_post "$T/req.json"
cmp "$T/got.json" "$T/req.json" || fail "audit mode changed the body"
after=$(counter 'scrub_values_replaced_total')
[ $((after - before)) = 8 ] || fail "audit counted $((after - before)) values, pseudonymize 8"
grep -q 'scrubber: audit: would replace 8 values' "$T/proxy.log" || fail "no audit summary line"
ok "audit: body forwarded unchanged, the same 8 values counted and summarised"
