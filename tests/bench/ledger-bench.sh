#!/usr/bin/env bash
# tests/bench/ledger-bench.sh: what the ledger costs the proxy.
#
# Run by hand (not part of make check):  bash tests/bench/ledger-bench.sh
# About four minutes on the 2-core dev machine. Loopback only, bounded loops.
#
# Two proxies side by side in one run, the same shipped pipeline, settings,
# developers file (one capped developer, whose key every request carries,
# so attribution and the caps run in both) and C bench upstream
# (tests/bench/bench-upstream.c): "on" writes the ledger to $TMPDIR, "off"
# has LEDGER_PATH=off. Figures:
#   1. CPU per request: rounds alternate on/off (REPS times, the order
#      swapped every round so the machine's noise falls on both alike); each
#      round is h2load --h1, N small POSTs then N_SSE streamed answers, on C
#      connections. CPU is the core process's, all threads (the writer
#      thread included), from /proc/PID/task/*/schedstat, in ns.
#   2. Ledger rows per second: on "on", N_MAX small POSTs over h2 as fast as
#      the proxy serves them; rows written during the run, rows dropped, and
#      how long the writer took to catch up. Then the writer alone
#      (ledger-writer-bench.c, the same queue and store without a proxy).
#   3. Event-loop pauses at a paced rate (RATE_C connections, each waiting
#      DELAY_US in the bench upstream before each answer: about 5,000
#      requests/s here, printed): perf records the core's loop thread
#      entering and leaving epoll_wait, and the scheduler switching it out
#      and in; a turn is the time from leaving epoll_wait to entering it
#      again (all the loop's work for what it woke for). Its wall time, and
#      its own time: the wall time less the time it was preempted (runnable
#      while another process had its core; a turn blocked on a lock or the
#      disk still counts). The largest, the 99.9th percentile and the number
#      over 1 ms, on and off. Needs perf (Debian: linux-perf) and permission
#      to trace system-wide (root); skipped otherwise.
#
# Knobs: REPS (4), N (20000), N_SSE (5000), C (16), N_MAX (100000),
#        RATE_C (24), DELAY_US (2000), PACE_S (20), PROXY_BIN.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PROXY_BIN=${PROXY_BIN:-$TOP/anthropic-proxy}
REPS=${REPS:-4} N=${N:-20000} N_SSE=${N_SSE:-5000} C=${C:-16} N_MAX=${N_MAX:-100000}
RATE_C=${RATE_C:-24} DELAY_US=${DELAY_US:-2000} PACE_S=${PACE_S:-20}
W=$(mktemp -d "${TMPDIR:-/tmp}/apx-ledger-bench.XXXXXX")
PIDS=""
die() { echo "bench: $*" >&2; exit 1; }
started() { PIDS="$PIDS $1"; }
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.5
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
    [ -n "${KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
command -v h2load >/dev/null || die "h2load missing (apt-get install nghttp2-client)"
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing: run make first"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
T0=$(date +%s)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null || die "openssl failed"
gcc -O2 -o "$W/upstream" "$HERE/bench-upstream.c" \
    $(pkg-config --cflags --libs libnghttp2 libevent_openssl libevent openssl) || die "gcc failed"
gcc -O2 -pthread -I"$TOP/plugins/stages/metrics" -o "$W/writer-bench" "$HERE/ledger-writer-bench.c" \
    "$TOP/plugins/stages/metrics/ledger.c" "$TOP/plugins/stages/metrics/ledger_sqlite.c" \
    $(pkg-config --cflags --libs sqlite3) || die "gcc (writer bench) failed"
"$W/upstream" --cert "$W/cert.pem" --key "$W/key.pem" --host 127.0.0.1 --port 0 \
    --port-file "$W/up.port" >"$W/up.log" 2>&1 &
started $!
for _ in $(seq 50); do [ -s "$W/up.port" ] && break; sleep 0.1; done
[ -s "$W/up.port" ] || die "bench upstream did not start"

# one developer with a cap far above what the bench spends
KEY=sk-ant-api03-bench-not-a-real-key-0000
{
    printf 'version: 1\ndevelopers:\n'
    printf '%s' "$KEY" | "$PROXY_BIN" developer add bench --team perf 2>/dev/null |
        sed 's/}$/, daily_usd: 1000000}/'
} >"$W/developers.yaml"

declare -A PORT CORE
start_proxy() { # MODE LEDGER_PATH
    local mode=$1 p d sup
    p=$(free_port) d=$(free_port)
    cat >"$W/$mode.env" <<EOT
ANTHROPIC_PROXY_HOST=127.0.0.1
ANTHROPIC_PROXY_PORT=$p
ANTHROPIC_PROXY_DASHBOARD_PORT=$d
ANTHROPIC_PROXY_TLS_CERT=$W/cert.pem
ANTHROPIC_PROXY_TLS_KEY=$W/key.pem
ANTHROPIC_PROXY_UPSTREAM_BASE_URL=https://localhost:$(cat "$W/up.port")
ANTHROPIC_PROXY_UPSTREAM_CA_FILE=$W/cert.pem
ANTHROPIC_PROXY_LOG_LEVEL=warning
ANTHROPIC_PROXY_PIPELINE=$TOP/etc/pipeline.yaml
ANTHROPIC_PROXY_PLUGIN_DIR=$(dirname "$PROXY_BIN")/plugins
ANTHROPIC_PROXY_PRICES=$TOP/etc/prices.yaml
ANTHROPIC_PROXY_DEVELOPERS=$W/developers.yaml
ANTHROPIC_PROXY_LEDGER_PATH=$2
EOT
    "$PROXY_BIN" --foreground --config "$W/$mode.env" >"$W/$mode.log" 2>&1 &
    sup=$!
    started $sup
    for _ in $(seq 100); do
        curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$p/health" && break; sleep 0.1
    done
    CORE[$mode]=$(pgrep -P "$sup" -f -- --core | head -n 1)
    [ -n "${CORE[$mode]}" ] || die "proxy $mode did not start: $(tail -5 "$W/$mode.log")"
    PORT[$mode]=$p
}
start_proxy on "$W/ledger.sqlite"
start_proxy off off
counter() { # MODE NAME
    curl -sk "https://127.0.0.1:${PORT[$1]}/metrics" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get(sys.argv[1], 0))' "$2"
}

echo '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}' >"$W/small.json"
echo '{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello"}]}' >"$W/sse.json"
HDR=(-H 'content-type: application/json' -H "x-api-key: $KEY")
# CPU ns of every thread of the core; of its loop thread alone
cpu_ns() { cat /proc/"${CORE[$1]}"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
loop_ns() { cut -d' ' -f1 /proc/"${CORE[$1]}"/task/"${CORE[$1]}"/schedstat; }
load() { # MODE N BODY [h2load args]
    local mode=$1 n=$2 body=$3
    shift 3
    timeout 300 h2load "$@" -n "$n" -d "$body" "${HDR[@]}" \
        "https://127.0.0.1:${PORT[$mode]}/v1/messages" >"$W/h2load.out" 2>&1
    grep -q "$n succeeded, 0 failed" "$W/h2load.out" ||
        echo "  ($mode: $(grep '^requests:' "$W/h2load.out"))" >&2
}

# ---- 1. CPU per request, on and off side by side
declare -A SMALL SSE LOOP
round() { # MODE
    local mode=$1 t0 t1 t2 l0 l1
    t0=$(cpu_ns "$mode") l0=$(loop_ns "$mode")
    load "$mode" "$N" "$W/small.json" --h1 -c "$C"
    t1=$(cpu_ns "$mode") l1=$(loop_ns "$mode")
    load "$mode" "$N_SSE" "$W/sse.json" --h1 -c "$C"
    t2=$(cpu_ns "$mode")
    SMALL[$mode]=$(( ${SMALL[$mode]:-0} + t1 - t0 ))
    LOOP[$mode]=$(( ${LOOP[$mode]:-0} + l1 - l0 ))
    SSE[$mode]=$(( ${SSE[$mode]:-0} + t2 - t1 ))
}
for mode in on off; do load "$mode" 2000 "$W/small.json" --h1 -c "$C"; done # warm-up
for r in $(seq "$REPS"); do
    echo "round $r/$REPS" >&2
    if [ $((r % 2)) = 1 ]; then round on; round off; else round off; round on; fi
done
small_on=$(awk -v t="${SMALL[on]}" -v n=$((N * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
small_off=$(awk -v t="${SMALL[off]}" -v n=$((N * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
loop_on=$(awk -v t="${LOOP[on]}" -v n=$((N * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
loop_off=$(awk -v t="${LOOP[off]}" -v n=$((N * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
sse_on=$(awk -v t="${SSE[on]}" -v n=$((N_SSE * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
sse_off=$(awk -v t="${SSE[off]}" -v n=$((N_SSE * REPS)) 'BEGIN {printf "%.2f", t / n / 1000}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f %%", (a / b - 1) * 100}'; }

# ---- 2. rows per second
# The rows are counted in the file itself, by a new process every 0.1 s:
# connections of one long-lived process, even new ones, went on seeing an
# old snapshot of the WAL file (the counters in /metrics are only read
# every 1.5 s).
rows_in_file() {
    python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT count(*) FROM exchanges").fetchall()[0][0])' "$W/ledger.sqlite"
}
sleep 2 # the rounds' rows written
d0=$(counter on ledger_rows_dropped_total)
base=$(rows_in_file)
(
    end=$(( $(date +%s) + 120 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$(( $(rows_in_file) - base ))
        echo "$(date +%s.%N) $n"
        [ "$n" -ge "$N_MAX" ] && break
        sleep 0.1
    done
) >"$W/rows.trace" &
counter_pid=$!
s0=$(date +%s.%N)
load on "$N_MAX" "$W/small.json" -c 8 -m 16
s1=$(date +%s.%N)
wait "$counter_pid"
# from the first row to the last; the best 1 s (samples at least 1 s apart)
read -r rows_avg rows_best r_last rows_seen < <(awk '
    { t[NR] = $1; n[NR] = $2 }
    END {
        for (f = 1; f <= NR && n[f] == 0; f++);
        best = 0; j = f
        for (i = f; i <= NR; i++) {
            while (j < i && t[i] - t[j + 1] >= 1) j++
            if (t[i] - t[j] >= 1 && (n[i] - n[j]) / (t[i] - t[j]) > best) best = (n[i] - n[j]) / (t[i] - t[j])
        }
        avg = NR > f ? (n[NR] - n[f]) / (t[NR] - t[f]) : 0
        printf "%.0f %.0f %.3f %d\n", avg, best, t[NR], n[NR]
    }' "$W/rows.trace")
[ "$rows_seen" -ge "$N_MAX" ] || echo "  (only $rows_seen of $N_MAX rows in the file after 120 s)" >&2
d2=$(counter on ledger_rows_dropped_total)
served=$(awk -v n="$N_MAX" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.0f", n / (b - a)}')
catchup=$(awk -v a="$s1" -v b="$r_last" 'BEGIN {printf "%.2f", b - a}')
rows_file=$(du -ck "$W/ledger.sqlite"* | tail -n 1 | cut -f1)K
rm -f "$W/alone.sqlite"*
alone=$("$W/writer-bench" "$W/alone.sqlite" 500000) || alone="failed"

# ---- 3. event-loop pauses at about 5,000 requests/s
# A turn's wall time includes the time the loop thread was preempted
# (runnable, another process on its core: a shared 2-core machine); its own
# time is the rest: running, or blocked inside the turn (a lock, a disk
# wait), which is what the proxy itself would make a request wait for.
pauses() { # MODE -> "rate max_wall p999_wall over_wall max_own p999_own over_own turns"
    local mode=$1 core=${CORE[$1]}
    local sc="common_pid == $core && (id == 232 || id == 281 || id == 441 || id == 202)"
    rm -f "$W/perf.$mode"
    # the connections' TLS handshakes come first, all at once: traced from
    # 2 s after the start to 1 s before the end
    timeout $((PACE_S + 20)) h2load --h1 -c "$RATE_C" -D "$PACE_S" -d "$W/small.json" "${HDR[@]}" \
        -H "x-mock-delay-us: $DELAY_US" "https://127.0.0.1:${PORT[$mode]}/v1/messages" \
        >"$W/paced.$mode" 2>&1 &
    local hp=$!
    sleep 2
    timeout $((PACE_S + 10)) perf record -q -a -o "$W/perf.$mode" \
        -e raw_syscalls:sys_enter --filter "$sc" -e raw_syscalls:sys_exit --filter "$sc" \
        -e sched:sched_switch --filter "prev_pid == $core || next_pid == $core" \
        -- sleep $((PACE_S - 3)) 2>"$W/perf.err"
    wait "$hp"
    local rate
    rate=$(sed -n 's/.*finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$W/paced.$mode" | cut -d. -f1)
    perf script -i "$W/perf.$mode" -F time,event,trace 2>/dev/null >"$W/trace.$mode"
    # futex: the loop thread waiting for a lock (the ledger queue's is the
    # only one it shares with another thread)
    awk '{ t = $1; sub(/:$/, "", t); t *= 1e6 }
        /sys_enter/ && /NR 202 / { f = t; next }
        /sys_exit/ && /NR 202 / && f { d = t - f; n++; if (d > max) max = d; f = 0 }
        END { printf "%d %.0f\n", n, max }' "$W/trace.$mode" >"$W/futex.$mode"
    grep -v 'NR 202 ' "$W/trace.$mode" | awk -v core="$core" '
        { t = $1; sub(/:$/, "", t); t *= 1e6 }
        /sys_exit/ { start = t; pre = 0; next }
        /sched_switch/ {
            if ($0 ~ ("prev_pid=" core " ")) { out = t; state = $0; sub(/.*prev_state=/, "", state); state = substr(state, 1, 1) }
            else if (start && out) { if (state == "R") pre += t - out; out = 0 }
            next
        }
        /sys_enter/ && start { printf "%.1f %.1f\n", t - start, t - start - pre; start = 0 }' >"$W/turns.$mode"
    rm -f "$W/trace.$mode"
    stats() { sort -n | awk '{ v[++n] = $1; if ($1 > 1000) over++ }
        END { if (!n) { printf "- - -"; exit } i = int(n * 0.999); if (i < 1) i = 1
              printf "%.0f %.0f %d", v[n], v[i], over }'; }
    echo "${rate:-?} $(cut -d' ' -f1 "$W/turns.$mode" | stats) $(cut -d' ' -f2 "$W/turns.$mode" | stats) $(wc -l <"$W/turns.$mode") $(cat "$W/futex.$mode")"
}
if command -v perf >/dev/null && perf record -q -a -o "$W/perf.try" -e sched:sched_switch -- sleep 0.1 2>/dev/null; then
    # off first: the rows section just before left the "on" writer busy
    read -r rate_off wmax_off wp_off wover_off omax_off op_off oover_off turns_off fn_off fmax_off < <(pauses off)
    read -r rate_on wmax_on wp_on wover_on omax_on op_on oover_on turns_on fn_on fmax_on < <(pauses on)
    paused=1
else
    echo "perf cannot trace here: event-loop pauses not measured" >&2
    paused=0
fi

# ---- the report
[ "$(counter on ledger_write_errors_total)" = 0 ] || echo "  (ledger write errors: see $W/on.log)" >&2
cat <<EOT
ledger benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, $(( $(date +%s) - T0 )) s
ledger in $(df -T "$W" | awk 'NR == 2 {print $2 " on " $1}'); shipped pipeline; one capped developer on every request
                                            ledger on     ledger off    on vs off
CPU us per small POST (h1, c=$C, ${REPS}x$N)     $(printf '%-13s %-13s %s' "$small_on" "$small_off" "$(ratio "$small_on" "$small_off")")
  of which the loop thread                 $(printf '%-13s %-13s %s' "$loop_on" "$loop_off" "$(ratio "$loop_on" "$loop_off")")
CPU us per SSE stream (h1, c=$C, ${REPS}x$N_SSE)  $(printf '%-13s %-13s %s' "$sse_on" "$sse_off" "$(ratio "$sse_on" "$sse_off")")
rows: $N_MAX small POSTs over h2 (8 conns x 16) at $served req/s: $rows_avg rows/s from the first row
      to the last (best 1 s: $rows_best), $((d2 - d0)) dropped, the last row ${catchup} s after the last answer;
      ledger files ${rows_file}
rows: the writer alone (no proxy): $alone
EOT
if [ "$paused" = 1 ]; then
    cat <<EOT
event-loop turns at a paced rate (h1, $RATE_C conns, upstream waits $DELAY_US us, $((PACE_S - 3)) s traced)
                                            ledger on     ledger off
requests/s                                  $(printf '%-13s %s' "$rate_on" "$rate_off")
loop turns traced                           $(printf '%-13s %s' "$turns_on" "$turns_off")
own time (wall less preempted): largest, us $(printf '%-13s %s' "$omax_on" "$omax_off")
  99.9th percentile, us                     $(printf '%-13s %s' "$op_on" "$op_off")
  turns over 1 ms                           $(printf '%-13s %s' "$oover_on" "$oover_off")
futex calls of the loop thread; longest, us $(printf '%-13s %s' "$fn_on; $fmax_on" "$fn_off; $fmax_off")
wall time: largest, us                      $(printf '%-13s %s' "$wmax_on" "$wmax_off")
  99.9th percentile, us                     $(printf '%-13s %s' "$wp_on" "$wp_off")
  turns over 1 ms                           $(printf '%-13s %s' "$wover_on" "$wover_off")
EOT
fi
