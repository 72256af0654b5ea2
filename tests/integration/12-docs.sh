#!/bin/sh
# The settings list in anthropic-proxy.env(5) and the example settings file
# are generated from the daemon's settings table and must not drift from it.
. "$top_srcdir/tests/integration/lib.sh"
sed -n '/^\.\\" BEGIN GENERATED SETTINGS/,/^\.\\" END GENERATED SETTINGS/p' \
    "$top_srcdir/man/anthropic-proxy.env.5" | sed '1d;$d' >"$T/man.list"
"$PROXY_BIN" --print-settings=man >"$T/table.list"
diff -u "$T/table.list" "$T/man.list" ||
    fail "man/anthropic-proxy.env.5 is stale: run 'make update-docs'"
ok "anthropic-proxy.env(5) lists every setting of the table"
grep -v '^# anthropic-proxy settings file\|^# Generated from\|^# every line shows\|^# over this file' \
    "$top_srcdir/etc/anthropic-proxy.env" | sed '1{/^$/d}' >"$T/env.example"
"$PROXY_BIN" --print-settings=env >"$T/env.table"
diff -u "$T/env.table" "$T/env.example" || fail "etc/anthropic-proxy.env is stale: run 'make update-docs'"
ok "etc/anthropic-proxy.env matches the table"
# every setting named in --help is in the man page
for name in $("$PROXY_BIN" --help | sed -n 's/^  \([A-Z_][A-Z_]*\) .*/\1/p'); do
    grep -q "ANTHROPIC_PROXY_$name" "$top_srcdir/man/anthropic-proxy.env.5" || fail "$name not documented"
done
ok "--help and the man page agree"
"$PROXY_BIN" --help | grep -n '\${' && fail "--help prints unexpanded \${...} placeholders"
ok "--help prints this build's paths: $("$PROXY_BIN" --help | grep -A0 '^  PLUGIN_DIR ' | sed 's/  */ /g')"
# the complete example in anthropic-proxy-plugin(3) is the template detector
sed -n '/^\.SH EXAMPLE/,/^\.fi/p' "$top_srcdir/man/anthropic-proxy-plugin.3" |
    sed '1,/^\.nf/d;$d' >"$T/man.example"
sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' "$top_srcdir/examples/detector-template/acme_token.c" \
    >"$T/template.example"
diff -u "$T/template.example" "$T/man.example" ||
    fail "the example in anthropic-proxy-plugin(3) differs from examples/detector-template/acme_token.c"
ok "anthropic-proxy-plugin(3)'s example is the shipped template"

# A reader finds a request's way from the README's architecture section and
# the file names: every core source file is named there.
sed -n '/^## Architecture/,/^## /p' "$top_srcdir/README.md" >"$T/architecture.md"
missing=""
for f in "$top_srcdir"/core/*.c; do
    name=$(basename "$f")
    grep -qF "\`$name\`" "$T/architecture.md" || missing="$missing $name"
done
[ -z "$missing" ] || fail "the README's architecture section does not name:$missing"
ok "the README's architecture section names every core/*.c"
