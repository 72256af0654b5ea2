#!/usr/bin/env bash
# tests/bench/bench.sh: anthropic-proxy side by side with haproxy and nghttpx.
#
# Run by hand (not part of make check), from anywhere:  bash tests/bench/bench.sh
# Takes about 3-4 minutes on the 2-core dev machine. Loopback only.
#
# Targets, each on its own TLS port with the same certificate (ECDSA P-256,
# ALPN h2,http/1.1), each talking h2 over TLS to the same kind of mock upstream:
#   direct           h2load -> mock
#   anthropic-proxy  ./anthropic-proxy (supervisor + core; the core is measured)
#   haproxy          nbthread 1, http-reuse always, server ... ssl verify none alpn h2
#   nghttpx          --workers=1, backend proto=h2;tls, --insecure (the worker is measured)
# All are single-threaded event loops, logs off or at warning.
#
# Tests per target (h2load is the client; every run is bounded by -n and `timeout`):
#   c=1    small POST, HTTP/1.1 and h2 front: p50/p99 from h2load --log-file
#   c=64   small POST, HTTP/1.1 (64 conns) and h2 (8 conns x 8 streams): req/s, CPU
#   c=64   SSE streams of 56 events (50 text deltas), HTTP/1.1 and h2: streams/s, CPU
#   hold   1000 slow SSE streams held open (x-mock-event-delay-ms): 1000 HTTP/1.1
#          conns at once (h2load), or opened one by one (python3 ssl), or 10 h2
#          conns x 100 streams, each on a fresh process; RSS delta
#          / 1000; then the client is killed, and the script checks that the mock
#          sees every stream cancelled; repeated HOLD_ROUNDS times to spot leaks.
# Phase 1 (speed) runs all targets side by side and goes round them REPS times so
# the machine's noise spreads evenly; phase 2 (memory) one target at a time.
# CPU is utime+stime of the measured process from /proc (10 ms ticks), summed
# over all runs: "us per request" = CPU seconds / requests * 1e6; the figure in
# brackets is the same as CPU seconds per 1000 requests.
#
# Mock: by default tests/bench/bench-upstream.c (compiled here with gcc), a small C
# h2/TLS mock that answers from fixed buffers; the Node mock (tests/mock) tops out
# near 5k req/s on this machine and would cap every target at its own speed.
# MOCK=node uses tests/mock/mock-upstream.js instead.
#
# anthropic-proxy runs as users run it by default: the shipped pipeline
# (etc/pipeline.yaml: scrubber, metrics, dashboard, retry and every
# detector, plugins from this build tree), SCRUB_MODE=off unless the knob
# says otherwise (the bodies here hold no secrets; scrubbing is measured by
# scrub-bench.sh and restore-bench.sh), the ledger off. PIPELINE=none
# measures the core alone (no stages, no detectors: issue 2's targets);
# PIPELINE=FILE another pipeline.
#
# Knobs (environment): TARGETS, MOCK=c|node, N_C1 (2000), N_SMALL (20000),
#   N_SSE (4000), REPS (5), HOLD (1000), HOLD_ROUNDS (3), HOLD_DELAY_MS (3000), PROXY_BIN,
#   PIPELINE (etc/pipeline.yaml; none: the core alone), SCRUB_MODE (off), KEEP=1 (keep work dir).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PROXY_BIN=${PROXY_BIN:-$TOP/anthropic-proxy}
MOCK=${MOCK:-c}
TARGETS=${TARGETS:-"direct anthropic-proxy haproxy nghttpx"}
N_C1=${N_C1:-2000}
N_SMALL=${N_SMALL:-20000}
N_SSE=${N_SSE:-4000}
REPS=${REPS:-5}
HOLD_ROUNDS=${HOLD_ROUNDS:-3}
HOLD=${HOLD:-1000}
HOLD_DELAY_MS=${HOLD_DELAY_MS:-3000}
PIPELINE=${PIPELINE:-$TOP/etc/pipeline.yaml}
[ "$PIPELINE" = none ] && PIPELINE=
[ -z "$PIPELINE" ] || PIPELINE=$(cd "$(dirname "$PIPELINE")" && pwd)/$(basename "$PIPELINE")
SCRUB_MODE=${SCRUB_MODE:-off}
SSE_DELTAS=50             # message_start, block_start, ping, 50 deltas, block_stop, message_delta, message_stop = 56
RESULTS=$HERE/results.txt
T0=$(date +%s)

W=$(mktemp -d "${TMPDIR:-/tmp}/apx-bench.XXXXXX")
PIDS=""

log() { printf '[%4ss] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local pid
    for pid in $PIDS; do stop_pid "$pid"; done
    if [ "${KEEP:-0}" = 1 ]; then echo "work dir kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started() { PIDS="$PIDS $1"; }
forget() { local p out=""; for p in $PIDS; do [ "$p" = "$1" ] || out="$out $p"; done; PIDS=$out; }

die() { echo "bench: $*" >&2; exit 1; }

# ------------------------------------------------------------------ setup
need_pkgs=""
command -v h2load >/dev/null || need_pkgs="$need_pkgs nghttp2-client"
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_pkgs="$need_pkgs haproxy"
command -v nghttpx >/dev/null || [ -x /usr/sbin/nghttpx ] || need_pkgs="$need_pkgs nghttp2-proxy"
if [ -n "$need_pkgs" ]; then
    log "installing$need_pkgs"
    DEBIAN_FRONTEND=noninteractive apt-get install -y $need_pkgs >/dev/null || die "apt-get install$need_pkgs failed"
fi
PATH=$PATH:/usr/sbin
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing: run make first"
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null
[ "$(ulimit -n)" -ge 4000 ] || die "ulimit -n is $(ulimit -n); need 4000+"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null || die "openssl req failed"
cat "$W/cert.pem" "$W/key.pem" >"$W/haproxy.pem"

if [ "$MOCK" = c ]; then
    gcc -O2 -o "$W/bench-upstream" "$HERE/bench-upstream.c" \
        $(pkg-config --cflags --libs libnghttp2 libevent_openssl libevent openssl) \
        || die "building bench-upstream failed (need libnghttp2-dev libevent-dev libssl-dev)"
    STATS_PATH=/__stats
else
    [ -f "$TOP/tests/mock/mock-upstream.js" ] || die "tests/mock/mock-upstream.js missing"
    STATS_PATH=/__mock/stats
fi

echo '{"model":"claude-sonnet-4-20250514","max_tokens":1024,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}' >"$W/small.json"
echo '{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}' >"$W/sse.json"

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'
}
wait_file() { local i; for i in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

# ------------------------------------------------------------------ processes
start_mock() { # -> MOCK_PID MOCK_PORT
    rm -f "$W/mock.port"
    if [ "$MOCK" = c ]; then
        "$W/bench-upstream" --cert "$W/cert.pem" --key "$W/key.pem" --host 127.0.0.1 \
            --port 0 --port-file "$W/mock.port" >>"$W/mock.log" 2>&1 &
    else
        node "$TOP/tests/mock/mock-upstream.js" --cert "$W/cert.pem" --key "$W/key.pem" \
            --host 127.0.0.1 --port 0 --port-file "$W/mock.port" --allow-http1 >>"$W/mock.log" 2>&1 &
    fi
    MOCK_PID=$!
    started "$MOCK_PID"
    wait_file "$W/mock.port" || die "mock did not start: $(tail -5 "$W/mock.log")"
    MOCK_PORT=$(cat "$W/mock.port")
}

mock_active() { # open response streams at the mock
    curl -sk --max-time 5 "https://127.0.0.1:$MOCK_PORT$STATS_PATH" |
        sed -n 's/.*"\(active_streams\|requests_active\)": *\([0-9]*\).*/\2/p'
}

# start_target NAME -> FPORT, TPID (started pid), MPIDS (measured pids), XPIDS (supervisor/master)
start_target() {
    local name=$1 i
    TPID="" MPIDS="" XPIDS=""
    case $name in
    direct)
        FPORT=$MOCK_PORT ;;
    anthropic-proxy)
        FPORT=$(free_port)
        cat >"$W/proxy.env" <<EOF
ANTHROPIC_PROXY_HOST=127.0.0.1
ANTHROPIC_PROXY_PORT=$FPORT
ANTHROPIC_PROXY_DASHBOARD_PORT=$(free_port)
ANTHROPIC_PROXY_TLS_CERT=$W/cert.pem
ANTHROPIC_PROXY_TLS_KEY=$W/key.pem
ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://localhost:$MOCK_PORT
ANTHROPIC_PROXY_UPSTREAM_CA_FILE=$W/cert.pem
ANTHROPIC_PROXY_LOG_LEVEL=warning
EOF
        [ -z "$PIPELINE" ] || printf 'ANTHROPIC_PROXY_PIPELINE=%s\nANTHROPIC_PROXY_PLUGIN_DIR=%s\nANTHROPIC_PROXY_PRICES=%s\nANTHROPIC_PROXY_LEDGER_PATH=off\nANTHROPIC_PROXY_SCRUB_MODE=%s\nANTHROPIC_PROXY_SCRUB_HMAC_KEY=%s\n' \
            "$PIPELINE" "$TOP/plugins" "$TOP/etc/prices.yaml" "$SCRUB_MODE" "$(openssl rand -hex 32)" >>"$W/proxy.env"
        "$PROXY_BIN" --foreground --config "$W/proxy.env" >>"$W/anthropic-proxy.log" 2>&1 &
        TPID=$!; started "$TPID"
        for i in $(seq 100); do
            MPIDS=$(pgrep -P "$TPID" -f -- --core | head -n 1)
            [ -n "$MPIDS" ] && break; sleep 0.1
        done
        XPIDS=$TPID ;;
    haproxy)
        FPORT=$(free_port)
        cat >"$W/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 60s
    http-reuse always
frontend f
    bind 127.0.0.1:$FPORT ssl crt $W/haproxy.pem alpn h2,http/1.1
    default_backend b
backend b
    server s 127.0.0.1:$MOCK_PORT ssl verify none alpn h2
EOF
        haproxy -db -f "$W/haproxy.cfg" >>"$W/haproxy.log" 2>&1 &
        TPID=$!; started "$TPID"; MPIDS=$TPID ;;
    nghttpx)
        FPORT=$(free_port)
        nghttpx --conf=/dev/null --workers=1 --no-ocsp --no-via --insecure \
            --errorlog-file="$W/nghttpx.log" \
            --frontend-read-timeout=300s --backend-read-timeout=300s \
            -f"127.0.0.1,$FPORT" -b"127.0.0.1,$MOCK_PORT;;proto=h2;tls" \
            "$W/key.pem" "$W/cert.pem" >>"$W/nghttpx.log" 2>&1 &
        TPID=$!; started "$TPID"
        for i in $(seq 100); do
            MPIDS=$(pgrep -P "$TPID" | tr '\n' ' ')
            [ -n "$MPIDS" ] && break; sleep 0.1
        done
        XPIDS=$TPID ;;
    esac
    for i in $(seq 100); do
        [ "$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' -d @"$W/small.json" \
            "https://127.0.0.1:$FPORT/v1/messages")" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not answer on port $FPORT"
}

stop_target() { [ -n "$TPID" ] && { stop_pid "$TPID"; forget "$TPID"; }; TPID=""; }

# ------------------------------------------------------------------ measuring
cpu_ticks() { # sum of utime+stime over pids
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
rss_kib() { local p t=0 v; for p in "$@"; do v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null); t=$((t + ${v:-0})); done; echo "$t"; }
TCK=$(getconf CLK_TCK)

# run_h2load KEY ARGS... : runs h2load against the current target and adds to
# R[KEY.ok] R[KEY.fail] R[KEY.ticks] R[KEY.rps] (list) R[KEY.bytes] (data bytes per request)
declare -A R
add() { R[$1]=$(( ${R[$1]:-0} + $2 )); }
run_h2load() {
    local key=$1; shift
    local c0 c1 out=$W/h2load.out
    c0=$(cpu_ticks $MPIDS)
    timeout 120 h2load "$@" >"$out" 2>&1
    c1=$(cpu_ticks $MPIDS)
    { echo "### $key: h2load $*"; cat "$out"; } >>"$W/h2load-all.log"
    local total done err tmo rps data n3 n4 n5 ok
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
    read -r total done err tmo < <(sed -n 's/^requests: \([0-9]*\) total, [0-9]* started, \([0-9]*\) done, .* \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3 \4/p' "$out")
    read -r n3 n4 n5 < <(sed -n 's/^status codes: [0-9]* 2xx, \([0-9]*\) 3xx, \([0-9]*\) 4xx, \([0-9]*\) 5xx.*/\1 \2 \3/p' "$out")
    data=$(sed -n 's/^traffic: .*(\([0-9]*\)) data.*/\1/p' "$out")
    [ -n "${total:-}" ] || { total=1 done=0 err=1 tmo=0; log "  $key: h2load failed: $(tail -3 "$out" | tr '\n' ' ')"; }
    # ok = answered without error and not 3xx/4xx/5xx. (h2load's HTTP/1.1 parser records no
    # status for "HTTP/1.1 200 " with an empty reason phrase, which haproxy sends when the
    # backend speaks h2, so its "2xx" count would be 0 there.)
    ok=$(( done - err - tmo - ${n3:-0} - ${n4:-0} - ${n5:-0} ))
    [ "$ok" -ge 0 ] || ok=0
    add "$key.ok" "$ok"
    add "$key.fail" $(( ${total:-0} - ok ))
    add "$key.ticks" $(( c1 - c0 ))
    R[$key.rps]="${R[$key.rps]:-} $(printf '%.0f' "${rps:-0}")"
    [ "$ok" -gt 0 ] && R[$key.bytes]=$(( ${data:-0} / ok ))
    [ "$ok" = "${total:-0}" ] || log "  $key: $(( ${total:-0} - ok )) of $total requests failed: $(grep -E '^(requests|status codes):' "$out" | tr '\n' ' ')"
}

# latency KEY: p50/p99 (us) over every run's h2load --log-file ($W/lat.KEY):
# start time (us), status, duration (us); a failed request has status -1 or 0.
latency() {
    local key=$1
    read -r R[$key.p50] R[$key.p99] < <(awk -F'\t' '$2 !~ /^-/ && $2 != 0 {print $3}' "$W/lat.$key" | sort -n |
        awk '{a[NR]=$1} END {if (NR == 0) {print "- -"; exit} i=int(NR*0.5); if (i<1) i=1; j=int(NR*0.99); if (j<1) j=1; print a[i], a[j]}')
}

URL() { echo "https://127.0.0.1:$FPORT/v1/messages"; }

# hold KEY MODE(h1|h2): hold $HOLD slow SSE streams, measure RSS.
hold() {
    local key=$1 mode=$2 base peak v i act hpid left gone
    base=$(rss_kib $MPIDS)
    # 7 events, one every HOLD_DELAY_MS: ~6 x HOLD_DELAY_MS per stream
    case $mode in
    h1|h2)
        local args
        if [ "$mode" = h1 ]; then args=(--h1 -n "$HOLD" -c "$HOLD"); else args=(-n "$HOLD" -c 10 -m $(( (HOLD + 9) / 10 ))); fi
        timeout 60 h2load "${args[@]}" -t 1 -d "$W/sse.json" -H 'x-mock-events: 1' \
            -H "x-mock-event-delay-ms: $HOLD_DELAY_MS" "$(URL)" >"$W/hold.out" 2>&1 & ;;
    h1seq) # HTTP/1.1 connections opened one after the other, not in one burst
        timeout 60 python3 "$W/hold_seq.py" "$FPORT" "$HOLD" "$HOLD_DELAY_MS" "$W/sse.json" >"$W/hold.out" 2>&1 & ;;
    esac
    hpid=$!; started "$hpid"; disown "$hpid"   # no "Killed" notice when we end it
    act=0
    for i in $(seq 80); do # up to 20 s for all streams to reach the mock
        sleep 0.25
        act=$(mock_active); act=${act:-0}
        [ "$act" -ge "$HOLD" ] && break
    done
    sleep 1
    peak=0
    for i in 1 2 3 4; do v=$(rss_kib $MPIDS); [ "$v" -gt "$peak" ] && peak=$v; sleep 0.25; done
    R[$key.active]=$act
    R[$key.rss]=$peak
    R[$key.base]=$base
    if [ -n "$MPIDS" ]; then
        R[$key.per]=$(awk -v a="$peak" -v b="$base" -v n="$HOLD" 'BEGIN{printf "%.1f", (a - b) / n}')
    else
        R[$key.per]=-
    fi
    # the client goes away: every upstream stream should be cancelled at once
    local cpid
    cpid=$(pgrep -P "$hpid")   # h2load, started by timeout
    [ -n "$cpid" ] && kill -KILL $cpid 2>/dev/null
    stop_pid "$hpid"; forget "$hpid"
    gone=-
    for i in $(seq 50); do
        left=$(mock_active); left=${left:-0}
        if [ "$left" -eq 0 ]; then gone=$(awk -v i="$i" 'BEGIN{printf "%.1fs", i * 0.2}'); break; fi
        sleep 0.2
    done
    R[$key.left]=$left
    R[$key.gone]=$gone
    sleep 0.5
    R[$key.after]=$(rss_kib $MPIDS)
    [ -n "$MPIDS" ] || { R[$key.rss]=-; R[$key.after]=-; }
    [ "$act" -ge "$HOLD" ] || log "  $key: only $act of $HOLD streams reached the mock"
    [ "$left" -eq 0 ] || log "  $key: $left upstream streams still open 10 s after the client left"
}

# ------------------------------------------------------------------ the runs
declare -A FP TP MP XP
use_target() { FPORT=${FP[$1]}; TPID=${TP[$1]}; MPIDS=${MP[$1]}; XPIDS=${XP[$1]}; }
check_alive() { # target, phase
    local p now
    for p in ${MP[$1]} ${XP[$1]}; do kill -0 "$p" 2>/dev/null || R[$1.alive]="${R[$1.alive]:-}NO: pid $p died ($2); "; done
    if [ "$1" = anthropic-proxy ] && [ -n "${MP[$1]}" ]; then
        now=$(pgrep -P "${TP[$1]}" -f -- --core | head -n 1)
        [ "$now" = "${MP[$1]}" ] || R[$1.alive]="${R[$1.alive]:-}NO: core restarted (${MP[$1]} -> ${now:-none}, $2); "
    fi
}
warm_up() {
    timeout 60 h2load --h1 -n 1000 -c 16 -d "$W/small.json" "$(URL)" >/dev/null 2>&1
    timeout 60 h2load -n 1000 -c 4 -m 4 -d "$W/sse.json" -H "x-mock-events: $SSE_DELTAS" "$(URL)" >/dev/null 2>&1
}

# Phase 1: speed. Every target runs at once (idle when not under test), all
# behind one mock; REPS rounds, each round going through the targets in turn,
# so that the machine's noise spreads over all of them.
log "phase 1: latency, throughput, CPU ($REPS rounds)"
start_mock
for t in $TARGETS; do
    start_target "$t"
    FP[$t]=$FPORT TP[$t]=$TPID MP[$t]=$MPIDS XP[$t]=$XPIDS
    R[$t.rss_idle]=$( [ -n "$MPIDS" ] && rss_kib $MPIDS || echo -)
    R[$t.rss_sup]=$( [ -n "$XPIDS" ] && rss_kib $XPIDS || echo -)
done
for t in $TARGETS; do use_target "$t"; warm_up; done
for rep in $(seq "$REPS"); do
    for t in $TARGETS; do
        log "  round $rep: $t"
        use_target "$t"
        run_h2load "$t.c1h1" --h1 -n "$N_C1" -c 1 -d "$W/small.json" -H 'content-type: application/json' --log-file="$W/lat.log" "$(URL)"
        cat "$W/lat.log" >>"$W/lat.$t.c1h1"
        run_h2load "$t.c1h2" -n "$N_C1" -c 1 -d "$W/small.json" -H 'content-type: application/json' --log-file="$W/lat.log" "$(URL)"
        cat "$W/lat.log" >>"$W/lat.$t.c1h2"
        run_h2load "$t.smh1" --h1 -n "$N_SMALL" -c 64 -t 1 -d "$W/small.json" -H 'content-type: application/json' "$(URL)"
        run_h2load "$t.smh2" -n "$N_SMALL" -c 8 -m 8 -t 1 -d "$W/small.json" -H 'content-type: application/json' "$(URL)"
        run_h2load "$t.sseh1" --h1 -n "$N_SSE" -c 64 -t 1 -d "$W/sse.json" -H 'content-type: application/json' -H "x-mock-events: $SSE_DELTAS" "$(URL)"
        run_h2load "$t.sseh2" -n "$N_SSE" -c 8 -m 8 -t 1 -d "$W/sse.json" -H 'content-type: application/json' -H "x-mock-events: $SSE_DELTAS" "$(URL)"
    done
done
for t in $TARGETS; do
    latency "$t.c1h1"; latency "$t.c1h2"
    check_alive "$t" "phase 1"
    R[$t.rss_load]=$( [ -n "${MP[$t]}" ] && rss_kib ${MP[$t]} || echo -)
    use_target "$t"; stop_target
done
stop_pid "$MOCK_PID"; forget "$MOCK_PID"

# Phase 2: memory. A fresh mock and a fresh target for each front protocol;
# HOLD_ROUNDS rounds of $HOLD held streams each: the first gives KiB per stream,
# the later ones show whether memory keeps growing (a leak) or is reused.
log "phase 2: $HOLD held slow SSE streams"
cat >"$W/hold_seq.py" <<'EOF'
# hold_seq.py PORT N DELAY_MS BODY: open N TLS HTTP/1.1 connections one by one,
# each sending one slow streaming request; hold them for at most 40 s.
import socket, ssl, sys, time
port, n, delay, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], open(sys.argv[4], 'rb').read()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(['http/1.1'])
req = (b'POST /v1/messages HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n'
       b'x-mock-events: 1\r\nx-mock-event-delay-ms: ' + delay.encode() +
       b'\r\ncontent-length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=10), server_hostname='localhost')
    s.sendall(req)
    conns.append(s)
print('open', flush=True)
time.sleep(40)
EOF
for t in $TARGETS; do
    [ "$t" = direct ] && continue
    for mode in h1 h1seq h2; do
        log "  $t, $mode clients"
        start_mock
        start_target "$t"
        FP[$t]=$FPORT TP[$t]=$TPID MP[$t]=$MPIDS XP[$t]=$XPIDS
        # a light warm-up (upstream connection up) that leaves little freed memory to reuse
        timeout 30 h2load --h1 -n 20 -c 1 -d "$W/small.json" "$(URL)" >/dev/null 2>&1
        timeout 30 h2load -n 20 -c 1 -d "$W/sse.json" -H "x-mock-events: $SSE_DELTAS" "$(URL)" >/dev/null 2>&1
        sleep 0.5
        for r in $(seq "$HOLD_ROUNDS"); do hold "$t.h$mode.r$r" "$mode"; done
        check_alive "$t" "phase 2, $mode"
        stop_target
        stop_pid "$MOCK_PID"; forget "$MOCK_PID"
    done
done

# ------------------------------------------------------------------ report
g() { local v=${R[$1]:-}; echo "${v:--}"; }
mib() { local v=${R[$1]:-}; case $v in ''|-) echo - ;; *) awk -v k="$v" 'BEGIN{printf "%.1f MiB", k / 1024}' ;; esac; }
median() { [ -n "${1// /}" ] || { echo -; return; }; echo $1 | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() {
    local fmt='%-42s'
    printf "anthropic-proxy benchmark, %s, commit %s, %s cores, mock=%s, %s s\n" "$(date -u +%Y-%m-%dT%H:%MZ)" \
        "$(git -C "$TOP" describe --always --dirty 2>/dev/null)" "$(nproc)" "$MOCK" "$(( $(date +%s) - T0 ))"
    printf "h2load %s, haproxy %s, nghttpx %s; ECDSA P-256 cert; every target single-threaded\n" \
        "$(h2load --version | awk '{print $2}')" "$(haproxy -v | awk 'NR==1{print $3}')" "$(nghttpx --version | awk '{print $2}')"
    echo "anthropic-proxy pipeline: ${PIPELINE:-none (the core alone: no stages, no detectors)}${PIPELINE:+, SCRUB_MODE=$SCRUB_MODE}"
    printf "$fmt" ""; for t in $TARGETS; do printf '%-17s' "$t"; done; echo
    line() { # label, function producing a cell for a target, its arguments
        local label=$1 fn=$2 t; shift 2
        printf "$fmt" "$label"; for t in $TARGETS; do printf '%-17s' "$($fn "$t" "$@")"; done; echo
    }
    c_lat() { echo "$(g $1.$2.p50) / $(g $1.$2.p99)"; }
    c_add() {
        local d=${R[direct.$2.p50]:-} v=${R[$1.$2.p50]:-}
        if [ "$1" = direct ] || [ -z "$d" ] || [ -z "$v" ] || [ "$d" = - ] || [ "$v" = - ]; then echo -; else echo "$((v - d))"; fi
    }
    c_rps() { median "${R[$1.$2.rps]:-}"; }
    c_cpu() {
        [ -n "${MP[$1]:-}" ] && [ "${R[$1.$2.ok]:-0}" -gt 0 ] || { echo -; return; }
        awk -v d="${R[$1.$2.ticks]}" -v n="${R[$1.$2.ok]}" -v t="$TCK" 'BEGIN{u = d / t / n * 1e6; printf "%.1f (%.4f)", u, u / 1000}'
    }
    c_fail() { local k s=0; for k in c1h1 c1h2 smh1 smh2 sseh1 sseh2; do s=$((s + ${R[$1.$k.fail]:-0})); done; echo $s; }
    c_bytes() { echo "$(g $1.sseh1.bytes) / $(g $1.sseh2.bytes)"; }
    c_alive() { local v=${R[$1.alive]:-yes}; echo "$v"; }
    c_mib() { [ "$1" = direct ] && echo - || mib "$1.$2"; }
    c_per() { [ "$1" = direct ] && echo - || g "$1.$2.per"; }
    c_act() { [ "$1" = direct ] && echo - || echo "$(g $1.$2.active) / $(g $1.$2.left) / $(g $1.$2.gone)"; }
    c_grow() { # RSS peak of each later round minus the previous one's, MiB
        [ "$1" = direct ] && { echo -; return; }
        local r out="" a b
        for r in $(seq 2 "$HOLD_ROUNDS"); do
            a=${R[$1.$2.r$((r - 1)).rss]:-} b=${R[$1.$2.r$r.rss]:-}
            case "$a$b" in ''|*-*) out="$out -" ;; *) out="$out $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%+.1f", (b - a) / 1024}')" ;; esac
        done
        echo "${out# }"
    }
    echo "-- latency, small POST, c=1 ($REPS x $N_C1 requests), microseconds"
    line "p50 / p99, HTTP/1.1 front" c_lat c1h1
    line "  added p50 over direct" c_add c1h1
    line "p50 / p99, h2 front" c_lat c1h2
    line "  added p50 over direct" c_add c1h2
    echo "-- throughput, c=64 (median of $REPS runs of $N_SMALL small POSTs / $N_SSE SSE streams of 56 events)"
    line "small POST req/s, HTTP/1.1 (64 conns)" c_rps smh1
    line "small POST req/s, h2 (8 conns x 8)" c_rps smh2
    line "SSE streams/s, HTTP/1.1 (64 conns)" c_rps sseh1
    line "SSE streams/s, h2 (8 conns x 8)" c_rps sseh2
    echo "-- CPU of the proxy process, us per request (CPU s per 1000 requests), all runs"
    line "small POST, HTTP/1.1 c=64" c_cpu smh1
    line "small POST, h2 c=64" c_cpu smh2
    line "SSE stream, HTTP/1.1 c=64" c_cpu sseh1
    line "SSE stream, h2 c=64" c_cpu sseh2
    line "small POST, HTTP/1.1 c=1" c_cpu c1h1
    echo "-- checks"
    line "failed or non-2xx requests, all runs" c_fail
    line "SSE body bytes per stream, h1 / h2" c_bytes
    line "alive, not restarted" c_alive
    echo "-- memory: RSS of the core / haproxy / nghttpx worker"
    line "RSS idle, just started" c_mib rss_idle
    line "RSS of supervisor / nghttpx master" c_mib rss_sup
    line "RSS after phase 1 (idle again)" c_mib rss_load
    line "$HOLD SSE held, HTTP/1.1 all at once: RSS" c_mib hh1.r1.rss
    line "  KiB per held stream" c_per hh1.r1
    line "  at mock / left 10s after / gone in" c_act hh1.r1
    line "  RSS after the clients left" c_mib hh1.r1.after
    line "  RSS after the last round" c_mib hh1.r$HOLD_ROUNDS.after
    [ "$HOLD_ROUNDS" -lt 2 ] || line "  rounds 2..$HOLD_ROUNDS: peak RSS growth, MiB" c_grow hh1
    line "$HOLD SSE held, HTTP/1.1 one by one: RSS" c_mib hh1seq.r1.rss
    line "  KiB per held stream" c_per hh1seq.r1
    line "  at mock / left 10s after / gone in" c_act hh1seq.r1
    [ "$HOLD_ROUNDS" -lt 2 ] || line "  rounds 2..$HOLD_ROUNDS: peak RSS growth, MiB" c_grow hh1seq
    line "$HOLD SSE held, h2 (10 conns): RSS" c_mib hh2.r1.rss
    line "  KiB per held stream" c_per hh2.r1
    line "  at mock / left 10s after / gone in" c_act hh2.r1
    line "  RSS after the clients left" c_mib hh2.r1.after
    line "  RSS after the last round" c_mib hh2.r$HOLD_ROUNDS.after
    [ "$HOLD_ROUNDS" -lt 2 ] || line "  rounds 2..$HOLD_ROUNDS: peak RSS growth, MiB" c_grow hh2
    echo "KiB per held stream = (RSS with $HOLD streams open - RSS just before) / $HOLD; each front"
    echo "protocol on a fresh process after a light warm-up; $HOLD_ROUNDS rounds in a row on that process.
'at mock' = streams open at the mock while held;"
    echo "'left' = still open there after the client was killed (should be 0: cancelled upstream)."
    if [ -s "$W/anthropic-proxy.log" ]; then
        echo "-- anthropic-proxy log: $(grep -c . "$W/anthropic-proxy.log") lines; warnings and errors (first 30, 'no pipeline file' left out):"
        grep -v 'no pipeline file' "$W/anthropic-proxy.log" | head -n 30
    fi
    for f in haproxy nghttpx; do
        [ -s "$W/$f.log" ] && grep -qE 'ERROR|WARN|ALERT' "$W/$f.log" &&
            { echo "-- $f log (warnings/errors, first 5)"; grep -E 'ERROR|WARN|ALERT' "$W/$f.log" | head -n 5; }
    done
}
report | tee "$RESULTS"
log "done in $(( $(date +%s) - T0 ))s; table in $RESULTS"
