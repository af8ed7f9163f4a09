#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every test, from scratch: installs the Debian packages, builds in build-ci/ (Release), runs the
# whole CTest suite (unit, accuracy on every SIMD target, threading, packaging, CLI, Python
# conformance, bench quick mode), then the sanitizer builds (ASan+UBSan, TSan) and a short
# libFuzzer run of every fuzz target (a fixed number of inputs from a fixed seed: the same
# inputs on every machine). Exit status 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh test
jobs=$(nproc)
rm -rf build-ci
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=Release -DLOGITKIT_BENCH_PEERS=OFF
cmake --build build-ci -j"$jobs"
ctest --test-dir build-ci --output-on-failure -j"$jobs" --timeout 900
bash scripts/test_sanitizers.sh
# loss_fuzz: 6000 inputs (its 1325 seeds included) take about 65 s on 2 cores.
FUZZ_RUNS=${FUZZ_RUNS:-5000} FUZZ_RUNS_parsers_fuzz=100000 FUZZ_RUNS_numbers_fuzz=20000 FUZZ_RUNS_sampling_fuzz=100000 \
  FUZZ_RUNS_loss_fuzz=6000 bash scripts/fuzz.sh
