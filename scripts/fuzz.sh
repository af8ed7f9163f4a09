#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (fuzz/, clang with -fsanitize=fuzzer,address,undefined) in
# build-fuzz/, replays every saved crash in fuzz/regressions/<target>/ (each must now pass), then
# runs each target for a bounded time from its seed corpus fuzz/corpus/<target>/ (new inputs go to
# a scratch directory, not the repository). Exit status non-zero on any crash, sanitizer report,
# contract violation (the targets abort), timeout or leak; the crashing input is left in
# build-fuzz/artifacts/.
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target...]
# FUZZ_RUNS=N (or FUZZ_RUNS_<target>=N) makes a run stop after N inputs instead (with the fixed
# seed FUZZ_SEED, default 1, the same inputs on every machine: what CI uses, so that its verdict
# does not depend on speed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(parsers_fuzz numbers_fuzz softmax_fuzz sampling_fuzz loss_fuzz)
jobs=${JOBS:-$(nproc)}
cxx=${FUZZ_CXX:-clang++}
cc=${FUZZ_CC:-clang}

cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc"
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"
mkdir -p build-fuzz/artifacts
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for t in "${targets[@]}"; do
  for input in fuzz/regressions/"$t"/*; do
    [[ -f $input ]] || continue
    echo "== $t: replaying $input"
    build-fuzz/"$t" -timeout=60 "$input" || { status=1; echo "== FAILED: $input"; }
  done
  runs_var="FUZZ_RUNS_${t}"
  runs=${!runs_var:-${FUZZ_RUNS:-}}
  if [[ -n $runs ]]; then
    limit=(-runs="$runs") what="$runs inputs"
  else
    limit=(-max_total_time="$seconds") what="$seconds s"
  fi
  echo "== $t: fuzzing ($what)"
  scratch=$(mktemp -d)
  build-fuzz/"$t" "${limit[@]}" -seed="${FUZZ_SEED:-1}" -timeout=30 -rss_limit_mb=4096 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/"$t"- "$scratch" fuzz/corpus/"$t" ||
    status=1
  rm -rf "$scratch"
done
exit "$status"
