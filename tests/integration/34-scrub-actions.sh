#!/bin/sh
# The scrubber's per-detector actions and SCRUB_UNSCANNABLE. With a pipeline
# where github_token has `action: block` and email `action: observe`:
# - a request holding a blocked detector's value gets our own 400
#   invalid_request_error naming the detector and the JSON path, never the
#   value, and nothing reaches the upstream (HTTP/1.1 and h2, stream or not);
# - an observed value reaches the upstream unchanged (pseudonymized ones
#   beside it are still replaced) and is counted;
# - scrub_hits_total{detector=,action=} counts each in /metrics (JSON, under
#   "scrub") and in the Prometheus text;
# - SCRUB_UNSCANNABLE=forward (the default) passes a body over
#   SCRUB_MAX_BODY_SIZE and one that is not JSON, counted in
#   scrub_passed_total; after a reload to SCRUB_UNSCANNABLE=block they get 413
#   request_too_large and 400 invalid_request_error, counted in
#   scrub_refused_total, and reach the upstream no more;
# - the real Claude Code CLI with a blocked value in its prompt stops at once
#   and prints our message.
# Messages are matched on detector name, path and error type, not wording.
. "$top_srcdir/tests/integration/lib.sh"
need curl
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY"
GHP=ghp_0123456789abcdefghijABCDEFGHIJ012345
AWS=AKIAIOSFODNN7EXAMPLE
MAIL=alice.dev@example.org
LIMIT=100000

copy_pipeline
# shellcheck disable=SC2016 # JavaScript
"$NODE" -e '
const fs = require("fs");
let s = fs.readFileSync(process.argv[1], "utf8");
const set = (name, action) => {
  const entry = new RegExp(`(  - plugin: ${name}\\n(?:    .*\\n)*)`);
  if (!entry.test(s)) { console.error(`no entry for ${name}`); process.exit(1); }
  s = s.replace(entry, `$1    action: ${action}\n`);
};
set("github_token", "block");
set("email", "observe");
fs.writeFileSync(process.argv[1], s);' "$PIPELINE" || fail "test bug: cannot edit the pipeline"
grep -A3 'plugin: github_token' "$PIPELINE" | grep -q 'action: block' || fail "test bug: no action: block"
start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY" SCRUB_MAX_BODY_SIZE=$LIMIT

# post NAME FILE [curl args]: POST FILE to /v1/messages with x-mock-key NAME;
# the answer in $T/NAME.out, the status printed.
post() {
    name=$1 file=$2; shift 2
    pcurl -o "$T/$name.out" -w '%{http_code}' -H 'content-type: application/json' \
        -H 'anthropic-version: 2023-06-01' -H "x-mock-key: $name" --data-binary "@$file" "$@" \
        "$PURL/v1/messages?beta=true" || fail "POST $name failed"
}
seen() { # NAME: how many requests with x-mock-key NAME reached the upstream
    mock_log | json "j.filter(r => r.key === '$1').length"
}
body_of() { # NAME: the body of the last request NAME the upstream received
    curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" |
        json "(j.filter(r => r.key === '$1').pop() || {body: ''}).body"
}
scrub() { pcurl "$PURL/metrics" | json "j.scrub && j.scrub['$1']"; }
# error_is FILE TYPE WORD...: FILE is Anthropic's error JSON of TYPE whose
# message holds every WORD
error_is() {
    f=$1 type=$2; shift 2
    words=$(printf '%s\n' "$@" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(s.trim().split("\n"))))')
    json "j.type === 'error' && j.error && j.error.type === '$type' && typeof j.error.message === 'string' &&
          $words.every(w => j.error.message.includes(w)) ? 'yes' : 'no: ' + JSON.stringify(j)" <"$f"
}
mk() { # NAME TEXT [STREAM]: a one-message request in $T/NAME.json
    printf '{"model":"claude-sonnet-4-5","max_tokens":64,"stream":%s,"messages":[{"role":"user","content":"%s"}]}' \
        "${3:-false}" "$2" >"$T/$1.json"
}

# 1. SCRUB_UNSCANNABLE=forward (the default): unscannable bodies pass, counted.
{ printf '{"model":"m","messages":[{"role":"user","content":"%s ' "$AWS"
  head -c $LIMIT /dev/zero | tr '\0' x; printf '"}]}'; } >"$T/big.json"
printf '{"model":"m","messages":[{"role":"user","content":"%s"}],}' "$AWS" >"$T/notjson.json"
[ "$(post fwd-big "$T/big.json")" = 200 ] || fail "forward: an oversized body was not passed: $(head -c 300 "$T/fwd-big.out")"
post fwd-notjson "$T/notjson.json" >/dev/null # the mock answers 400 to a body that is not JSON
[ "$(seen fwd-big)" = 1 ] || fail "forward: the upstream did not get the oversized body"
[ "$(seen fwd-notjson)" = 1 ] || fail "forward: the upstream did not get the non-JSON body"
body_of fwd-notjson | grep -qF "$AWS" || fail "forward: the non-JSON body was changed"
[ "$(scrub 'scrub_passed_total{reason="too_large"}')" = 1 ] || fail "forward: too_large not counted"
[ "$(scrub 'scrub_passed_total{reason="not_json"}')" = 1 ] || fail "forward: not_json not counted"
ok "SCRUB_UNSCANNABLE=forward: a $(wc -c <"$T/big.json")-byte body and a non-JSON one passed, counted in scrub_passed_total"

# 2. observe beside pseudonymize: the e-mail arrives as sent, the key replaced.
mk observe "key $AWS, mail $MAIL"
[ "$(post observe "$T/observe.json")" = 200 ] || fail "observe: status $(cat "$T/observe.out")"
got=$(body_of observe)
want=$(sed "s/$AWS/<AWS_ACCESS_KEY_1>/" "$T/observe.json")
[ "$got" = "$want" ] || fail "observe: the upstream got $got, not $want"
mk observe-only "write to $MAIL"
[ "$(post observe-only "$T/observe-only.json")" = 200 ] || fail "observe: status $(cat "$T/observe-only.out")"
[ "$(body_of observe-only)" = "$(cat "$T/observe-only.json")" ] || fail "observe: a body with only an observed value was changed"
ok "action: observe: $MAIL reached the upstream unchanged, $AWS beside it was replaced"

# 3. block: our 400, the detector and the path named, never the value, nothing upstream.
blocked=0
for proto in http1.1 http2; do
    for stream in false true; do
        name=block-$proto-$stream
        mk "$name" "please deploy with $GHP" "$stream"
        code=$(post "$name" "$T/$name.json" "--$proto")
        [ "$code" = 400 ] || fail "block ($proto, stream $stream): status $code: $(head -c 300 "$T/$name.out")"
        r=$(error_is "$T/$name.out" invalid_request_error github_token 'messages[0].content')
        [ "$r" = yes ] || fail "block ($proto, stream $stream): the answer is $r"
        grep -qF -e "$GHP" -e "${GHP#ghp_01234}" "$T/$name.out" && fail "block: the answer holds the value"
        [ "$(seen "$name")" = 0 ] || fail "block ($proto, stream $stream): the request reached the upstream"
        blocked=$((blocked + 1))
    done
done
ok "action: block: 400 invalid_request_error, $(json 'j.error.message' <"$T/block-http2-true.out" | cut -c1-120)"

# 4. counters by detector and action, JSON and Prometheus.
[ "$(scrub 'scrub_hits_total{detector="github_token",action="block"}')" = $blocked ] ||
    fail "scrub_hits_total github_token/block: $(scrub 'scrub_hits_total{detector="github_token",action="block"}')"
[ "$(scrub 'scrub_hits_total{detector="email",action="observe"}')" = 2 ] ||
    fail "scrub_hits_total email/observe: $(scrub 'scrub_hits_total{detector="email",action="observe"}')"
[ "$(scrub 'scrub_hits_total{detector="aws_access_key",action="pseudonymize"}')" = 1 ] ||
    fail "scrub_hits_total aws_access_key/pseudonymize: $(scrub 'scrub_hits_total{detector="aws_access_key",action="pseudonymize"}')"
pcurl "$PURL/metrics/prometheus" >"$T/prom.txt"
for line in "anthropic_proxy_scrub_hits_total{detector=\"github_token\",action=\"block\"} $blocked" \
            'anthropic_proxy_scrub_hits_total{detector="email",action="observe"} 2' \
            'anthropic_proxy_scrub_hits_total{detector="aws_access_key",action="pseudonymize"} 1'; do
    grep -qxF "$line" "$T/prom.txt" || fail "Prometheus: no line $line"
done
ok "scrub_hits_total by detector and action: block $blocked, observe 2, pseudonymize 1 (JSON and Prometheus)"

# 5. Claude Code with a blocked value in its prompt: it stops and shows our message.
CLAUDE=$(cd "$top_srcdir" && pwd)/tests/node/node_modules/.bin/claude
if [ -x "$CLAUDE" ]; then
    mkdir -p "$T/home"
    t0=$(date +%s%N)
    set +e
    HOME=$T/home ANTHROPIC_BASE_URL=$PURL ANTHROPIC_API_KEY=sk-ant-api03-test-not-a-real-key \
        DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
        NODE_EXTRA_CA_CERTS=$T/cert.pem ANTHROPIC_CUSTOM_HEADERS='x-mock-key: claude' \
        timeout 120 "$CLAUDE" -p "push the release with token $GHP" </dev/null >"$T/claude.out" 2>"$T/claude.log"
    rc=$?
    set -e
    secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then fail "claude exited $rc after ${secs}s: $(cat "$T/claude.out")"; fi
    grep -q github_token "$T/claude.out" "$T/claude.log" ||
        fail "claude did not print the proxy's message: $(cat "$T/claude.out" "$T/claude.log" | head -c 400)"
    [ "$secs" -le 30 ] || fail "claude took ${secs}s to give up on our 400"
    curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" >"$T/seen.json"
    n=$(json 'j.filter(r => r.body.includes("push the release")).length' <"$T/seen.json")
    [ "$n" = 0 ] || fail "$n of Claude Code's requests with the prompt reached the upstream"
    tried=$(grep -c 'POST /v1/messages?beta=true 400' "$T/proxy.log" || true)
    ok "claude -p exited $rc after ${secs}s ($tried requests refused, none reached the upstream): $(head -c 160 "$T/claude.out")"
else
    say "skipped: Claude Code CLI not installed (run: npm ci --prefix tests/node)"
fi

# 6. Reload to SCRUB_UNSCANNABLE=block: unscannable bodies refused, counted.
reloads=$(grep -c 'reload done' "$T/proxy.log" || true)
echo "ANTHROPIC_PROXY_SCRUB_UNSCANNABLE=block" >>"$T/proxy.env"
kill -HUP "$PROXY_PID"
reloaded() { [ "$(grep -c 'reload done' "$T/proxy.log")" -gt "$reloads" ]; }
wait_for 10 reloaded ||
    fail "the reload to SCRUB_UNSCANNABLE=block failed: $(grep -i 'error' "$T/proxy.log" | tail -n 2)"
code=$(post blk-big "$T/big.json")
[ "$code" = 413 ] || fail "block: an oversized body got $code, not 413: $(head -c 300 "$T/blk-big.out")"
r=$(error_is "$T/blk-big.out" request_too_large)
[ "$r" = yes ] || fail "block: the 413 is $r"
code=$(post blk-notjson "$T/notjson.json")
[ "$code" = 400 ] || fail "block: a non-JSON body got $code, not 400: $(head -c 300 "$T/blk-notjson.out")"
r=$(error_is "$T/blk-notjson.out" invalid_request_error)
[ "$r" = yes ] || fail "block: the 400 is $r"
[ "$(seen blk-big)" = 0 ] || fail "block: the oversized body reached the upstream"
[ "$(seen blk-notjson)" = 0 ] || fail "block: the non-JSON body reached the upstream"
[ "$(scrub 'scrub_refused_total{reason="too_large"}')" = 1 ] || fail "block: too_large not counted as refused"
[ "$(scrub 'scrub_refused_total{reason="not_json"}')" = 1 ] || fail "block: not_json not counted as refused"
[ "$(scrub 'scrub_passed_total{reason="too_large"}')" = 1 ] || fail "block: counted as passed too"
# a request without a body to scan still goes through
[ "$(pcurl -o /dev/null -w '%{http_code}' "$PURL/v1/models?limit=1000")" = 200 ] ||
    fail "block: GET /v1/models no longer passes"
mk clean "hello"
[ "$(post clean "$T/clean.json")" = 200 ] || fail "block: a scannable clean body was refused"
ok "SCRUB_UNSCANNABLE=block: 413 request_too_large and 400 invalid_request_error, counted in scrub_refused_total; GET and clean bodies pass"
