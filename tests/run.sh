#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (unit and integration with a real
# Mosquitto, the real yktgw binary and real SQLite files), the chaos scenarios (tests/chaos,
# YKTGW_CHAOS_LONG=1 for the long mode) and the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C "$BUILD_DIR"
# Serially: the integration tests measure round trips and must not share the two cores.
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 300
# Every benchmark figure with small counts, on the build above: checks that each is produced
# (not that it meets its target; see docs/BENCHMARKS.md for the full run).
BENCH_BUILD_DIR="$BUILD_DIR" tests/bench/run.sh --quick

# Fuzzing (tests/fuzz/run.sh): each libFuzzer target for FUZZ_SECONDS (default 15) seconds in
# its own clang build tree. YKTGW_RUN_FUZZ=0 skips it.
if [ "${YKTGW_RUN_FUZZ:-1}" != 0 ]; then
  tests/fuzz/run.sh
fi
# Sanitizer builds (tests/sanitizers.sh) take longer than this script's budget: YKTGW_SANITIZERS=1.
if [ "${YKTGW_SANITIZERS:-0}" = 1 ]; then
  tests/sanitizers.sh
fi
