#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The C++ test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on) in
# build-asan/, and the threaded tests under ThreadSanitizer in build-tsan/. Any sanitizer report
# aborts its test, so the exit status is non-zero on any report or test failure.
#   ASan+UBSan: every C++ test (gtest executables; packaging tests left out: they rebuild the
#     library without sanitizers). No accuracy sweep needs excluding: the whole suite runs in
#     about 2 minutes under ASan here.
#   TSan: the tests that call the library from several threads or ask for several library
#     threads (TSAN_TESTS below); the library and only those executables are built.
# Built -O1 with line tables (-g1): sanitizer builds are compile-bound on a 2-core machine.
# Usage: scripts/test_sanitizers.sh [asan|tsan]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
what=${1:-all}

# Three targets, to keep the instrumented compile short: SSE4 (4 lanes, no hardware FMA: the
# library's exact FMA emulation; made the static target by -msse4.2 -mpclmul -maes), AVX2 (8
# lanes) and AVX3 (16 lanes). Highway's one-lane SCALAR target, which costs more to compile than
# the others together, and SSSE3 are left to the Release run, which covers every target.
common=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1" -DLOGITKIT_BUILD_BENCH=OFF
        -DLOGITKIT_BUILD_PYTHON=OFF -DLOGITKIT_BUILD_CLI=OFF -DLOGITKIT_INSTALL=OFF -DLOGITKIT_WITH_MPI=OFF
        "-DCMAKE_CXX_FLAGS=-msse4.2 -mpclmul -maes"
        "-DLOGITKIT_DISABLED_TARGETS=(HWY_SCALAR|HWY_EMU128|HWY_SSSE3)")
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:strict_init_order=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# The threaded tests: many callers at once, and the library's own threads across rows and chunks.
TSAN_TARGETS=(thread_safety_test softmax_threading_test sampling_test loss_cross_entropy_test
              linear_cross_entropy_test)
TSAN_TESTS='ThreadSafety\.|SoftmaxThreadingTest\.|SamplingTest\.SameTokenAloneInBatchesThreadsAndTargets|LossTest\.CrossEntropyBitwiseAcrossTargetsAndThreads|LinearCrossEntropy\.OwnProductSameBitsForEveryThreadCount'

if [[ $what == all || $what == asan ]]; then
  cmake -S . -B build-asan "${common[@]}" -DLOGITKIT_SANITIZE="address;undefined"
  cmake --build build-asan -j"$jobs"
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -E '^packaging_' --timeout 600
fi
if [[ $what == all || $what == tsan ]]; then
  cmake -S . -B build-tsan "${common[@]}" -DLOGITKIT_SANITIZE=thread
  cmake --build build-tsan -j"$jobs" --target "${TSAN_TARGETS[@]}"
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R "$TSAN_TESTS" --timeout 600
fi
