#!/bin/sh
# The files a developer's project and home directory hold, read by Claude
# Code as tool results, through `anthropic-proxy scrub` with the shipped
# pipeline (etc/pipeline.yaml, every detector): each
# tests/unit/credentials/NAME.in must come out exactly as NAME.want, so
# every secret is replaced by the right detector and every other byte
# (references, placeholders, code that only mentions a credential) stays.
# With UPDATE=1 the .want files are rewritten, to be reviewed by hand.
set -eu
: "${top_builddir:?}" "${top_srcdir:?}" "${NODE:=node}"
dir=$top_srcdir/tests/unit/credentials
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ANTHROPIC_PROXY_PLUGIN_DIR="$top_builddir/plugins"
# the shipped pipeline's metrics stage reads the price table; no ledger here
export ANTHROPIC_PROXY_PRICES="$top_srcdir/etc/prices.yaml" ANTHROPIC_PROXY_LEDGER_PATH=off
printf '%064d\n' 0 >"$T/key.hex"
fails=0
for in in "$dir"/*.in; do
    name=$(basename "$in" .in)
    # the file as Claude Code's Read tool sends it back: a tool_result
    "$NODE" -e 'const fs = require("fs");
        const text = fs.readFileSync(process.argv[1], "utf8");
        process.stdout.write(JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 1024,
            messages: [{ role: "user", content: [{ type: "tool_result",
                tool_use_id: "toolu_01Cred", content: text }] }] }));' "$in" >"$T/body.json"
    if ! "$top_builddir/anthropic-proxy" scrub --pipeline "$top_srcdir/etc/pipeline.yaml" \
            --key-file "$T/key.hex" <"$T/body.json" >"$T/out.json" 2>"$T/report.txt"; then
        cat "$T/report.txt"
        echo "FAIL: $name: anthropic-proxy scrub exited non-zero"
        fails=$((fails + 1))
        continue
    fi
    "$NODE" -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        process.stdout.write(b.messages[0].content[0].content);' "$T/out.json" >"$T/got"
    if [ "${UPDATE:-}" = 1 ]; then
        cp "$T/got" "$dir/$name.want"
    fi
    if cmp -s "$T/got" "$dir/$name.want"; then
        echo "ok: $name: $(grep -o '<[A-Z_]*_[0-9]*>' "$T/got" | sort -u | tr '\n' ' ')"
    else
        diff -u "$dir/$name.want" "$T/got" || true
        echo "FAIL: $name: scrubbed text differs from $name.want"
        fails=$((fails + 1))
    fi
done
[ "$fails" = 0 ] || exit 1
