#!/bin/sh
# Every shipped detector against its own samples (and the checks the loader
# makes on labels, tiers, priorities and anchors), through detector_runner.
set -eu
: "${top_builddir:?}"
set -- "$top_builddir"/plugins/detectors/.libs/*.so
[ -f "$1" ] || { echo "FAIL: no detector plugins built"; exit 1; }
exec "$top_builddir/tests/unit/detector_runner" "$@"
