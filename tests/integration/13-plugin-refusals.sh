#!/bin/sh
# The loader refuses, each with one clear message naming the plugin: a wrong
# ABI major, a newer minor, a missing descriptor, a failing init, failing
# samples, a group-writable file. At start that is exit status 2; at a
# reload the old generation keeps serving.
. "$top_srcdir/tests/integration/lib.sh"
need curl
BROKEN=$top_builddir/tests/plugins/.libs
[ -f "$BROKEN/good_detector.so" ] || fail "test plugins not built"
mkdir -p "$T/plugins"
chmod 0755 "$T/plugins"

detector_pipeline() { # PATH
    printf 'stages:\n  - plugin: metrics\ndetectors:\n  - plugin: %s\n' "$1" >"$T/pipeline.yaml"
}
check_refused() { # WHAT EXPECTED-MESSAGE
    set +e
    out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1); rc=$?
    set -e
    [ "$rc" -eq 2 ] || fail "$1: --check-config exit $rc: $out"
    echo "$out" | grep -q -- "$2" || fail "$1: message lacks '$2': $out"
    ok "$1 refused: $(echo "$out" | head -n 1)"
}

# The daemon's ABI version, from the header the plugins were built against.
MAJOR=$(sed -n 's/^#define APX_ABI_MAJOR \([0-9]*\)$/\1/p' "$top_srcdir/include/anthropic-proxy/plugin.h")
MINOR=$(sed -n 's/^#define APX_ABI_MINOR \([0-9]*\)$/\1/p' "$top_srcdir/include/anthropic-proxy/plugin.h")
[ -n "$MAJOR" ] && [ -n "$MINOR" ] || fail "cannot read APX_ABI_MAJOR and _MINOR from plugin.h"

PIPELINE=$T/pipeline.yaml
write_config
detector_pipeline "$BROKEN/bad_major.so"
check_refused "wrong ABI major" "was built for plugin ABI $((MAJOR + 1)).0, this daemon has $MAJOR.$MINOR: rebuild it"
detector_pipeline "$BROKEN/newer_minor.so"
check_refused "newer ABI minor" "needs plugin ABI $MAJOR.$((MINOR + 1)), newer than this daemon's $MAJOR.$MINOR"
# an older minor's smaller structs load: only the bytes their struct_size
# gives are read (small_structs.c fails its samples otherwise)
detector_pipeline "$BROKEN/small_structs.so"
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1) ||
    fail "a plugin with a smaller detector spec (an older minor) was refused: $out"
ok "a plugin of an older minor with a smaller detector spec loads: $out"
detector_pipeline "$BROKEN/no_descriptor.so"
check_refused "missing descriptor" "no descriptor 'apx_plugin_descriptor' exported"
detector_pipeline "$BROKEN/failing_samples.so"
check_refused "failing samples" "$T/pipeline.yaml:4: detector failing_samples fails its own sample: \"brk_ZZZZ...\" must match and does not; fix the detector's pattern or its samples"
echo "$out" | grep -q 'not a token' && fail "a must_match sample was printed in full: $out"
printf 'stages:\n  - plugin: %s\n' "$BROKEN/failing_init.so" >"$T/pipeline.yaml"
check_refused "failing init" "stage failing_init: init failed: refusing to start on purpose"
cp "$BROKEN/good_detector.so" "$T/plugins/good_detector.so"
chmod 0664 "$T/plugins/good_detector.so"
detector_pipeline "$T/plugins/good_detector.so"
check_refused "group-writable plugin" "is writable by group or others (mode 0664): refusing to load it (chmod go-w"
chmod 0644 "$T/plugins/good_detector.so"
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1) || fail "good plugin refused: $out"
ok "the same plugin, chmod go-w: $out"

# regex-only detectors from the pipeline file, served by the regex plugin:
# loaded with their samples checked, refused when a sample fails
regex_pipeline() { # MATCH-SAMPLE
    cat >"$T/pipeline.yaml" <<YAML
stages:
  - plugin: metrics
detectors:
  - name: internal_token
    plugin: regex
    label: INTERNAL_TOKEN
    tier: secret
    priority: 165
    pattern: '\bitk_[A-Za-z0-9]{32}\b'
    samples:
      match: ["$1"]
      no_match: ["itk_short", "the itk_ prefix"]
YAML
}
regex_pipeline "token itk_0123456789abcdefABCDEF0123456789 here"
out=$("$PROXY_BIN" --check-config --config "$T/proxy.env" 2>&1) || fail "regex detector refused: $out"
echo "$out" | grep -q "1 detector" || fail "regex detector not loaded: $out"
ok "regex detector from the pipeline file loaded: $out"
regex_pipeline "itk_tooshort"
check_refused "regex detector failing its sample" "$T/pipeline.yaml:4: detector internal_token fails its own sample: \"itk_toos...\" must match"

# at start: exit status 2 and the reason in the log
detector_pipeline "$BROKEN/bad_major.so"
set +e
"$PROXY_BIN" --foreground --config "$T/proxy.env" >"$T/start.log" 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "start with a broken plugin exited $rc"
grep -q "rebuild it" "$T/start.log" || fail "no reason at start: $(cat "$T/start.log")"
ok "start refused with exit status 2"

# at reload: every kind of refusal leaves the running generation serving
start_mock
detector_pipeline "$T/plugins/good_detector.so"
start_proxy
for bad in bad_major newer_minor no_descriptor failing_samples; do
    detector_pipeline "$BROKEN/$bad.so"
    kill -HUP "$PROXY_PID"
    wait_for 10 grep -q "reload failed.*$bad" "$T/proxy.log" || fail "$bad: no failed reload logged"
done
printf 'stages:\n  - plugin: %s\n' "$BROKEN/failing_init.so" >"$T/pipeline.yaml"
kill -HUP "$PROXY_PID"
wait_for 10 grep -q "reload failed.*failing_init" "$T/proxy.log" || fail "failing_init reload not logged"
pcurl -f "$PURL/health" >/dev/null || fail "unhealthy after failed reloads"
[ "$(metrics j.pipeline.revision)" = 1 ] || fail "revision changed: $(metrics j.pipeline)"
[ "$(metrics 'j.counters.reloads_failed_total')" = 5 ] || fail "reloads_failed_total: $(metrics j.counters)"
metrics j.pipeline.last_reload | grep -q "^failed at .*failing_init" || fail "last_reload: $(metrics j.pipeline.last_reload)"
metrics 'j.pipeline.plugins.map(p => p.name).join(",")' | grep -q good_detector ||
    fail "the old generation's plugins are gone"
code=$(pcurl -o /dev/null -w '%{http_code}' -X POST -d '{}' "$PURL/v1/messages")
[ "$code" = 200 ] || fail "proxying after failed reloads: $code"
ok "5 failed reloads: revision 1 still serving, counted and reported in /metrics"
