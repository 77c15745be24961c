#!/usr/bin/env bash
# Sets up, builds and runs every test: the layer check, C unit tests (ctest), Lua specs
# (busted), end-to-end tests with real JavaScript clients (node --test),
# then all of them again against the AddressSanitizer + UBSan build, and
# finally a short run of every fuzz target (tests/fuzz, build-fuzz).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --tests

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

failed=0
suite() {
  local name=$1
  shift
  echo
  echo "=== $name"
  if ! "$@"; then
    echo "=== $name: FAILED"
    failed=1
  fi
}

# The layers (tests/check-layers.mjs): no dependency cycle among the files of
# host/ or of bindings/, no call or #include into a higher layer, host/
# never naming bindings/. Read from the release build's objects.
suite "layer check (build)" node tests/check-layers.mjs build

for build in build build-asan; do
  suite "C unit tests ($build)" ctest --test-dir "$build" --output-on-failure
  # The shipped plugins' specs (plugins/spec), with moonhost as the Lua interpreter;
  # tests/e2e/authoring.test.mjs then checks `moonhost types` output with tsc.
  suite "plugin specs: moonhost test ($build)" "$build/moonhost" test
  suite "e2e tests ($build)" env MOONHOST_BIN="$PWD/$build/moonhost" \
    node --test --test-concurrency=2 tests/e2e/
done
suite "Lua specs" lua5.4 /usr/bin/busted --lpath='lua/?.lua;lua/?/init.lua' tests/lua

# Fuzzing (tests/fuzz/README.md): the libFuzzer targets, built with clang in
# build-fuzz, each run for FUZZ_SECONDS (20 s: about 2.5 minutes in all).
fuzz_stage() {
  cmake -S . -B build-fuzz -DMOONHOST_FUZZ=ON -DMOONHOST_TESTS=OFF -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
    cmake --build build-fuzz -j"$(nproc 2>/dev/null || echo 2)" >/dev/null &&
    tests/fuzz/run-short "${FUZZ_SECONDS:-20}"
}
suite "fuzz targets (build-fuzz, ${FUZZ_SECONDS:-20} s each)" fuzz_stage

echo
if [ "$failed" -ne 0 ]; then
  echo "test.sh: some suites FAILED"
  exit 1
fi
echo "test.sh: all suites passed"
