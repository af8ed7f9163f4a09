#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every test, from scratch: installs the Debian packages, builds in build-ci/ (Release), runs the
# whole CTest suite (unit, accuracy on every SIMD target, threading, packaging, CLI, Python
# conformance, bench quick mode), then the sanitizer builds (ASan+UBSan, TSan) and a replay of
# every fuzz target's saved inputs (fuzz/regressions/ and fuzz/corpus/, no mutation).
# Deterministic: fixed seeds everywhere (RapidCheck's included), no timing-dependent assertion,
# the same inputs on every run and machine, so the same verdict. Exploratory fuzzing is
# `scripts/fuzz.sh [seconds]`, a separate command. Exit status 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh test
jobs=$(nproc)
rm -rf build-ci
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=Release -DLOGITKIT_BENCH_PEERS=OFF
cmake --build build-ci -j"$jobs"
ctest --test-dir build-ci --output-on-failure -j"$jobs" --timeout 900
bash scripts/test_sanitizers.sh
bash scripts/fuzz.sh replay
# WebAssembly (scripts/web.sh): builds the module and the page into web/dist, writes golden
# outputs with the native library just built, compares the module with them bit for bit under
# Node's test runner, and drives the page in headless Chromium against build-ci's logitkit CLI.
bash scripts/web.sh --test build-ci
