# lib.sh: shared by the integration tests (sourced, never run).
#
# Each test gets a fresh temporary directory, free loopback ports, a mock
# upstream speaking h2 over TLS, and the real anthropic-proxy binary. A trap
# stops every process the test started, by PID, and on failure prints every
# log kept. Exit 77 means "skipped" to automake.
set -eu

: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
NODE=${NODE:-node}
OPENSSL=${OPENSSL:-openssl}
PROXY_BIN=$top_builddir/anthropic-proxy
MOCK_JS=$top_srcdir/tests/mock/mock-upstream.js
T=$(mktemp -d "${TMPDIR:-/tmp}/apx-test.XXXXXX")
STARTED_PIDS=""

# Values the tests send as API keys, tokens and secrets. None may appear in
# anything the proxy writes: its logs (at debug, with LOG_REQUESTS), its
# /metrics and its ledger (the SQLite file and its WAL, read as bytes),
# checked for every test at its end.
TEST_SECRETS='sk-ant-api03-testkey
test-token
sk-ant-api03-test-not-a-real-key
AKIAIOSFODNN7EXAMPLE
ghp_0123456789abcdefghijABCDEFGHIJ012345
hunter2pw
MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun
alice.dev@example.org
Ab1_Ab1_Ab1_Ab1_'

# secret VALUE...: a test's own secret (a random key, a token) joins the list.
secret() { for v in "$@"; do TEST_SECRETS="$TEST_SECRETS
$v"; done; }

cleanup() {
    status=$?
    # the proxy's last word on /metrics (JSON and Prometheus) joins its logs
    # for the secrets check
    if [ -n "${PURL:-}" ] && [ -n "${PROXY_PID:-}" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
        curl -sS --max-time 3 --cacert "$T/cert.pem" "$PURL/metrics" >"$T/proxy-metrics.log" 2>/dev/null || true
        curl -sS --max-time 3 --cacert "$T/cert.pem" "$PURL/metrics/prometheus" \
            >"$T/proxy-prometheus.log" 2>/dev/null || true
    fi
    for pid in $STARTED_PIDS; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $STARTED_PIDS; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    # a sanitizer report in any log fails the test, whatever it asserted
    if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T"/*.log \
            >/dev/null 2>&1; then
        echo "FAIL: sanitizer report in $(grep -l 'Sanitizer\|runtime error:' "$T"/*.log | tr '\n' ' ')"
        grep -h -A30 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T"/*.log | head -80
        status=1
    fi
    printf '%s\n' "$TEST_SECRETS" >"$T/secrets.txt"
    for f in "$T"/proxy*.log "$T"/start.log "${LEDGER:-$T/ledger.sqlite}"*; do
        [ -f "$f" ] || continue
        if leaked=$(grep -a -o -F -f "$T/secrets.txt" "$f" | head -n 1) && [ -n "$leaked" ]; then
            echo "FAIL: a test secret (${leaked%"${leaked#????????}"}...) is in ${f##*/}"
            status=1
        fi
    done
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "===== $f (last 60 lines)"
            tail -n 60 "$f"
        done
    fi
    eval "${AT_EXIT:-:}" || true
    rm -rf "$T"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say()  { printf '%s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
ok()   { printf 'ok: %s\n' "$*"; }

# Remember a process to stop at exit.
started() { STARTED_PIDS="$STARTED_PIDS $1"; }

# at_exit COMMAND: run it at exit, once the test's processes are stopped and
# its files checked (e.g. unmount a file system made under $T).
AT_EXIT=""
at_exit() { AT_EXIT="$AT_EXIT
$1"; }

need() {
    command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"
}

free_port() {
    "$NODE" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_for SECONDS COMMAND...: retry until the command succeeds.
wait_for() {
    limit=$1; shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le $((limit * 10)) ] || return 1
        sleep 0.1
    done
}

# A self-signed certificate for localhost and 127.0.0.1, used by both the
# proxy and the mock; the proxy trusts it for the upstream.
make_cert() {
    [ -f "$T/cert.pem" ] && return 0
    "$OPENSSL" req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
}

# start_mock [mock options...]: sets MOCK_PORT, MOCK_URL, MOCK_PID.
start_mock() {
    need "$NODE"
    make_cert
    rm -f "$T/mock.port"
    "$NODE" "$MOCK_JS" --cert "$T/cert.pem" --key "$T/key.pem" --host 127.0.0.1 \
        --port 0 --port-file "$T/mock.port" "$@" >"$T/mock.log" 2>&1 &
    MOCK_PID=$!
    started "$MOCK_PID"
    wait_for 10 test -s "$T/mock.port" || fail "mock upstream did not start"
    MOCK_PORT=$(cat "$T/mock.port")
    MOCK_URL=https://localhost:$MOCK_PORT
}

# write_config [KEY=VALUE...]: the proxy's settings file, pointing at the mock.
write_config() {
    make_cert
    PORT=${PORT:-$(free_port)}
    DASH_PORT=${DASH_PORT:-$(free_port)}
    {
        echo "ANTHROPIC_PROXY_HOST=127.0.0.1"
        echo "ANTHROPIC_PROXY_PORT=$PORT"
        echo "ANTHROPIC_PROXY_DASHBOARD_PORT=$DASH_PORT"
        echo "ANTHROPIC_PROXY_TLS_CERT=$T/cert.pem"
        echo "ANTHROPIC_PROXY_TLS_KEY=$T/key.pem"
        echo "ANTHROPIC_PROXY_UPSTREAM_BASE_URL=${MOCK_URL:-https://localhost:9}"
        echo "ANTHROPIC_PROXY_UPSTREAM_CA_FILE=$T/cert.pem"
        echo "ANTHROPIC_PROXY_LOG_LEVEL=debug"
        echo "ANTHROPIC_PROXY_LOG_REQUESTS=true"
        echo "ANTHROPIC_PROXY_SHUTDOWN_TIMEOUT=10"
        echo "ANTHROPIC_PROXY_PLUGIN_DIR=$top_builddir/plugins"
        echo "ANTHROPIC_PROXY_PIPELINE=${PIPELINE:-$top_srcdir/etc/pipeline.yaml}"
        echo "ANTHROPIC_PROXY_CONTROL_SOCKET=$T/control.sock"
        echo "ANTHROPIC_PROXY_PRICES=${PRICES:-$top_srcdir/etc/prices.yaml}"
        echo "ANTHROPIC_PROXY_DEVELOPERS=${DEVELOPERS:-$T/developers.yaml}"
        echo "ANTHROPIC_PROXY_LEDGER_PATH=${LEDGER:-$T/ledger.sqlite}"
        for kv in "$@"; do echo "ANTHROPIC_PROXY_$kv"; done
    } >"$T/proxy.env"
}

# add_developer NAME TEAM KEY [CAPS]: a developer in $T/developers.yaml (made
# at the first call, with the file's version line), known by KEY's
# fingerprint; CAPS is ", daily_usd: N" and the like. KEY joins the secrets.
add_developer() {
    [ -f "$T/developers.yaml" ] || printf 'version: 1\ndevelopers:\n' >"$T/developers.yaml"
    secret "$3"
    line=$(printf '%s' "$3" | "$PROXY_BIN" developer add "$1" --team "$2" 2>/dev/null) ||
        fail "developer add $1"
    printf '%s\n' "${line%\}}${4:-}}" >>"$T/developers.yaml"
}

# start_proxy [KEY=VALUE...]: sets PROXY_PID, PURL (https), DURL (dashboard).
start_proxy() {
    write_config "$@"
    "$PROXY_BIN" --foreground --config "$T/proxy.env" >>"$T/proxy.log" 2>&1 &
    PROXY_PID=$!
    started "$PROXY_PID"
    PURL=https://localhost:$PORT
    DURL=http://127.0.0.1:$DASH_PORT
    wait_for 10 pcurl -f "$PURL/health" || fail "proxy did not become healthy"
}

# curl that trusts the test certificate.
pcurl() {
    curl -sS --max-time 30 --cacert "$T/cert.pem" "$@"
}

# metrics EXPR: evaluate a JavaScript expression on GET /metrics (as `j`).
metrics() {
    pcurl "$PURL/metrics" | json "$1"
}

# The shipped pipeline with its stages and detectors, as a file the test may
# change: sets PIPELINE.
copy_pipeline() {
    PIPELINE=$T/pipeline.yaml
    cp "$top_srcdir/etc/pipeline.yaml" "$PIPELINE"
}

core_pid() {
    pgrep -P "$PROXY_PID" -f -- '--core' | head -n 1
}

# mock_log: the requests the mock saw, as JSON.
mock_log() {
    curl -sS --http2 --cacert "$T/cert.pem" "$MOCK_URL/__mock/log"
}

# mock_outcome KEY: how the mock's last request sent with x-mock-key: KEY
# ended (complete, cancelled, ...); outcome_is KEY OUTCOME: is it that?
mock_outcome() { mock_log | json "(j.filter(r => r.key === '$1').pop() || {}).outcome"; }
outcome_is() { [ "$(mock_outcome "$1")" = "$2" ]; }

# json EXPR < JSON: evaluate a JavaScript expression on the parsed input `j`.
json() {
    "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const v=eval(process.argv[1]);console.log(v===undefined||v===null?"":typeof v==="string"?v:JSON.stringify(v))})' "$1"
}
