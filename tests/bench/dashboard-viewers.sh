#!/usr/bin/env bash
# tests/bench/dashboard-viewers.sh: does an open dashboard cost the proxy?
#
# Run by hand (not part of make check):  bash tests/bench/dashboard-viewers.sh
# About two minutes on the 2-core dev machine. Loopback only.
#
# One proxy with the shipped pipeline (metrics and dashboard stages loaded)
# in front of the C bench upstream (tests/bench/bench-upstream.c). Rounds
# alternate between no viewer and VIEWERS clients of /metrics/stream (half
# on each port), REPS times, so the machine's noise falls on both alike.
# Each round: h2load, HTTP/1.1, N small POSTs on C connections, then N_SSE
# streamed answers. Reported per mode: the core's CPU per request
# (utime+stime from /proc, summed over the rounds) and the latency p50/p99
# of the small POSTs (h2load --log-file), and the ratio viewers/none.
#
# Knobs: VIEWERS (20), REPS (4), N (40000), C (16), N_SSE (10000), PROXY_BIN.
#
# On the dev machine (2 shared cores), 2026-12-01, defaults:
#   mode         CPU us/req     p50 us     p99 us
#   none               42.1        651       2249
#   viewers            42.9        643       2156
#   CPU per request with 20 viewers / without: 1.017
#   latency with viewers / without: p50 0.988, p99 0.959
# i.e. within the 5 % the metrics issue allows; the snapshot is built once per
# 1.5 s tick whatever the number of viewers.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PROXY_BIN=${PROXY_BIN:-$TOP/anthropic-proxy}
VIEWERS=${VIEWERS:-20} REPS=${REPS:-4} N=${N:-40000} C=${C:-16} N_SSE=${N_SSE:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/apx-viewers.XXXXXX")
PIDS=""
die() { echo "bench: $*" >&2; exit 1; }
started() { PIDS="$PIDS $1"; }
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.5
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v h2load >/dev/null || die "h2load missing (apt-get install nghttp2-client)"
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing: run make first"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null || die "openssl failed"
gcc -O2 -o "$W/upstream" "$HERE/bench-upstream.c" \
    $(pkg-config --cflags --libs libnghttp2 libevent_openssl libevent openssl) || die "gcc failed"
"$W/upstream" --cert "$W/cert.pem" --key "$W/key.pem" --host 127.0.0.1 --port 0 \
    --port-file "$W/up.port" >"$W/up.log" 2>&1 &
started $!
for _ in $(seq 50); do [ -s "$W/up.port" ] && break; sleep 0.1; done
PORT=$(free_port) DPORT=$(free_port)
cat >"$W/proxy.env" <<EOT
ANTHROPIC_PROXY_HOST=127.0.0.1
ANTHROPIC_PROXY_PORT=$PORT
ANTHROPIC_PROXY_DASHBOARD_PORT=$DPORT
ANTHROPIC_PROXY_TLS_CERT=$W/cert.pem
ANTHROPIC_PROXY_TLS_KEY=$W/key.pem
ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://localhost:$(cat "$W/up.port")
ANTHROPIC_PROXY_UPSTREAM_CA_FILE=$W/cert.pem
ANTHROPIC_PROXY_LOG_LEVEL=warning
ANTHROPIC_PROXY_PIPELINE=$TOP/etc/pipeline.yaml
ANTHROPIC_PROXY_PLUGIN_DIR=$(dirname "$PROXY_BIN")/plugins
ANTHROPIC_PROXY_PRICES=$TOP/etc/prices.yaml
ANTHROPIC_PROXY_LEDGER_PATH=off
EOT
"$PROXY_BIN" --foreground --config "$W/proxy.env" >"$W/proxy.log" 2>&1 &
SUP=$!
started $SUP
for _ in $(seq 100); do
    curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$PORT/health" && break; sleep 0.1
done
CORE=$(pgrep -P "$SUP" -f -- --core | head -n 1)
[ -n "$CORE" ] || die "proxy did not start: $(tail -5 "$W/proxy.log")"
curl -sk "https://127.0.0.1:$PORT/metrics" | grep -q '"name": "dashboard"' || die "dashboard stage not loaded"

echo '{"model":"claude-bench","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}' >"$W/small.json"
echo '{"model":"claude-bench","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}' >"$W/sse.json"
ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$CORE/stat"; }
TCK=$(getconf CLK_TCK)
declare -A TICKS REQS
round() { # MODE
    local mode=$1 vpids="" i t0 t1
    if [ "$mode" = viewers ]; then
        for i in $(seq "$VIEWERS"); do
            if [ $((i % 2)) = 0 ]; then u=http://127.0.0.1:$DPORT/metrics/stream
            else u=https://127.0.0.1:$PORT/metrics/stream; fi
            curl -skN --max-time 600 -o "$W/viewer.$i" "$u" & vpids="$vpids $!"
        done
        sleep 2 # every viewer connected and fed at least once
    fi
    t0=$(ticks)
    timeout 300 h2load --h1 -n "$N" -c "$C" -d "$W/small.json" -H 'content-type: application/json' \
        --log-file="$W/lat.part" "https://127.0.0.1:$PORT/v1/messages" >"$W/h2load.out" 2>&1
    grep -q "succeeded, 0 failed" "$W/h2load.out" || grep -q "$N succeeded" "$W/h2load.out" ||
        echo "  ($mode: $(grep '^requests:' "$W/h2load.out"))" >&2
    cat "$W/lat.part" >>"$W/lat.$mode"
    timeout 300 h2load --h1 -n "$N_SSE" -c "$C" -d "$W/sse.json" -H 'content-type: application/json' \
        "https://127.0.0.1:$PORT/v1/messages" >"$W/h2load-sse.out" 2>&1
    t1=$(ticks)
    TICKS[$mode]=$(( ${TICKS[$mode]:-0} + t1 - t0 ))
    REQS[$mode]=$(( ${REQS[$mode]:-0} + N + N_SSE ))
    for p in $vpids; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ "$mode" = viewers ]; then
        got=$(cat "$W"/viewer.* | grep -c '^data: ')
        echo "  round with $VIEWERS viewers: $got snapshots delivered" >&2
        rm -f "$W"/viewer.*
    fi
}
pct() { # FILE Q -> microseconds
    awk -F'\t' '$2 == 200 {print $3}' "$1" | sort -n | awk -v q="$2" '{a[NR]=$1} END {i=int(NR*q); if (i<1) i=1; print a[i]}'
}
timeout 120 h2load --h1 -n 2000 -c "$C" -d "$W/small.json" "https://127.0.0.1:$PORT/v1/messages" >/dev/null 2>&1 # warm-up
for r in $(seq "$REPS"); do
    echo "round $r/$REPS" >&2
    if [ $((r % 2)) = 1 ]; then round none; round viewers; else round viewers; round none; fi
done
printf '%-8s %14s %10s %10s\n' mode "CPU us/req" "p50 us" "p99 us"
for mode in none viewers; do
    cpu=$(awk -v t="${TICKS[$mode]}" -v k="$TCK" -v n="${REQS[$mode]}" 'BEGIN {printf "%.1f", t / k / n * 1e6}')
    printf '%-8s %14s %10s %10s\n' "$mode" "$cpu" "$(pct "$W/lat.$mode" 0.5)" "$(pct "$W/lat.$mode" 0.99)"
done
awk -v a="${TICKS[none]}" -v b="${TICKS[viewers]}" -v na="${REQS[none]}" -v nb="${REQS[viewers]}" \
    'BEGIN {printf "CPU per request with %s viewers / without: %.3f\n", "'"$VIEWERS"'", (b / nb) / (a / na)}'
p50a=$(pct "$W/lat.none" 0.5) p50b=$(pct "$W/lat.viewers" 0.5)
p99a=$(pct "$W/lat.none" 0.99) p99b=$(pct "$W/lat.viewers" 0.99)
awk -v a="$p50a" -v b="$p50b" -v c="$p99a" -v d="$p99b" \
    'BEGIN {printf "latency with viewers / without: p50 %.3f, p99 %.3f\n", b / a, d / c}'
