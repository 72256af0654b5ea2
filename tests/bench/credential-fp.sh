#!/bin/sh
# How often credential_assignment (and every other detector) fires on this
# project's own sources and tests, sent as Claude Code would send them: each
# tracked text file as a tool_result, through `anthropic-proxy scrub
# --audit` with the shipped pipeline. Prints the per-detector counts of the
# audit report, then every credential_assignment finding as FILE:LINE and
# the line, for a person to sort into real credentials (sample secrets in
# tests and detector samples count as such) and false positives.
# Run from a built tree: sh tests/bench/credential-fp.sh
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ANTHROPIC_PROXY_PLUGIN_DIR="$top/plugins"
export ANTHROPIC_PROXY_PRICES="$top/etc/prices.yaml" ANTHROPIC_PROXY_LEDGER_PATH=off
openssl rand -hex 32 >"$T/key.hex"
git ls-files | grep -Ev '^tests/fuzz/corpus/|\.(png|ico|gz|der|lock)$|package-lock\.json$' |
    while read -r f; do grep -Iq . "$f" 2>/dev/null && echo "$f"; done >"$T/files"
nfiles=$(wc -l <"$T/files")
nbytes=$(xargs cat <"$T/files" | wc -c)
# one request, one tool_result per file, as Read would return them
node -e 'const fs = require("fs");
    const files = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
    const content = files.map((f, i) => ({ type: "tool_result", tool_use_id: "toolu_" + i,
        content: fs.readFileSync(f, "utf8") }));
    process.stdout.write(JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 1024,
        messages: [{ role: "user", content }] }));' "$T/files" >"$T/body.json"
./anthropic-proxy scrub --pipeline etc/pipeline.yaml --key-file "$T/key.hex" --audit \
    <"$T/body.json" >/dev/null 2>"$T/report.txt"
echo "credential-fp: $nfiles files, $nbytes bytes, as tool results; scrub --audit reports:"
grep -E '^ *[a-z_0-9]+ +[0-9]+' "$T/report.txt" | sed 's/^/  /' || true
echo "credential-fp: credential_assignment findings (FILE:LINE: the line):"
while read -r f; do
    tests/unit/detector_runner --scan "$f" plugins/detectors/.libs/*.so 2>/dev/null |
        sed -n 's/^  credential_assignment *at *\([0-9]*\):.*/\1/p' |
        while read -r off; do
            line=$(head -c "$off" "$f" | wc -l)
            line=$((line + 1))
            printf '  %s:%s: %s\n' "$f" "$line" "$(sed -n "${line}p" "$f" | cut -c1-110)"
        done
done <"$T/files"
