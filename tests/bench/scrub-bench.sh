#!/usr/bin/env bash
# tests/bench/scrub-bench.sh: scrubber throughput with every shipped detector.
#
# Run by hand (not part of make check), after make:  bash tests/bench/scrub-bench.sh
# Takes about a minute on the 2-core dev machine. Loopback only.
#
# 1. The `anthropic-proxy scrub` path: Claude Code-shaped bodies of 100 KB,
#    1 MB and 5 MB (tests/bench/make-body.js: system prompt, tool
#    definitions, code, diffs, logs, Read-tool output), one with a secret
#    about every 30 KB and one with none. The command runs RUNS times; each
#    run scrubs the body REPEAT
#    times, as a long-running proxy would (caches and JIT warm), and reports
#    the median CPU time of its scrubber stage (walk, detectors, new body;
#    not the loading of the pipeline; FIELD=1 for wall time instead: on a
#    shared machine wall time mostly measures the neighbours). MB/s = body
#    bytes / the median of the runs' medians. "us/MB" at each size shows whether the time grows
#    linearly.
# 2. The proxy path: the same 1 MB body POSTed through two proxies started
#    side by side on the C mock upstream (tests/bench/bench-upstream.c), one
#    with SCRUB_MODE=off and one with pseudonymize, alternating, N_POST times
#    each; the added latency is the difference of the medians.
#
#    With BEFORE=DIR (a built tree of an earlier commit, e.g. a clone at the
#    base of a change, configured and made), that tree's binary, plugins and
#    pipeline are measured too, run for run alternating with this one, so
#    the "before" and "after" columns come from one run on one machine.
# Knobs: RUNS (7), REPEAT (10), FIELD (2: CPU, 1: wall), N_POST (40), PROXY_BIN, BEFORE,
# KEEP=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PROXY_BIN=${PROXY_BIN:-$TOP/anthropic-proxy}
RUNS=${RUNS:-7}
# 2: the stage's CPU time (all threads), steady on a shared machine; 1: wall time
FIELD=${FIELD:-2}
REPEAT=${REPEAT:-10}
N_POST=${N_POST:-40}
W=$(mktemp -d "${TMPDIR:-/tmp}/apx-scrub-bench.XXXXXX")
PIDS=""

die() { echo "scrub-bench: $*" >&2; exit 1; }
started() { PIDS="$PIDS $1"; }
cleanup() {
    local p
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] && echo "work directory: $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT INT TERM
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing: run make first"
command -v node >/dev/null || die "node is needed to make the bodies"

now_ns() { date +%s%N; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

openssl rand -hex 32 >"$W/key.hex"
BEFORE=${BEFORE:-}
TREES="now"
[ -n "$BEFORE" ] && TREES="now before"
for tree in $TREES; do
    dir=$TOP bin=$PROXY_BIN
    [ "$tree" = before ] && dir=$(cd "$BEFORE" && pwd) bin=$dir/anthropic-proxy
    [ -x "$bin" ] || die "$bin missing: build that tree first"
    echo "$bin" >"$W/$tree.bin"
    cat >"$W/$tree.env" <<EOF
ANTHROPIC_PROXY_PLUGIN_DIR=$dir/plugins
ANTHROPIC_PROXY_PIPELINE=$dir/etc/pipeline.yaml
EOF
    # a tree with a price table (its metrics stage reads it); no ledger
    [ -f "$dir/etc/prices.yaml" ] &&
        printf 'ANTHROPIC_PROXY_PRICES=%s\nANTHROPIC_PROXY_LEDGER_PATH=off\n' "$dir/etc/prices.yaml" >>"$W/$tree.env"
    ndet=$(sed -n '/^detectors:/,$p' "$dir/etc/pipeline.yaml" | grep -c '^  - plugin:')
    echo "$tree: $bin, $ndet detectors"
done

# scrub_once TREE FILE: the scrubber stage's median time on FILE in ns, as
# the command reports it ("N bytes in X ms, Y ms of CPU"); the findings in
# $W/TREE.err
scrub_once() {
    "$(cat "$W/$1.bin")" scrub --config "$W/$1.env" --key-file "$W/key.hex" --repeat "$REPEAT" \
        <"$2" >"$W/$1.out" 2>"$W/$1.err" || die "scrub failed: $(tail -2 "$W/$1.err")"
    sed -n "s/.* bytes in \([0-9.]*\) ms.*, \([0-9.]*\) ms of CPU.*/\\$FIELD/p" "$W/$1.err" |
        awk '{printf "%d", $1 * 1e6}'
}

printf '\n== anthropic-proxy scrub: the scrubber stage, median of %d runs x %d ==\n' "$RUNS" "$REPEAT"
printf '%-6s %-8s %9s %-7s %9s %8s %8s %6s\n' body secrets bytes tree ms MB/s us/MB found
for size in 100000 1000000 5000000; do
    for every in 30000 0; do
        f=$W/body-$size-$every.json
        node "$HERE/make-body.js" "$size" 1 "$every" >"$f"
        bytes=$(wc -c <"$f")
        for tree in $TREES; do : >"$W/$tree.times"; done
        for i in $(seq "$RUNS"); do
            for tree in $TREES; do
                scrub_once "$tree" "$f" >>"$W/$tree.times"
                echo >>"$W/$tree.times"
            done
        done
        grep -q 'sk-ant-api03\|AKIAIOSFODNN7EXAMPLE\|ghp_0123' "$W/now.out" && die "a secret survived"
        for tree in $TREES; do
            t=$(median <"$W/$tree.times")
            found=$(sed -n 's/.*replaced \([0-9]*\) value.*/\1/p' "$W/$tree.err" | head -n 1)
            kind=none
            [ "$every" = 0 ] || kind="1/${every%000}KB"
            awk -v b="$bytes" -v t="$t" -v f="${found:-0}" -v s="$size" -v tr="$tree" \
                -v k="$kind" 'BEGIN {
                d = t / 1e9; if (d <= 0) d = 1e-6;
                printf "%-6s %-8s %9d %-7s %9.2f %8.0f %8.0f %6d\n", s / 1000 "K", k, b, tr,
                    d * 1e3, b / 1e6 / d, d * 1e6 / (b / 1e6), f }'
        done
    done
done
cp "$W/body-1000000-30000.json" "$W/body-1000000.json"

# ---- the proxy path ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null || die "openssl req failed"
gcc -O2 -o "$W/bench-upstream" "$HERE/bench-upstream.c" \
    $(pkg-config --cflags --libs libnghttp2 libevent_openssl libevent openssl) ||
    die "building bench-upstream failed"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_file() { local i; for i in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
"$W/bench-upstream" --cert "$W/cert.pem" --key "$W/key.pem" --host 127.0.0.1 --port 0 \
    --port-file "$W/mock.port" >>"$W/mock.log" 2>&1 &
started $!
wait_file "$W/mock.port" || die "mock did not start"
MOCK_PORT=$(cat "$W/mock.port")

start_proxy() { # NAME MODE -> PPORT (run in this shell, so cleanup knows the PID)
    local port; port=$(free_port)
    cat >"$W/$1.env" <<EOF
ANTHROPIC_PROXY_HOST=127.0.0.1
ANTHROPIC_PROXY_PORT=$port
ANTHROPIC_PROXY_DASHBOARD_PORT=$(free_port)
ANTHROPIC_PROXY_TLS_CERT=$W/cert.pem
ANTHROPIC_PROXY_TLS_KEY=$W/key.pem
ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://localhost:$MOCK_PORT
ANTHROPIC_PROXY_UPSTREAM_CA_FILE=$W/cert.pem
ANTHROPIC_PROXY_LOG_LEVEL=warning
ANTHROPIC_PROXY_PLUGIN_DIR=$TOP/plugins
ANTHROPIC_PROXY_PIPELINE=$TOP/etc/pipeline.yaml
ANTHROPIC_PROXY_PRICES=$TOP/etc/prices.yaml
ANTHROPIC_PROXY_LEDGER_PATH=off
ANTHROPIC_PROXY_SCRUB_MODE=$2
ANTHROPIC_PROXY_SCRUB_HMAC_KEY=$(cat "$W/key.hex")
EOF
    "$PROXY_BIN" --foreground --config "$W/$1.env" >>"$W/$1.log" 2>&1 &
    started $!
    PPORT=$port
}
start_proxy off off; P_OFF=$PPORT
start_proxy on pseudonymize; P_ON=$PPORT
for p in "$P_OFF" "$P_ON"; do
    for i in $(seq 50); do curl -sf --cacert "$W/cert.pem" "https://localhost:$p/health" >/dev/null && break; sleep 0.1; done
done
post() { # PORT: time_total of one 1 MB POST, in ns
    curl -s -o /dev/null --max-time 30 --cacert "$W/cert.pem" -H 'content-type: application/json' \
        --data-binary "@$W/body-1000000.json" -w '%{time_total}\n' "https://localhost:$1/v1/messages" |
        awk '{printf "%d", $1 * 1e9}'
}
post "$P_OFF" >/dev/null; post "$P_ON" >/dev/null # warm the connections
t_off=""; t_on=""
for i in $(seq "$N_POST"); do
    t_off="$t_off $(post "$P_OFF")"
    t_on="$t_on $(post "$P_ON")"
done
m_off=$(echo "$t_off" | median); m_on=$(echo "$t_on" | median)
printf '\n== proxy path: 1 MB POST, median of %d each, curl over HTTP/1.1 ==\n' "$N_POST"
awk -v a="$m_off" -v b="$m_on" 'BEGIN {
    printf "SCRUB_MODE=off           %8.2f ms\nSCRUB_MODE=pseudonymize  %8.2f ms\nadded by scrubbing       %8.2f ms\n",
        a / 1e6, b / 1e6, (b - a) / 1e6 }'
