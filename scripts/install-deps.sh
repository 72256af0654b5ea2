#!/bin/sh
# Install what anthropic-proxy needs to build and to run its whole test
# suite on Debian 12 (bookworm): the build toolchain, the -dev packages
# configure looks for, the test clients (curl, nghttp, node), promtool
# (prometheus) and chromium for the metrics and dashboard tests, debhelper,
# devscripts and lintian for the Debian package, and the npm packages the
# client tests drive (the Anthropic SDK, Claude Code CLI and playwright-core,
# which drives Debian's chromium).
# Run as root (or through sudo). Safe to run again.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (sudo $0)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

build="build-essential autoconf automake libtool pkg-config
  libevent-dev libnghttp2-dev libssl-dev libpcre2-dev libyaml-dev libjansson-dev
  check zlib1g-dev libsqlite3-dev openssl ca-certificates"
tests="curl nghttp2-client procps prometheus chromium"
# make check's unit test (systemd-analyze) and make check-deploy (the
# Ansible role's syntax check, lint and local run)
deploy="systemd ansible-core ansible-lint"
# the hardening checks: ./configure --enable-fuzzing (clang's libFuzzer) and
# tests/hardening/testssl.sh
hardening="clang libclang-rt-14-dev testssl.sh"
# make deb (dpkg-buildpackage with debhelper, then lintian) and make
# check-deb (dpkg -i of the result)
deb="debhelper devscripts lintian"

apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $build $tests $deploy $hardening $deb >/dev/null

# Node.js for the mock upstream and the client tests: Debian's if none is
# installed (a newer one from elsewhere is left alone).
if ! command -v node >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if command -v npm >/dev/null 2>&1 && [ -f tests/node/package-lock.json ]; then
    npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "install-deps.sh: build and test dependencies installed"
