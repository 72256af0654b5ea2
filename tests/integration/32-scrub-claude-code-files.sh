#!/bin/sh
# The real Claude Code CLI reads a project's credential files with its Read
# tool (the mock's script asks for them) through the proxy with scrubbing on:
# a .env, an AWS credentials file, a kubeconfig and a docker-compose.yml.
# The upstream receives none of their secret values anywhere, and every
# other byte of each Read result is the file's: with Claude Code's
# line-number prefixes stripped and each placeholder taken as a wildcard
# that stands for exactly one of the secret values, each result is its file
# exactly; references such as ${DB_PASSWORD}, user names and image names
# stay. Claude Code finishes the scripted session and prints its last text.
. "$top_srcdir/tests/integration/lib.sh"
CLAUDE=$(cd "$top_srcdir" && pwd)/tests/node/node_modules/.bin/claude
[ -x "$CLAUDE" ] || skip "Claude Code CLI not installed (run: npm ci --prefix tests/node)"
KEY=$("$OPENSSL" rand -hex 32)
secret "$KEY"

# Made-up values in the real formats; each joins the list of secrets no log
# of the proxy, its /metrics or the upstream may hold.
DB_PW=Xq7vLp2mR9tW4zKd
PG_PW=Hb4nK8sW2qL6xZ9v
STRIPE=sk_live_51FakeStripeKeyForProxyTests0123
AWS_ID=AKIAQX7FAKEKEY2TESTS
AWS_SECRET=Fk3rT9xQ2mVb7Lp0Wz4Nc8Hs1Yd6Ga5Je/FAKE+1
SLACK=xoxb-2048163957213-4096327815460-FakeSlackBotTokenForTests
GITLAB=glpat-FakeGitLabTokenProxyTest0
NPM=npm_FakeNpmTokenProxyTests0123456789AbCd
MAIL=oncall.billing@example.com
CRED_ID=AKIAWZ3FAKEPROFILE27
CRED_SECRET=q2Lw8Vn4Rt6Yb0Xc3Mz9Hk5Jf7Ds1Pa/Ex+Mpl2K
STS_ID=ASIAFAKESESSIONKEY23
STS_SECRET=Tz5Qm8Wr2Xn6Lb9Vc4Hy7Jd0Fs3Kg1Pe+FaKe/Ab
STS_TOKEN=IQoJb3JpZ2luX2VjE$(printf 'fake STS session token for the anthropic-proxy integration tests; it opens no account. %.0s' 1 2 3 |
    "$OPENSSL" base64 -A | tr -d =)
KUBE_TOKEN=eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2Uta2lkLWZvci10ZXN0cyJ9.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmJpbGxpbmc6ZGVwbG95ZXIiLCJub3RlIjoiZmFrZSB0b2tlbiBmb3IgYW50aHJvcGljLXByb3h5IHRlc3RzIn0.bm90IGEgcmVhbCBzaWduYXR1cmUsIG9ubHkgYSBmYWtlIG9uZSBmb3IgdGVzdHMh
KUBE_KEY=$(printf '%s\n' '-----BEGIN EC PRIVATE KEY-----' \
    'MHcCAQEEIFakeEcPrivateKeyForAnthropicProxyTestsOnly0123456789ab' \
    'FakeSecondLineOfTheKey0123456789abcdefABCDEF==' '-----END EC PRIVATE KEY-----' | "$OPENSSL" base64 -A)
# public: certificates stay as they are
KUBE_CA=$(printf '%s\n' '-----BEGIN CERTIFICATE-----' \
    'MIIBfakeCAcertificateForAnthropicProxyTestsOnly0123456789abcdef' '-----END CERTIFICATE-----' |
    "$OPENSSL" base64 -A)
KUBE_CERT=$(printf '%s\n' '-----BEGIN CERTIFICATE-----' \
    'MIIBfakeClientCertificateForAnthropicProxyTests0123456789abcdef' '-----END CERTIFICATE-----' |
    "$OPENSSL" base64 -A)
DB_URL=postgres://billing:$DB_PW@db.internal.example:5432/billing
VALUES="$DB_PW $PG_PW $STRIPE $AWS_ID $AWS_SECRET $SLACK $GITLAB $NPM $MAIL $CRED_ID $CRED_SECRET
$STS_ID $STS_SECRET $STS_TOKEN $KUBE_TOKEN $KUBE_KEY"
# shellcheck disable=SC2086 # one word each
secret $VALUES
# shellcheck disable=SC2086
printf '%s\n' $VALUES >"$T/secrets.list"
# a placeholder may also stand for the whole connection string (today's
# db_connection_string replaces it whole; url_credentials only its password)
printf '%s\n' "$DB_URL" >"$T/spans.list"

proj=$T/proj
mkdir -p "$proj/.aws" "$proj/.kube"
cat >"$proj/.env" <<EOF
# billing-api: local settings (do not commit)
APP_NAME=billing-api
APP_ENV=production
PORT=8080
LOG_LEVEL=info

DB_HOST=db.internal.example
DB_USER=billing
DB_PASSWORD=$DB_PW
DATABASE_URL=$DB_URL
READ_REPLICA_URL=postgres://billing:\${DB_PASSWORD}@replica.internal.example:5432/billing
PGPASSWORD=\${DB_PASSWORD}

STRIPE_SECRET_KEY=$STRIPE
AWS_ACCESS_KEY_ID=$AWS_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET
AWS_REGION=eu-west-1
SLACK_BOT_TOKEN=$SLACK
SLACK_CHANNEL=#billing-alerts
GITLAB_TOKEN=$GITLAB
NPM_TOKEN=$NPM
ALERT_EMAIL=$MAIL
FEATURE_FLAGS=checkout,refunds
EOF
cat >"$proj/.aws/credentials" <<EOF
[default]
aws_access_key_id = $CRED_ID
aws_secret_access_key = $CRED_SECRET
region = eu-west-1

[deploy-ci]
aws_access_key_id = $STS_ID
aws_secret_access_key = $STS_SECRET
aws_session_token = $STS_TOKEN
region = us-east-1
EOF
cat >"$proj/.kube/config" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $KUBE_CA
    server: https://k8s.internal.example:6443
  name: prod
contexts:
- context:
    cluster: prod
    namespace: billing
    user: deployer
  name: prod-deployer
- context:
    cluster: prod
    user: admin
  name: prod-admin
current-context: prod-deployer
preferences: {}
users:
- name: deployer
  user:
    token: $KUBE_TOKEN
- name: admin
  user:
    client-certificate-data: $KUBE_CERT
    client-key-data: $KUBE_KEY
EOF
cat >"$proj/docker-compose.yml" <<EOF
services:
  db:
    image: postgres:16-alpine
    environment:
      POSTGRES_USER: billing
      POSTGRES_PASSWORD: $PG_PW
      POSTGRES_DB: billing
    volumes:
      - pgdata:/var/lib/postgresql/data
  api:
    image: registry.gitlab.example.com/billing/api:1.4.2
    env_file: .env
    environment:
      DATABASE_URL: postgres://billing:\${POSTGRES_PASSWORD}@db:5432/billing
    ports:
      - "8080:8080"
    depends_on: [db]
  cache:
    image: redis:7.2-alpine@sha256:3f6f1c2e8b7d9a0c4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d
    command: ["redis-server", "--requirepass", "\${REDIS_PASSWORD}"]
volumes:
  pgdata: {}
EOF
FILES="$proj/.env $proj/.aws/credentials $proj/.kube/config $proj/docker-compose.yml"

# The model reads two files, then one, then one, then answers.
FINAL="Checked the four configuration files: nothing to change."
read_block() { printf '{"type":"tool_use","name":"Read","input":{"file_path":"%s"}}' "$1"; }
cat >"$T/script.json" <<EOF
[ [{"type":"text","text":"Let me look at the configuration."},
   $(read_block "$proj/.env"), $(read_block "$proj/.aws/credentials")],
  [$(read_block "$proj/.kube/config")],
  {"content": [{"type":"text","text":"And the compose file."}, $(read_block "$proj/docker-compose.yml")],
   "chunk": 3},
  [{"type":"text","text":"$FINAL"}] ]
EOF

start_mock
start_proxy SCRUB_MODE=pseudonymize SCRUB_HMAC_KEY="$KEY"
mkdir -p "$T/home"
set +e
(cd "$proj" && HOME=$T/home ANTHROPIC_BASE_URL=$PURL ANTHROPIC_API_KEY=sk-ant-api03-test-not-a-real-key \
    DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
    NODE_EXTRA_CA_CERTS=$T/cert.pem ANTHROPIC_CUSTOM_HEADERS="x-mock-script: $T/script.json" \
    timeout 180 "$CLAUDE" -p "Check this project's configuration files." --allowedTools Read \
    </dev/null >"$T/claude.out" 2>"$T/claude.log")
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "claude exited $rc: $(cat "$T/claude.out")"
grep -qF "$FINAL" "$T/claude.out" || fail "claude did not print the script's last text: $(cat "$T/claude.out")"
curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log?bodies=1" >"$T/seen.json"
turns=$(json 'j.filter(r => r.script_turn !== undefined).map(r => r.script_turn).join(",")' <"$T/seen.json")
[ "$turns" = "0,1,2,3" ] || fail "the mock answered the script's turns $turns, not 0,1,2,3"
ok "claude -p read the 4 files in the script's turns $turns and printed: $(cat "$T/claude.out")"

# shellcheck disable=SC2086 # the file names have no spaces
result=$("$NODE" "$top_srcdir/tests/integration/scrub-check.mjs" tool-results "$T/seen.json" \
    "$T/secrets.list" "$T/spans.list" $FILES) || fail "${result#FAIL: }"
ok "no secret value reached the upstream; $result"
