#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) in their own build
# tree and runs each for a bounded time, starting from tests/fuzz/corpus/<target>/ (which also
# keeps every input that once crashed, hung or leaked, as a regression input).
#
#   FUZZ_SECONDS=15   seconds per target (default 15; e.g. 600 for a longer local run)
#   FUZZ_BUILD_DIR    build tree (default build-fuzz)
#   FUZZ_TARGETS      space-separated subset, e.g. "qr_code config"
#
# New inputs that grow coverage go to a scratch directory, not into the checked-in corpus; a
# crash leaves its input as <build>/fuzz/artifacts/<target>/crash-* and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
ALL_TARGETS="terminal_protocol qr_code card_number config feed_format upstream_ack"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DYKTGW_FUZZ=ON "${launcher[@]}" >/dev/null
ninja -C "$BUILD_DIR" $(for t in $TARGETS; do echo "fuzz_$t"; done)

failed=()
for t in $TARGETS; do
  corpus=tests/fuzz/corpus/$t
  scratch=$BUILD_DIR/fuzz/scratch/$t
  artifacts=$BUILD_DIR/fuzz/artifacts/$t
  mkdir -p "$scratch" "$artifacts"
  dict=()
  if [ -f "tests/fuzz/dict/$t.dict" ]; then dict=(-dict="tests/fuzz/dict/$t.dict"); fi
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  # -timeout: an input taking over 5 s is a hang; -rss_limit_mb: a leak or a huge allocation.
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD_DIR/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=5 \
    -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "${dict[@]}" "$scratch" "$corpus" >"$BUILD_DIR/fuzz/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 60 "$BUILD_DIR/fuzz/$t.log"
  else
    grep -E "^stat::(number_of_executed_units|new_units_added)|^#[0-9]+ *DONE" \
      "$BUILD_DIR/fuzz/$t.log" | tr '\n' ' '
    echo
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD_DIR/fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: all targets clean"
