#!/bin/sh
# `anthropic-proxy scrub`: the configured pipeline's scrubber and detectors
# on stdin, scrubbed body on stdout, report on stderr; --key-file, --audit;
# a regex detector declared in the pipeline file works end to end, in the
# command and through the proxy; its samples are checked at load.
. "$top_srcdir/tests/integration/lib.sh"
need curl
"$OPENSSL" rand -hex 32 >"$T/key.hex"
copy_pipeline
cat >>"$PIPELINE" <<'EOF'
  - name: internal_token
    plugin: regex
    label: INTERNAL_TOKEN
    tier: secret
    priority: 165
    pattern: '\bitk_[A-Za-z0-9]{32}\b'
    anchors: ["itk_"]
    samples:
      match: ["itk_0123456789abcdefABCDEF0123456789"]
      no_match: ["itk_short", "the itk_ prefix"]
EOF
write_config
ITK=itk_Zz0123456789abcdefABCDEF01234567
secret "$(cat "$T/key.hex")" "$ITK" bob@example.com
printf '{"messages":[{"role":"user","content":"token %s and AKIAIOSFODNN7EXAMPLE\\nmail bob@example.com, again %s"}]}' \
    "$ITK" "$ITK" >"$T/in.json"

scrub() { "$PROXY_BIN" scrub --config "$T/proxy.env" "$@" <"$T/in.json" >"$T/out.json" 2>"$T/err.txt"; }
scrub --key-file "$T/key.hex" || { cat "$T/err.txt"; fail "scrub exited $?"; }
mail_ph=$(printf %s bob@example.com | "$OPENSSL" dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$T/key.hex")" |
          awk '{ print toupper(substr($NF, 1, 8)) }')
printf '{"messages":[{"role":"user","content":"token <INTERNAL_TOKEN_1> and <AWS_ACCESS_KEY_1>\\nmail <EMAIL_HMAC:%s>, again <INTERNAL_TOKEN_1>"}]}' \
    "$mail_ph" >"$T/want.json"
cmp "$T/out.json" "$T/want.json" || { cat "$T/out.json"; fail "scrub output differs"; }
grep -Eq 'internal_token +2' "$T/err.txt" && grep -Eq 'aws_access_key +1' "$T/err.txt" &&
    grep -Eq 'email +1' "$T/err.txt" || { cat "$T/err.txt"; fail "per-detector report is wrong"; }
grep -q 'at messages\[0\].content' "$T/err.txt" || fail "the report lacks the JSON path"
grep -qF "$ITK" "$T/err.txt" && fail "the report holds a value"
ok "scrub --key-file: regex detector, built-ins and the HMAC e-mail; report: $(grep -c . "$T/err.txt") lines"

scrub --key-file "$T/key.hex" --audit || fail "scrub --audit exited $?"
cmp -s "$T/out.json" "$T/in.json" || fail "--audit changed the body"
grep -Eq 'internal_token +2' "$T/err.txt" || fail "--audit did not report the findings"
ok "scrub --audit: body unchanged, the same findings reported"

# Only the scrubber stage starts: the metrics stage's price table and
# ledger need not exist (an operator trying a detector on a build tree).
cp "$T/proxy.env" "$T/proxy.env.keep"
printf 'ANTHROPIC_PROXY_PRICES=%s\nANTHROPIC_PROXY_LEDGER_PATH=%s\n' "$T/no/prices.yaml" \
    "$T/no/ledger.sqlite" >>"$T/proxy.env"
scrub --key-file "$T/key.hex" || { cat "$T/err.txt"; fail "scrub needs the price table: exit $?"; }
cmp -s "$T/out.json" "$T/want.json" || fail "scrub without a price table scrubbed differently"
[ -e "$T/no" ] && fail "scrub created $T/no"
mv "$T/proxy.env.keep" "$T/proxy.env"
ok "scrub without a price table or a ledger: the scrubber alone runs"

if scrub; then fail "scrub without a key succeeded"; else rc=$?; fi
[ "$rc" = 2 ] || fail "scrub without a key: exit $rc, want 2"
grep -q 'SCRUB_HMAC_KEY' "$T/err.txt" && grep -q -- '--key-file' "$T/err.txt" ||
    { cat "$T/err.txt"; fail "no clear message without a key"; }
ok "scrub without a key: exit 2, $(grep -m1 'SCRUB_HMAC_KEY' "$T/err.txt" | cut -c1-80)..."

# A password found by its NAME= is replaced where the body holds it without
# the name too (a restored `mysql -p...` sent back), before or after, with
# the same placeholder; a short one only as a whole token.
PW=Hunt3r2secretX
printf '{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"mysql -u root -p%s db"}}]},{"role":"user","content":"DB_PASSWORD=%s\\nAPI_TOKEN=ab12cd uses ab12cd, not xab12cd"}]}' \
    "$PW" "$PW" >"$T/echo-in.json"
"$PROXY_BIN" scrub --config "$T/proxy.env" --key-file "$T/key.hex" <"$T/echo-in.json" >"$T/echo-out.json" 2>"$T/err.txt" ||
    { cat "$T/err.txt"; fail "scrub exited $?"; }
printf '{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"mysql -u root -p<CREDENTIAL_1> db"}}]},{"role":"user","content":"DB_PASSWORD=<CREDENTIAL_1>\\nAPI_TOKEN=<CREDENTIAL_2> uses <CREDENTIAL_2>, not xab12cd"}]}' \
    >"$T/echo-want.json"
cmp "$T/echo-out.json" "$T/echo-want.json" || { cat "$T/echo-out.json"; fail "a context-found value was not replaced elsewhere"; }
grep -Eq 'credential_assignment +4' "$T/err.txt" || { cat "$T/err.txt"; fail "echoes not counted"; }
ok "a NAME= password is replaced in the tool call that holds it bare too; short ones as whole tokens"

# The same detector through the proxy.
start_mock
write_config SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$(cat "$T/key.hex")"
sed -i "s#^ANTHROPIC_PROXY_UPSTREAM_BASE_URL=.*#ANTHROPIC_PROXY_UPSTREAM_BASE_URL=$MOCK_URL#" "$T/proxy.env"
"$PROXY_BIN" --foreground --config "$T/proxy.env" >>"$T/proxy.log" 2>&1 &
PROXY_PID=$!
started "$PROXY_PID"
PURL=https://localhost:$PORT
wait_for 10 pcurl -f "$PURL/health" || fail "proxy did not become healthy"
pcurl -X POST --data-binary "@$T/in.json" "$PURL/__echo" >"$T/echo.json"
"$NODE" -e 'const fs = require("fs"); const j = JSON.parse(fs.readFileSync(process.argv[1]));
    fs.writeFileSync(process.argv[2], Buffer.from(j.body_b64, "base64"))' "$T/echo.json" "$T/got.json"
cmp "$T/got.json" "$T/want.json" || fail "through the proxy the regex detector's body differs"
ok "through the proxy: the upstream got the same scrubbed body as the command printed"

# A regex detector that fails its own samples is refused at load.
sed -i 's/match: \["itk_0123456789abcdefABCDEF0123456789"\]/match: ["itk_tooshort"]/' "$PIPELINE"
if out=$("$PROXY_BIN" scrub --config "$T/proxy.env" <"$T/in.json" 2>&1 >/dev/null); then
    fail "a detector failing its sample was loaded"
fi
echo "$out" | grep -q 'internal_token fails its own sample' || fail "no sample message: $out"
ok "a failing sample is refused: $(echo "$out" | grep -m1 'fails' | cut -c1-90)"
