#!/usr/bin/env bash
# tests/bench/restore-bench.sh: what restoring secrets in tool input costs.
#
# Run by hand (not part of make check):  bash tests/bench/restore-bench.sh
# About two minutes on the 2-core dev machine. Loopback only, bounded loops.
#
# The issue's target: with scrubbing and restore on, an SSE stream carrying
# a tool call costs at most 1.1x the CPU of the same stream with scrubbing
# off, and the extra latency to the client's first tool byte is at most one
# held-back placeholder.
#
# Three proxies side by side in one run, the same build, settings and C
# bench upstream (tests/bench/bench-upstream.c), ledger off:
#   restore  SCRUB_MODE=pseudonymize, the shipped pipeline (etc/pipeline.yaml:
#            every detector restores, the default)
#   scrub    the same, in a copy of the pipeline where every detector has
#            `restore: never`: the request is scrubbed, nothing is restored
#   off      SCRUB_MODE=off, the shipped pipeline
# The request is a Claude Code-shaped body of BODY_SIZE bytes
# (tests/bench/make-body.js, no secrets of its own) with one more turn: a
# Read of deploy.env whose result holds an AWS access key id
# (AKIAIOSFODNN7EXAMPLE) and an e-mail address, so the scrubber makes
# <AWS_ACCESS_KEY_1> and <EMAIL_HMAC:XXXXXXXX> (the key is fixed per run; the
# placeholders are read off `anthropic-proxy scrub`). The upstream answers
# every request with the same stream (x-mock-tool): a short text block, then
# a Write whose input comes in TOOL_N input_json_delta pieces naming both
# placeholders, each cut between two pieces, the first piece ending inside
# the first one. Through "restore" the client gets the values; through the
# others the placeholders as the upstream sent them ("off" sent the upstream
# the raw values, so it is the cost without scrubbing; "scrub" is what
# scrubbing the request costs without restore).
# Figures:
#   1. CPU per tool-call stream: rounds alternate over the three proxies
#      (REPS times, the order turned every round so the machine's noise falls
#      on all alike); each round is h2load --h1, N_SSE streams on C
#      connections, the whole answer at once. CPU is the core process's, all
#      threads, from /proc/PID/task/*/schedstat. scrub_restored_total must
#      grow by the placeholders in the input times the streams, on
#      "restore" only.
#   2. Latency to the tool input (tests/bench/tool-latency.js, node, one
#      request at a time over HTTP/1.1, alternating restore and off, LAT_N
#      each): the upstream pauses GAP_US between events and sends LAT_TOOL_N
#      pieces; medians and 90th percentiles, from writing the request to the
#      first tool byte, to the first byte after "AWS_ACCESS_KEY_ID=" (the
#      cut placeholder, held back by restore until the next piece completes
#      it: its extra latency should be one inter-piece gap, printed beside
#      it as the client saw it on "off") and to the end. And the most tool
#      input bytes "restore" held at once (scrub_restore_held_bytes_max)
#      against the bound (restore.h: 6 x the longest placeholder - 1).
#   PROFILE=1 adds a perf profile of the "restore" core during one more load
#   of N_SSE streams: its self time by DSO, by plugin source file and by
#   symbol (tests/bench/perf-self.py), and the symbols that grew most from
#   a profile of "scrub" doing the same.
#
# Knobs: REPS (4), N_SSE (4000), C (16), BODY_SIZE (30000), TOOL_N (40),
#        LAT_N (200), LAT_TOOL_N (8), GAP_US (2000), PROFILE (0), PROXY_BIN,
#        KEEP=1.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PROXY_BIN=${PROXY_BIN:-$TOP/anthropic-proxy}
REPS=${REPS:-4} N_SSE=${N_SSE:-4000} C=${C:-16} BODY_SIZE=${BODY_SIZE:-30000} TOOL_N=${TOOL_N:-40}
LAT_N=${LAT_N:-200} LAT_TOOL_N=${LAT_TOOL_N:-8} GAP_US=${GAP_US:-2000} PROFILE=${PROFILE:-0}
W=$(mktemp -d "${TMPDIR:-/tmp}/apx-restore-bench.XXXXXX")
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
command -v node >/dev/null || die "node missing (the body and the latency client)"
[ -x "$PROXY_BIN" ] || die "$PROXY_BIN missing: run make first"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
T0=$(date +%s)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null || die "openssl failed"
gcc -O2 -o "$W/upstream" "$HERE/bench-upstream.c" \
    $(pkg-config --cflags --libs libnghttp2 libevent_openssl libevent openssl) || die "gcc failed"
"$W/upstream" --cert "$W/cert.pem" --key "$W/key.pem" --host 127.0.0.1 --port 0 \
    --port-file "$W/up.port" >"$W/up.log" 2>&1 &
started $!
for _ in $(seq 50); do [ -s "$W/up.port" ] && break; sleep 0.1; done
[ -s "$W/up.port" ] || die "bench upstream did not start"
openssl rand -hex 32 >"$W/hmac.hex"

# ---- the request: a Claude Code body, then a Read of deploy.env
node "$HERE/make-body.js" "$BODY_SIZE" 1 0 >"$W/base.json" || die "make-body.js failed"
node -e '
const fs = require("fs");
const b = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const env = ["# deploy settings for billing-api (do not commit)", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
  "AWS_REGION=eu-west-1", "ONCALL_EMAIL=jane.doe@example.com", "LOG_LEVEL=info"];
const file = env.map((l, i) => `${String(i + 1).padStart(6)}\u2192${l}`).join("\n");
b.messages.push({ role: "user", content: [{ type: "text", text: "Copy deploy.env to deploy.copy.env." }] });
b.messages.push({ role: "assistant", content: [{ type: "text", text: "Reading it first." },
  { type: "tool_use", id: "toolu_read_env", name: "Read", input: { file_path: "/home/dev/billing-api/deploy.env" } }] });
b.messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_read_env", content: file }] });
process.stdout.write(JSON.stringify(b));' "$W/base.json" >"$W/body.json" || die "building the body failed"
printf 'ANTHROPIC_PROXY_PLUGIN_DIR=%s\nANTHROPIC_PROXY_PIPELINE=%s\n' \
    "$(dirname "$PROXY_BIN")/plugins" "$TOP/etc/pipeline.yaml" >"$W/scrub.cmd.env"
"$PROXY_BIN" scrub --config "$W/scrub.cmd.env" --key-file "$W/hmac.hex" <"$W/body.json" \
    >"$W/body.scrubbed" 2>"$W/scrub.err" || die "anthropic-proxy scrub failed: $(tail -3 "$W/scrub.err")"
PH_AWS=$(grep -o '<AWS_ACCESS_KEY_[0-9]*>' "$W/body.scrubbed" | head -n 1)
PH_MAIL=$(grep -o '<EMAIL_HMAC:[0-9A-F]*>' "$W/body.scrubbed" | head -n 1)
[ -n "$PH_AWS" ] && [ -n "$PH_MAIL" ] || die "the scrubber made no placeholders: $(cat "$W/scrub.err")"
FOUND=$(sed -n 's/.*replaced \([0-9]*\) value.*/\1/p' "$W/scrub.err" | head -n 1)
# the longest placeholder of the request's map bounds what restore holds
PH_MAX=$(grep -o '<[A-Z0-9_]*\(_HMAC:[0-9A-F]*\|_[0-9]*\)>' "$W/body.scrubbed" | sort -u | awk '{ if (length($0) > m) m = length($0) } END { print m }')
HOLD_BOUND=$((6 * PH_MAX - 1))

# the pipeline with restore off for every detector
awk '/^detectors:/ { d = 1 } { print } d && /^    enabled: true$/ { print "    restore: never" }' \
    "$TOP/etc/pipeline.yaml" >"$W/pipeline-norestore.yaml"
grep -c 'restore: never' "$W/pipeline-norestore.yaml" >"$W/nr.count"
[ "$(cat "$W/nr.count")" -gt 10 ] || die "could not make the restore: never pipeline"

declare -A PORT CORE
start_proxy() { # NAME SCRUB_MODE PIPELINE
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
ANTHROPIC_PROXY_PIPELINE=$3
ANTHROPIC_PROXY_PLUGIN_DIR=$(dirname "$PROXY_BIN")/plugins
ANTHROPIC_PROXY_PRICES=$TOP/etc/prices.yaml
ANTHROPIC_PROXY_LEDGER_PATH=off
ANTHROPIC_PROXY_SCRUB_MODE=$2
ANTHROPIC_PROXY_SCRUB_HMAC_KEY=$(cat "$W/hmac.hex")
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
start_proxy restore pseudonymize "$TOP/etc/pipeline.yaml"
start_proxy scrub pseudonymize "$W/pipeline-norestore.yaml"
start_proxy off off "$TOP/etc/pipeline.yaml"
MODES="restore scrub off"
counter() { # MODE NAME
    curl -sk "https://127.0.0.1:${PORT[$1]}/metrics" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get(sys.argv[1], 0))' "$2"
}
HDR=(-H 'content-type: application/json' -H "x-mock-tool-ph: $PH_AWS $PH_MAIL")

# ---- one stream through each: what the client gets in the tool input
assemble() { # the tool input of an SSE answer on stdin
    python3 -c '
import json, sys
s = "".join(json.loads(l[5:])["delta"]["partial_json"] for l in sys.stdin
            if l.startswith("data:") and "input_json_delta" in l)
print(s)'
}
for mode in $MODES; do
    curl -sk --http1.1 --max-time 10 -D "$W/check.$mode.head" "${HDR[@]}" -H "x-mock-tool: $TOOL_N" \
        --data-binary "@$W/body.json" "https://127.0.0.1:${PORT[$mode]}/v1/messages" \
        >"$W/check.$mode.raw"
    assemble <"$W/check.$mode.raw" >"$W/check.$mode"
done
NPH=$(sed -n 's/^x-mock-tool-placeholders: *\([0-9]*\).*/\1/ip' "$W/check.off.head" | tr -d '\r')
[ -n "$NPH" ] || die "the upstream did not answer with a tool call: $(head -3 "$W/check.off.head")"
python3 -c 'import json,sys; json.loads(open(sys.argv[1]).read())' "$W/check.restore" ||
    die "the restored tool input is not JSON: $(head -c 300 "$W/check.restore")"
values_in() { grep -o 'AKIAIOSFODNN7EXAMPLE\|jane\.doe@example\.com' "$1" | wc -l; }
phs_in() { grep -oF -e "$PH_AWS" -e "$PH_MAIL" "$1" | wc -l; }
[ "$(values_in "$W/check.restore")" = "$NPH" ] && [ "$(phs_in "$W/check.restore")" = 0 ] ||
    die "restore: the tool input does not hold the $NPH values: $(head -c 400 "$W/check.restore")"
for mode in scrub off; do
    [ "$(phs_in "$W/check.$mode")" = "$NPH" ] && [ "$(values_in "$W/check.$mode")" = 0 ] ||
        die "$mode: the tool input does not hold the $NPH placeholders: $(head -c 400 "$W/check.$mode")"
done
sample() { sed -n 's/.*\(AWS_ACCESS_KEY_ID=[^\\]*\)\\n.*ONCALL_EMAIL=\([^\\]*\)\\n.*/\1 ONCALL_EMAIL=\2/p' "$1"; }

# ---- 1. CPU per stream
cpu_ns() { cat /proc/"${CORE[$1]}"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
load() { # MODE N [h2load args]
    local mode=$1 n=$2
    shift 2
    timeout 300 h2load "$@" -n "$n" -d "$W/body.json" "${HDR[@]}" -H "x-mock-tool: $TOOL_N" \
        "https://127.0.0.1:${PORT[$mode]}/v1/messages" >"$W/h2load.out" 2>&1
    grep -q "$n succeeded, 0 failed" "$W/h2load.out" || {
        echo "  ($mode: $(grep '^requests:' "$W/h2load.out"))" >&2
        FAILED=1
    }
}
FAILED=0
declare -A SSE R0 R1
round() { # MODE
    local t0 t1
    t0=$(cpu_ns "$1")
    load "$1" "$N_SSE" --h1 -c "$C"
    t1=$(cpu_ns "$1")
    SSE[$1]=$(( ${SSE[$1]:-0} + t1 - t0 ))
}
for mode in $MODES; do load "$mode" 1000 --h1 -c "$C"; done # warm-up
sleep 1.6 # the counters in /metrics are read every 1.5 s
for mode in $MODES; do R0[$mode]=$(counter "$mode" scrub_restored_total); done
ORDERS=("restore scrub off" "off restore scrub" "scrub off restore" "off scrub restore" "restore off scrub" "scrub restore off")
for r in $(seq "$REPS"); do
    echo "round $r/$REPS: ${ORDERS[$(( (r - 1) % 6 ))]}" >&2
    for mode in ${ORDERS[$(( (r - 1) % 6 ))]}; do round "$mode"; done
done
sleep 1.6
for mode in $MODES; do R1[$mode]=$(counter "$mode" scrub_restored_total); done
per() { awk -v t="$1" -v n=$((N_SSE * REPS)) 'BEGIN {printf "%.1f", t / n / 1000}'; }
cpu_restore=$(per "${SSE[restore]}") cpu_scrub=$(per "${SSE[scrub]}") cpu_off=$(per "${SSE[off]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3fx", a / b}'; }
want=$((NPH * N_SSE * REPS))
got=$(( R1[restore] - R0[restore] ))
[ "$got" = "$want" ] || echo "  (restore: scrub_restored_total grew by $got, want $want)" >&2
[ "$(( R1[scrub] - R0[scrub] ))" = 0 ] || echo "  (scrub: scrub_restored_total grew)" >&2

# ---- optional: where the restore proxy's CPU goes
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
    # the plugins' symbols: tests/bench/perf-self.py (the core loads private
    # copies of them, which perf cannot name); "scrub" as the base, so what
    # restoring adds shows
    for mode in restore scrub; do
        perf record -q -g -o "$W/perf.$mode" -p "${CORE[$mode]}" -- sleep 60 2>"$W/perf.err" &
        pp=$!
        sleep 0.5
        load "$mode" "$N_SSE" --h1 -c "$C"
        kill -INT "$pp" 2>/dev/null
        wait "$pp"
    done
    python3 "$HERE/perf-self.py" "$W/perf.restore" "$(dirname "$PROXY_BIN")/plugins" 25 \
        "$W/perf.scrub" >"$W/profile.txt" 2>&1
fi

# ---- 2. latency to the tool input
sleep 1.6
L0=$(counter restore scrub_restored_total)
printf 'x-mock-tool: %s\nx-mock-event-delay-us: %s\nx-mock-tool-ph: %s %s\n' \
    "$LAT_TOOL_N" "$GAP_US" "$PH_AWS" "$PH_MAIL" >"$W/lat.headers"
HEADERS=$(cat "$W/lat.headers") timeout 600 node "$HERE/tool-latency.js" "$W/cert.pem" "$W/body.json" \
    "$LAT_N" "${PORT[restore]}" "${PORT[off]}" >"$W/lat.json" || die "tool-latency.js failed"
sleep 1.6
L1=$(counter restore scrub_restored_total)
held=$(counter restore scrub_restore_held_bytes_max)
unknown=$(counter restore scrub_restore_unknown_total)
# "restore" then "off": one line each
python3 - "$W/lat.json" "${PORT[restore]}" >"$W/lat.txt" <<'EOF'
import json, sys
rows = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    rows["restore" if o["port"] == sys.argv[2] else "off"] = o
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]
def fmt(v): return "%.2f / %.2f" % (q(v, 0.5), q(v, 0.9))
r, o = rows["restore"], rows["off"]
gap = [b - a for a, b in zip(o["first"], o["second"])]
extra = [a - b for a, b in zip(r["secret"], o["secret"])]
first_extra = [a - b for a, b in zip(r["first"], o["first"])]
print("first %s|%s|%+.2f" % (fmt(r["first"]), fmt(o["first"]), q(r["first"], .5) - q(o["first"], .5)))
print("secret %s|%s|%+.2f" % (fmt(r["secret"]), fmt(o["secret"]), q(r["secret"], .5) - q(o["secret"], .5)))
print("end %s|%s|%+.2f" % (fmt(r["end"]), fmt(o["end"]), q(r["end"], .5) - q(o["end"], .5)))
print("gap %s" % fmt(gap))
print("values %d|%d" % (sum(r["values"].values()), sum(o["values"].values())))
print("n %d" % r["n"])
EOF
lat() { sed -n "s/^$1 //p" "$W/lat.txt"; }
lat_n=$(lat n)
lat_vals=$(lat values | cut -d'|' -f1)

# ---- the report
cat <<EOT
restore benchmark, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(( $(date +%s) - T0 )) s
request: Claude Code-shaped body, $(wc -c <"$W/body.json") bytes, $FOUND values scrubbed ($PH_AWS, $PH_MAIL);
answer: text block + Write tool_use in $TOOL_N input_json_delta pieces naming $NPH placeholders, $(wc -c <"$W/check.off.raw") bytes
  restore: $(sample "$W/check.restore")
  scrub:   $(sample "$W/check.scrub")
  off:     $(sample "$W/check.off")
CPU us per tool-call stream (h1, c=$C, ${REPS}x$N_SSE)
                                            restore    scrub      off
core, all threads                           $(printf '%-10s %-10s %s' "$cpu_restore" "$cpu_scrub" "$cpu_off")
restore vs off: $(ratio "$cpu_restore" "$cpu_off") (target <= 1.1x); restore vs scrub: $(ratio "$cpu_restore" "$cpu_scrub"); scrub vs off: $(ratio "$cpu_scrub" "$cpu_off")
  of which scrubbing the request $(awk -v a="$cpu_scrub" -v b="$cpu_off" 'BEGIN {printf "%.1f", a - b}') us, restoring the answer $(awk -v a="$cpu_restore" -v b="$cpu_scrub" 'BEGIN {printf "%.1f", a - b}') us
  scrub_restored_total grew by $got (want $NPH x $((N_SSE * REPS)) = $want); on scrub by $(( R1[scrub] - R0[scrub] ))
latency, ms from writing the request (HTTP/1.1, one at a time, ${lat_n}x each,
  $LAT_TOOL_N pieces, upstream pause ${GAP_US} us between events)
                                  restore          off              median extra
                                  median / p90     median / p90
first tool byte                   $(lat first | awk -F'|' '{printf "%-16s %-16s %s", $1, $2, $3}')
first byte after the cut key      $(lat secret | awk -F'|' '{printf "%-16s %-16s %s", $1, $2, $3}')
end of the answer                 $(lat end | awk -F'|' '{printf "%-16s %-16s %s", $1, $2, $3}')
inter-piece gap seen on off       $(lat gap)  (median / p90; the most the held placeholder may add)
values restored in the latency run: $((L1 - L0)) counted (one warm-up stream included), $lat_vals seen by the client; unknown placeholders $unknown
most tool input bytes held at once: $held (scrub_restore_held_bytes_max; bound 6 x $PH_MAX - 1 = $HOLD_BOUND)
EOT
[ -s "$W/profile.txt" ] && { echo "perf profile of the restore core, $N_SSE streams (self, top symbols):"; cat "$W/profile.txt"; }
[ "$FAILED" = 0 ] || echo "some loads had failed requests (see above)"
