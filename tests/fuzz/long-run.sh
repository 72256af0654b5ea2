#!/bin/sh
# Run one libFuzzer target for a long time, by hand (not in make check), from
# a build configured with --enable-fuzzing:
#   tests/fuzz/long-run.sh NAME [SECONDS]      (default 600)
# The seed corpus is read, never written: new inputs go to a work corpus
# under fuzz-work/NAME in the build directory, crash/leak reproducers to
# fuzz-work/NAME/artifacts/. Prints the line RESULTS.md records.
set -eu
name=${1:?usage: long-run.sh NAME [SECONDS]}
seconds=${2:-600}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
bin=tests/fuzz/fuzz_$name
[ -x "$bin" ] || { echo "no $bin: run from a build made with ./configure --enable-fuzzing" >&2; exit 2; }
work=fuzz-work/$name
mkdir -p "$work/corpus" "$work/artifacts"
dict=
[ -f "$srcdir/tests/fuzz/$name.dict" ] && dict=-dict=$srcdir/tests/fuzz/$name.dict
status=0
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" $dict "$work/corpus" "$srcdir/tests/fuzz/corpus/$name" \
    >"$work/log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
if [ "$status" -eq 0 ]; then result="no crash, leak or sanitizer report"; else result="FAILED (exit $status): see $work/log"; fi
echo "| $(date -u +%Y-%m-%d) | $name | ${seconds}s | ${runs:-?} | ${eps:-?} | $result |"
exit "$status"
