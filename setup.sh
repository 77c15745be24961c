#!/usr/bin/env bash
# Installs what moonhost needs to build and test on Debian 12, then builds.
# Idempotent: installs only what is missing, rebuilds only what changed.
#
#   ./setup.sh            packages + release build (build/)
#   ./setup.sh --tests    also Chromium, the npm packages of tests/e2e and the sanitizer build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")"

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

packages=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libuv1-dev libwebsockets-dev libcjson-dev
  libssl-dev lua-busted lua-filesystem libnats-dev)
# chromium: the browser tests drive Debian's /usr/bin/chromium with playwright-core (never a downloaded one).
[ "$want_tests" = 1 ] && packages+=(clang libclang-rt-dev chromium)
# A pure-Lua library from Debian that an e2e test requires from a plugin (docs/plugins.md "Libraries").
[ "$want_tests" = 1 ] && packages+=(lua-dkjson)
# The NATS server the scale-out tests start on a loopback port, and the openssl CLI that makes
# their TLS certificates (tests/e2e/lib/nats.mjs).
[ "$want_tests" = 1 ] && packages+=(nats-server openssl)
# iproute2's `ip` puts hosts in network namespaces for tests/e2e/mesh-netns.test.mjs (run as root).
[ "$want_tests" = 1 ] && packages+=(iproute2)
# promtool (Prometheus' own parser) checks GET /metrics in tests/e2e/metrics.test.mjs.
[ "$want_tests" = 1 ] && packages+=(prometheus)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: warning: Node $(node --version 2>/dev/null) found; the end-to-end tests expect Node 20 or newer" >&2
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

if [ "$want_tests" = 1 ]; then
  # npm ci wants the lock to list every platform's optional packages (those of
  # rollup and esbuild, under vite); the registry reachable here serves only
  # the Linux ones, so a lock made here cannot list them and npm ci refuses
  # it. npm install then installs the same locked versions.
  (cd tests/e2e && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-audit --no-fund --loglevel=error; })
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMOONHOST_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
  cmake --build build-asan -j"$jobs"
fi
