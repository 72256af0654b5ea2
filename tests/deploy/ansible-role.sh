#!/bin/sh
# The Ansible role: syntax check, ansible-lint, and a real run of its build
# and install part against this machine (connection local) into a temporary
# prefix, without the user, systemd and UFW parts (the test machine may run
# neither). The installed daemon must then accept the settings and pipeline
# files the role wrote, from its built-in paths alone; a second run must
# change nothing. Run by make check-deploy (TARBALL: the make dist tarball).
. "$top_srcdir/tests/integration/lib.sh"
need ansible-playbook
: "${TARBALL:?the release tarball to deploy (make check-deploy sets it)}"
[ -f "$TARBALL" ] || fail "no $TARBALL"
# ansible and ansible-lint keep caches under HOME: a private one
HOME=$T/home; export HOME; mkdir -p "$HOME"
ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0; export ANSIBLE_NOCOLOR ANSIBLE_FORCE_COLOR ANSIBLE_RETRY_FILES_ENABLED
# a copy: ansible-lint writes beside the files it checks
cp -r "$top_srcdir/deploy/ansible" "$T/ansible"
chmod -R u+w "$T/ansible"
A=$T/ansible

ansible-playbook --syntax-check -i "$A/inventory.ini" "$A/playbook.yml" >"$T/syntax.log" 2>&1 ||
    fail "syntax check: $(cat "$T/syntax.log")"
ok "ansible-playbook --syntax-check"
if command -v ansible-lint >/dev/null 2>&1; then
    (cd "$A" && ansible-lint --offline --nocolor playbook.yml roles) >"$T/lint.log" 2>&1 ||
        fail "ansible-lint: $(cat "$T/lint.log")"
    ok "ansible-lint: clean"
else
    say "SKIP (part): ansible-lint is not installed (Debian package ansible-lint)"
fi

user=$(id -un) group=$(id -gn)
cat >"$T/inventory.ini" <<EOF2
[anthropic_proxy]
localhost ansible_connection=local ansible_python_interpreter=$(command -v python3)
EOF2
cat >"$T/vars.yml" <<EOF2
anthropic_proxy_become: false
anthropic_proxy_tarball: $TARBALL
anthropic_proxy_home: $T/opt
anthropic_proxy_prefix: $T/prefix
anthropic_proxy_sysconfdir: $T/etc
anthropic_proxy_make_jobs: 2
anthropic_proxy_install_deps: false
anthropic_proxy_manage_user: false
anthropic_proxy_manage_systemd: false
anthropic_proxy_manage_ufw: false
anthropic_proxy_user: $user
anthropic_proxy_group: $group
anthropic_proxy_config_owner: $user
anthropic_proxy_scrub_mode: pseudonymize
anthropic_proxy_scrub_hmac_key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
anthropic_proxy_settings:
  log_format: json
EOF2
run() {
    ansible-playbook -i "$T/inventory.ini" -e "@$T/vars.yml" "$A/playbook.yml" >"$T/$1.log" 2>&1 ||
        fail "ansible-playbook ($1): $(tail -n 40 "$T/$1.log")"
}
run first
say "first run: $(grep -A1 '^PLAY RECAP' "$T/first.log" | tail -n 1 | tr -s ' ')"
bin=$T/prefix/sbin/anthropic-proxy
env=$T/etc/anthropic-proxy/anthropic-proxy.env
[ -x "$bin" ] || fail "no $bin"
[ -f "$T/prefix/lib/anthropic-proxy/stages/scrubber.so" ] || fail "no plugins in the prefix"
[ "$(stat -c %a "$env")" = 640 ] || fail "settings file mode $(stat -c %a "$env"), want 640"
grep -q '^ANTHROPIC_PROXY_SCRUB_HMAC_KEY=00112233' "$env" || fail "HMAC key not in the settings file"
grep -q '^ANTHROPIC_PROXY_LOG_FORMAT=json$' "$env" || fail "anthropic_proxy_settings not written"
ok "built and installed into $T/prefix; settings file 0640 with the key"

# nothing but the installed binary's built-in paths: --config is its default
env -u ANTHROPIC_PROXY_CONFIG "$bin" --check-config >"$T/check.out" 2>&1 ||
    fail "installed configuration refused: $(cat "$T/check.out")"
ndet=$(sed -n '/^detectors:/,$p' "$T/etc/anthropic-proxy/pipeline.yaml" | grep -c '^  - plugin:')
grep -q "configuration OK (settings file: $env; pipeline $T/etc/anthropic-proxy/pipeline.yaml: .*$ndet detectors)" \
    "$T/check.out" || fail "unexpected: $(cat "$T/check.out")"
ok "the deployed daemon checks its deployed files: $(grep -o 'configuration OK' "$T/check.out")"

run second
recap=$(grep -A1 '^PLAY RECAP' "$T/second.log" | tail -n 1 | tr -s ' ')
echo "$recap" | grep -q ' changed=0 ' || fail "second run changed something: $(grep -B3 '^changed:' "$T/second.log"); $recap"
ok "second run: $recap"
