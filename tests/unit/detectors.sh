#!/bin/sh
# Every shipped detector against its own samples (and the checks the loader
# makes on labels, tiers, priorities and anchors), through detector_runner.
set -eu
: "${top_builddir:?}"
set -- "$top_builddir"/plugins/detectors/.libs/*.so
[ -f "$1" ] || { echo "FAIL: no detector plugins built"; exit 1; }
out=$("$top_builddir/tests/unit/detector_runner" "$@") || { echo "$out"; exit 1; }
echo "$out"
# anthropic-proxy-detectors(7) gives each built-in detector's label, tier and
# priority: they must be the plugin's own.
man=${top_srcdir:?}/man/anthropic-proxy-detectors.7
echo "$out" | sed -n 's/^ok: \([a-z_0-9]*\) \([A-Z_0-9]*\) \([a-z]*\) \([0-9]*\) .*/\1 \2 \3 \4/p' |
while read -r name label tier prio; do
    [ "$name" = regex ] && continue
    grep -q "^\.SS $name \\\\(em $label, $tier, $prio\$" "$man" ||
        { echo "FAIL: $man lacks '.SS $name \\(em $label, $tier, $prio'"; exit 1; }
done
echo "ok: anthropic-proxy-detectors(7) names every detector's label, tier and priority"
# ... and each its default action and a note on false positives.
missing=$(awk '/^\.SS [a-z_0-9]+ \\\(em/ { if (n && !(d && f)) print n; n = $2; d = f = 0 }
               /^Default action:/ { d = 1 } /^False positives:/ { f = 1 }
               /^\.SH/ { if (n && !(d && f)) print n; n = "" }' "$man")
[ -z "$missing" ] || { echo "FAIL: $man: no 'Default action:' or 'False positives:' for:" $missing; exit 1; }
echo "ok: anthropic-proxy-detectors(7) gives each detector's default action and false positives"
