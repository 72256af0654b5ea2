#!/bin/sh
# Replay every fuzz target's seed corpus (and any crash reproducers kept
# next to it) through the target, built without libFuzzer. A crash or a
# sanitizer report fails the test.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
status=0
for bin in "$top_builddir"/tests/fuzz/replay_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/replay_}
    corpus=$top_srcdir/tests/fuzz/corpus/$name
    [ -d "$corpus" ] || { echo "FAIL: no corpus for $name"; status=1; continue; }
    if "$bin" "$corpus" >/dev/null; then
        echo "ok: $name: $(ls "$corpus" | wc -l) inputs replayed"
    else
        echo "FAIL: $name"
        status=1
    fi
done
# every corpus needs its replay program: a target left out of the build
# must not pass by being skipped
for corpus in "$top_srcdir"/tests/fuzz/corpus/*/; do
    name=$(basename "$corpus")
    [ -x "$top_builddir/tests/fuzz/replay_$name" ] ||
        { echo "FAIL: no replay_$name built for tests/fuzz/corpus/$name"; status=1; }
done
exit $status
