#!/bin/sh
# With scrubbing on, the model only ever sees placeholders; the proxy puts
# the real values back into its tool calls' input, and only there. The real
# Claude Code CLI reads deploy.env through the proxy, the mock's script then
# answers with a text block naming a placeholder, a Write whose content is
# the file as the model saw it (placeholders, in small input_json_delta
# pieces) and an Edit whose old_string holds a placeholder: the file Claude
# Code writes equals the original byte for byte, the Edit matches and keeps
# the real key, the text keeps its placeholder, and the upstream never
# receives a secret value, not even the DB_PASSWORD value found by its name
# and written back alone (the next request carries it bare in the Write's
# input). The same through the SDK with a JSON answer.
. "$top_srcdir/tests/integration/lib.sh"
CLAUDE=$(cd "$top_srcdir" && pwd)/tests/node/node_modules/.bin/claude
[ -x "$CLAUDE" ] || skip "Claude Code CLI not installed (run: npm ci --prefix tests/node)"
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY"

AWS_ID=AKIAQX7FAKEKEY2TESTS
AWS_SECRET=Fk3rT9xQ2mVb7Lp0Wz4Nc8Hs1Yd6Ga5Je/FAKE+1
STRIPE=sk_live_51FakeStripeKeyForProxyTests0123
MAIL=oncall.billing@example.com
GITHUB=ghp_FakeGitHubTokenForProxyTests0123456789
DB_PW=Qz7pw4BillingDbFake
secret "$AWS_ID" "$AWS_SECRET" "$STRIPE" "$MAIL" "$GITHUB" "$DB_PW"

proj=$T/proj
mkdir -p "$proj"
{
    echo '# deploy settings for billing-api (do not commit)'
    echo "AWS_ACCESS_KEY_ID=$AWS_ID"
    echo "AWS_SECRET_ACCESS_KEY=$AWS_SECRET"
    echo "STRIPE_SECRET_KEY=$STRIPE"
    echo "ONCALL_EMAIL=$MAIL"
    echo "GITHUB_TOKEN=$GITHUB"
    echo "DB_PASSWORD=$DB_PW"
    printf 'NOTE="quotes \\" and backslashes \\\\ and a tab\tstay as they are"\n'
} >"$proj/deploy.env"
cp "$proj/deploy.env" "$T/deploy.env.orig"

FINAL="Copied deploy.env and added the region."
cat >"$T/script.json" <<JSON
[ [{"type":"text","text":"Reading deploy.env."},
   {"type":"tool_use","name":"Read","input":{"file_path":"$proj/deploy.env"}}],
  {"content": [{"type":"text","text":"The key <AWS_ACCESS_KEY_1> stays; copying the file."},
               {"type":"tool_use","name":"Write",
                "input":{"file_path":"$proj/deploy.copy.env","content":"\$LAST_READ"}},
               {"type":"tool_use","name":"Edit",
                "input":{"file_path":"$proj/deploy.env",
                         "old_string":"AWS_ACCESS_KEY_ID=<AWS_ACCESS_KEY_1>\\n",
                         "new_string":"AWS_ACCESS_KEY_ID=<AWS_ACCESS_KEY_1>\\nAWS_REGION=eu-west-1\\n"}},
               {"type":"tool_use","name":"Write",
                "input":{"file_path":"$proj/db.password","content":"<CREDENTIAL_1>"}}],
   "chunk": 3},
  [{"type":"text","text":"$FINAL"}] ]
JSON

start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY"
mkdir -p "$T/home"
set +e
(cd "$proj" && HOME=$T/home ANTHROPIC_BASE_URL=$PURL ANTHROPIC_API_KEY=sk-ant-api03-test-not-a-real-key \
    DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
    NODE_EXTRA_CA_CERTS=$T/cert.pem ANTHROPIC_CUSTOM_HEADERS="x-mock-script: $T/script.json" \
    timeout 180 "$CLAUDE" -p "Copy deploy.env and add the region." --allowedTools Read,Write,Edit \
    --output-format stream-json --verbose </dev/null >"$T/claude.jsonl" 2>"$T/claude.log")
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "claude exited $rc: $(tail -c 2000 "$T/claude.jsonl")"
grep -qF "$FINAL" "$T/claude.jsonl" || fail "claude did not finish the script: $(tail -c 2000 "$T/claude.jsonl")"

cmp "$T/deploy.env.orig" "$proj/deploy.copy.env" ||
    fail "the file Claude Code wrote differs from the original: $(diff "$T/deploy.env.orig" "$proj/deploy.copy.env" | head -5 | sed 's/=.*/=.../')"
ok "Write: the file Claude Code wrote from the model's placeholders is the original, byte for byte"
awk -v id="$AWS_ID" '{ print } $0 == "AWS_ACCESS_KEY_ID=" id { print "AWS_REGION=eu-west-1" }' \
    "$T/deploy.env.orig" >"$T/deploy.env.want"
cmp "$T/deploy.env.want" "$proj/deploy.env" ||
    fail "the Edit did not apply as the model meant it: $(diff "$T/deploy.env.want" "$proj/deploy.env" | head -5 | sed 's/=.*/=.../')"
ok "Edit: old_string with a placeholder matched, and the real key stayed in the file"
# DB_PASSWORD's value is found by its name only; restored into a file of its
# own, it goes back upstream in the Write's input with no name around it
[ "$(cat "$proj/db.password" 2>/dev/null)" = "$DB_PW" ] ||
    fail "the password Claude Code wrote is not the original"
ok "Write of a NAME=-found password alone: the file holds the original"

# what Claude Code received: the text block with its placeholder
texts=$("$NODE" -e '
const l = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
console.log(l.filter(e => e.type === "assistant").flatMap(e => e.message.content)
  .filter(b => b.type === "text").map(b => b.text).join("|"));' <"$T/claude.jsonl")
echo "$texts" | grep -qF 'The key <AWS_ACCESS_KEY_1> stays' || fail "the text block lost its placeholder: $texts"
if echo "$texts" | grep -qF "$AWS_ID"; then fail "a text block got a real value"; fi
ok "the text block came to Claude Code with its placeholder: $(echo "$texts" | cut -c1-80)"

# the upstream never saw a value, and the text went back to it unchanged
curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" >"$T/seen.json"
for v in "$AWS_ID" "$AWS_SECRET" "$STRIPE" "$MAIL" "$GITHUB" "$DB_PW"; do
    if grep -qF "$v" "$T/seen.json"; then fail "the upstream received a secret value"; fi
done
grep -qF 'The key <AWS_ACCESS_KEY_1> stays' "$T/seen.json" ||
    fail "the next request did not carry the text block back"
ok "the upstream received no secret value; the text block came back to it as it was"
restored=$(metrics 'j.counters.scrub_restored_total')
[ "${restored:-0}" -ge 7 ] ||
    fail "scrub_restored_total is $restored, want at least 7 (5 values in the Write, 2 in the Edit)"
grep -q 'restore: [0-9]* values put back in tool input (' "$T/proxy.log" ||
    fail "no restore log line: $(grep restore "$T/proxy.log" | tail -3)"
if grep 'restore:' "$T/proxy.log" | grep -qF "$AWS_ID"; then fail "the restore log line holds a value"; fi
ok "counted ($restored restored) and logged per detector: $(grep -o 'restore: .*' "$T/proxy.log" | head -n 1)"

# The same conversation through the SDK, non-streaming: the JSON answer's
# tool inputs restored, its text block not.
export NODE_EXTRA_CA_CERTS=$T/cert.pem
cp "$T/deploy.env.orig" "$proj/deploy.env"
out=$("$NODE" "$top_srcdir/tests/integration/restore-sdk.mjs" "$PURL" "$T/script.json" "$proj/deploy.env") ||
    fail "SDK: $out"
printf '%s' "$out" >"$T/sdk.json"
why=$("$NODE" -e '
const fs = require("fs");
const c = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const orig = fs.readFileSync(process.argv[2], "utf8"), id = process.argv[3];
const w = c.find(b => b.type === "tool_use" && b.name === "Write");
const e = c.find(b => b.type === "tool_use" && b.name === "Edit");
const t = c.find(b => b.type === "text");
if (!w || w.input.content !== orig) console.log("the Write content is not the original");
else if (!e || e.input.old_string !== `AWS_ACCESS_KEY_ID=${id}\n`) console.log("the Edit old_string is not restored");
else if (!t || !t.text.includes("<AWS_ACCESS_KEY_1>")) console.log("the text block changed");
' "$T/sdk.json" "$T/deploy.env.orig" "$AWS_ID")
[ -z "$why" ] || fail "SDK, JSON answer: $why"
ok "SDK, JSON answer: the Write content and the Edit old_string restored, the text block left"
