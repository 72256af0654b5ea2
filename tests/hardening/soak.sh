#!/bin/sh
# Soak: SOAK_SECONDS (default 600) of mixed traffic through a build made with
# ./configure --enable-sanitizers, with faults. Not part of make check. Run
# from that build directory:
#   SOAK_SECONDS=600 sh /path/to/src/tests/hardening/soak.sh
#
# Traffic: HTTP/1.1 and h2 curl clients, streaming and not, the mock
# injecting 529s, delays and resets (x-mock-* headers) on some requests;
# h2load bursts over h2 and HTTP/1.1; viewers polling /metrics and the
# dashboard port; SCRUB_MODE=pseudonymize with secrets in every body.
# Faults: 20 SIGHUP reloads spread over the run, 3 SIGKILLs of the core
# (at 20, 35 and 50 % of the run, so RSS is compared over the last part).
#
# Passes when: no connection was refused; every failed request is either
# an injected fault or was in flight when a core was killed; the core's RSS
# at the end is within 10 % of its RSS after warm-up (60 % of the run, after
# the last kill; each the mean of 20 one-second samples); no sanitizer
# report; requests_total and requests_by_status_total in /metrics equal what
# the clients counted (requests cut by a SIGKILL are counted by neither:
# the core counts a request when its exchange ends). The figures go to
# stdout and to REPORT
# (default ./soak-report.txt); the logs are kept in SOAK_LOGS (default
# ./soak-logs).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
SOAK_SECONDS=${SOAK_SECONDS:-600}
REPORT=${REPORT:-$(pwd)/soak-report.txt}
SOAK_LOGS=${SOAK_LOGS:-$(pwd)/soak-logs}
. "$top_srcdir/tests/integration/lib.sh"
need curl
need h2load
grep -q 'fsanitize=address' "$top_builddir/Makefile" ||
    say "warning: $top_builddir is not a --enable-sanitizers build"
# A small quarantine, so that RSS measures the proxy and not ASan's
# recycling bin (256 MB by default); leaks are checked when the core exits.
ASAN_OPTIONS=quarantine_size_mb=16:detect_leaks=1:abort_on_error=0
UBSAN_OPTIONS=print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS

now() { date +%s.%N; }
elapsed() { awk -v s="$START" -v n="$(now)" 'BEGIN { printf "%d", n - s }'; }
rss_of() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

start_mock
start_proxy SCRUB_MODE=pseudonymize \
    SCRUB_HMAC_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
    LOG_LEVEL=info LOG_REQUESTS=true CLIENT_IDLE_TIMEOUT=30 SHUTDOWN_TIMEOUT=20
START=$(now)
END_AT=$(awk -v s="$START" -v d="$SOAK_SECONDS" 'BEGIN { printf "%.0f", s + d }')
mkdir -p "$T/c"
BODY='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"deploy with AKIAIOSFODNN7EXAMPLE and mail alice.dev@example.org"}]}'
SBODY='{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"token ghp_0123456789abcdefghijABCDEFGHIJ012345"}]}'
printf '%s' "$BODY" >"$T/body.json"

# client NAME CURL-OPTIONS...: requests until the end; one line each:
# start end http_code curl_exit fault
client() {
    name=$1; shift
    i=0
    while [ "$(date +%s)" -lt "$END_AT" ]; do
        i=$((i + 1))
        case $((i % 10)) in
            3) fault=529 fh='x-mock-status: 529' ;;
            6) fault=reset fh='x-mock-reset-after: 2' ;;
            8) fault=delay fh='x-mock-delay-ms: 400' ;;
            *) fault=none fh='x-mock-none: 1' ;;
        esac
        s=$(now)
        code=$(curl -sS --max-time 60 --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' \
            -H "$fh" "$@" 2>>"$T/c/$name.err") && rc=0 || rc=$?
        echo "$s $(now) $code $rc $fault" >>"$T/c/$name.log"
    done
}

# h2load NAME OPTIONS...: bursts until the end; one summary line each.
bursts() {
    name=$1; shift
    while [ "$(date +%s)" -lt "$END_AT" ]; do
        s=$(now)
        out=$(h2load -N 30 -n 60 -c 3 -m 4 -d "$T/body.json" -H 'content-type: application/json' \
            -H 'x-mock-events: 3' "$@" "$PURL/v1/messages" 2>&1 || true)
        req=$(echo "$out" | sed -n 's/^requests: //p')
        st=$(echo "$out" | sed -n 's/^status codes: //p')
        echo "$s $(now) | $req | $st" >>"$T/c/$name.log"
        sleep 1
    done
}

viewer() {
    name=$1; url=$2; shift 2
    while [ "$(date +%s)" -lt "$END_AT" ]; do
        code=$(curl -sS --max-time 10 --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' \
            "$@" "$url" 2>/dev/null) || true
        echo "$code" >>"$T/c/viewer-$name.log"
        sleep 0.5
    done
}

PIDS=""
bg() { "$@" & PIDS="$PIDS $!"; started "$!"; }
M=$PURL/v1/messages
bg client h1-json --http1.1 -X POST -H 'content-type: application/json' -d "$BODY" "$M"
bg client h1-sse --http1.1 -N -X POST -H 'content-type: application/json' \
    -H 'x-mock-events: 20' -H 'x-mock-event-delay-ms: 20' -d "$SBODY" "$M"
bg client h2-json --http2 -X POST -H 'content-type: application/json' -d "$BODY" "$M"
bg client h2-sse --http2 -N -X POST -H 'content-type: application/json' \
    -H 'x-mock-events: 20' -H 'x-mock-event-delay-ms: 20' -d "$SBODY" "$M"
bg bursts h2load-h2
bg bursts h2load-h1 --h1
bg viewer metrics "$PURL/metrics" --http2
bg viewer dashboard "$DURL/dashboard"

# the faults, on schedule
: >"$T/events.log"
at() { awk -v s="$SOAK_SECONDS" -v f="$1" 'BEGIN { printf "%d", s * f }'; }
KILLS="$(at 0.20) $(at 0.35) $(at 0.50)"
WARM=$(at 0.60)
reloads=0 kills=0 RSS_WARM="" RSS_MAX=0 next_reload=$(at 0.025)
RELOAD_EVERY=$(awk -v s="$SOAK_SECONDS" 'BEGIN { printf "%.3f", s * 0.95 / 20 }')
while [ "$(date +%s)" -lt "$END_AT" ]; do
    t=$(elapsed)
    if [ "$reloads" -lt 20 ] && [ "$t" -ge "$next_reload" ]; then
        kill -HUP "$PROXY_PID" || true
        reloads=$((reloads + 1))
        echo "$(now) HUP $reloads" >>"$T/events.log"
        next_reload=$(awk -v r="$reloads" -v e="$RELOAD_EVERY" -v f="$(at 0.025)" \
            'BEGIN { printf "%d", f + r * e }')
    fi
    for k in $KILLS; do
        if [ "$t" -ge "$k" ] && ! grep -q "KILL at $k\$" "$T/events.log"; then
            cp=$(core_pid)
            echo "$(now) KILL at $k" >>"$T/events.log"
            [ -n "$cp" ] && kill -KILL "$cp" && kills=$((kills + 1))
            say "t=${t}s: SIGKILL core $cp"
        fi
    done
    cp=$(core_pid)
    if [ -n "$cp" ] && [ "$t" -ge "$WARM" ]; then
        echo "$t $(rss_of "$cp")" >>"$T/rss.log"
    fi
    sleep 1
done
# each figure the mean of 20 one-second samples: after warm-up, and the last
RSS_WARM=$(head -n 20 "$T/rss.log" | awk '{ s += $2 } END { printf "%d", s / NR }')
RSS_END=$(tail -n 20 "$T/rss.log" | awk '{ s += $2 } END { printf "%d", s / NR }')
say "t=$(elapsed)s: end of traffic; core RSS ${RSS_WARM} kB after warm-up, ${RSS_END} kB at the end"
for p in $PIDS; do wait "$p" 2>/dev/null || true; done
sleep 1
pcurl "$PURL/metrics" >"$T/metrics.json"

# ---- what the clients saw -------------------------------------------------
# A failed request is cut by a SIGKILL if one happened while it ran: it
# started before the kill and ended after it. (A request started just after
# a kill is served by the next core, and its injected reset is counted.)
awk '$2 == "KILL" { print $1 }' "$T/events.log" >"$T/kills"
cat "$T"/c/h1-*.log "$T"/c/h2-*.log | awk -v killfile="$T/kills" '
    BEGIN { while ((getline k < killfile) > 0) kills[++nk] = k }
    function cut(s, e,   i) { for (i = 1; i <= nk; i++) if (kills[i] >= s && kills[i] <= e) return 1; return 0 }
    {
        s = $1; e = $2; code = $3; rc = $4; fault = $5; sent++
        if (rc == 7) { refused++; next }
        if (rc == 0 && ((fault == "529" && code == 529) || (fault != "529" && code == 200))) {
            ok++; counted++; status[code]++; next
        }
        if (rc != 0 && cut(s, e)) { killed++; next }
        if (fault == "reset" && code == 200) { injected++; counted++; status[code]++; next }
        if (fault == "529" && code == 200) { ok++; counted++; status[code]++; next }
        other++; otherlist = otherlist " " code "/" rc "/" fault
    }
    END {
        printf "curl: sent=%d ok=%d injected_reset=%d cut_by_sigkill=%d refused=%d other=%d%s\n",
            sent, ok, injected, killed, refused, other, other ? " (" otherlist " )" : ""
        printf "curl_counted=%d\n", counted
        for (c in status) printf "curl_status %s %d\n", c, status[c]
    }' >"$T/curl.sum"
# h2load: "N total, N started, N done, N succeeded, N failed, N errored, N timeout"
cat "$T"/c/h2load-*.log | awk -v killfile="$T/kills" -F'|' '
    BEGIN { while ((getline k < killfile) > 0) kills[++nk] = k }
    {
        split($1, t, " "); s = t[1]; e = t[2]
        n = split($2, r, ","); split($3, st, ",")
        total += r[1] + 0; succeeded += r[4] + 0; failed += r[5] + 0; errored += r[6] + 0
        for (i = 1; i <= 4; i++) { split(st[i], x, " "); cls[x[2]] += x[1] }
        bad = r[5] + r[6] + r[7]
        hit = 0; for (i = 1; i <= nk; i++) if (kills[i] >= s && kills[i] <= e) hit = 1
        if (bad > 0 && hit) killed += bad; else if (bad > 0) other += bad
    }
    END {
        printf "h2load: sent=%d succeeded=%d failed=%d errored=%d cut_by_sigkill=%d other=%d\n",
            total, succeeded, failed, errored, killed, other
        printf "h2load_counted=%d\n", cls["2xx"] + cls["3xx"] + cls["4xx"] + cls["5xx"]
        printf "h2load_status 2xx %d\n", cls["2xx"]
    }' >"$T/h2load.sum"
cat "$T/curl.sum" "$T/h2load.sum"

# ---- checks ----------------------------------------------------------------
status=0
check() { if eval "$1"; then ok "$2"; else say "FAIL: $2"; status=1; fi; }
val() { sed -n "s/^$1=//p" "$T/curl.sum" "$T/h2load.sum"; }
refused=$(sed -n 's/.* refused=\([0-9]*\).*/\1/p' "$T/curl.sum")
curl_other=$(sed -n 's/^curl:.* other=\([0-9]*\).*/\1/p' "$T/curl.sum")
h2_other=$(sed -n 's/^h2load:.* other=\([0-9]*\).*/\1/p' "$T/h2load.sum")
m_total=$(json 'j.counters.requests_total' <"$T/metrics.json")
m_200=$(json 'j.counters["requests_by_status_total{status=\"200\"}"]||0' <"$T/metrics.json")
m_529=$(json 'j.counters["requests_by_status_total{status=\"529\"}"]||0' <"$T/metrics.json")
c_total=$(( $(val curl_counted) + $(val h2load_counted) ))
c_200=$(( $(awk '$1 == "curl_status" && $2 == 200 { print $3 }' "$T/curl.sum" | grep . || echo 0) + \
          $(awk '$1 == "h2load_status" { print $3 }' "$T/h2load.sum") ))
c_529=$(awk '$1 == "curl_status" && $2 == 529 { print $3 }' "$T/curl.sum" | grep . || echo 0)
cut=$(( $(sed -n 's/^curl:.* cut_by_sigkill=\([0-9]*\).*/\1/p' "$T/curl.sum") + \
        $(sed -n 's/^h2load:.* cut_by_sigkill=\([0-9]*\).*/\1/p' "$T/h2load.sum") ))
viewers=$(cat "$T"/c/viewer-*.log | wc -l)
viewer_fail=$(cat "$T/c/viewer-metrics.log" | grep -cv '^200$' || true)
say "metrics: requests_total=$m_total (clients: $c_total), 200: $m_200 ($c_200), 529: $m_529 ($c_529)"
say "viewers: $viewers polls, $viewer_fail /metrics polls without a 200 (core restarts)"
say "reloads: $reloads sent, $(grep -c 'reload done' "$T/proxy.log") done, $(grep -c 'reload failed' "$T/proxy.log" || true) failed"
say "SIGKILLs: $kills; core restarts logged: $(grep -c 'core started' "$T/proxy.log")"
say "core RSS: after warm-up ${RSS_WARM} kB, at the end ${RSS_END} kB"

check '[ "$refused" = 0 ]' "no connection refused"
check '[ "$curl_other" = 0 ] && [ "$h2_other" = 0 ]' "every failure is an injected fault or cut by a SIGKILL"
check '[ "$kills" = 3 ] && [ "$reloads" = 20 ]' "3 SIGKILLs and 20 reloads done"
check '[ "$(grep -c "reload done" "$T/proxy.log")" -ge 20 ]' "every reload succeeded"
check 'awk -v w="$RSS_WARM" -v e="$RSS_END" "BEGIN { exit !(w > 0 && e <= w * 1.10 && e >= w * 0.90) }"' \
    "RSS at the end within 10 % of RSS after warm-up"
check '[ "$m_total" = "$c_total" ] && [ "$m_200" = "$c_200" ] && [ "$m_529" = "$c_529" ]' \
    "counters in /metrics equal what the clients counted"

# stop the proxy ourselves, with time for LeakSanitizer at the core's exit
kill -TERM "$PROXY_PID"
for _ in $(seq 1 300); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
reports=$(grep -c 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T/proxy.log" || true)
say "sanitizer reports: $reports"
check '[ "$reports" = 0 ]' "zero sanitizer reports"
grep -q 'core exited with status 0' "$T/proxy.log" && ok "the last core exited cleanly (status 0)"

{
    echo "soak $(date -u +%Y-%m-%dT%H:%M:%SZ), ${SOAK_SECONDS}s, build $top_builddir"
    cat "$T/curl.sum" "$T/h2load.sum"
    echo "metrics: requests_total=$m_total (clients: $c_total), 200: $m_200 ($c_200), 529: $m_529 ($c_529); cut by SIGKILL: $cut"
    echo "viewers: $viewers polls ($viewer_fail /metrics polls not 200)"
    echo "reloads: $reloads, SIGKILLs: $kills"
    echo "core RSS kB: warm-up $RSS_WARM, end $RSS_END; samples (t kB):"
    awk 'NR % 10 == 1' "$T/rss.log" | tr '\n' ' '; echo
    echo "sanitizer reports: $reports"
    echo "result: $([ $status = 0 ] && echo PASS || echo FAIL)"
} >"$REPORT"
say "report: $REPORT"
rm -rf "$SOAK_LOGS"
mkdir -p "$SOAK_LOGS"
cp -r "$T"/*.log "$T/c" "$T/metrics.json" "$SOAK_LOGS/" 2>/dev/null || true
say "logs: $SOAK_LOGS"
exit "$status"
