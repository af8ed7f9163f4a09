#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libFuzzer targets (fuzz/, clang with -fsanitize=fuzzer,address,undefined), built in
# build-fuzz/. Two modes:
#
#   scripts/fuzz.sh replay [target...]
#     Deterministic: runs every saved input once — fuzz/regressions/<target>/* (the inputs behind
#     each finding) and fuzz/corpus/<target>/* (the seed corpus), in sorted order, with no
#     mutation. The same inputs on every run and every machine, so the same verdict. This is what
#     the README's test command (scripts/test.sh) runs.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target...]
#     Exploratory: replays fuzz/regressions/<target>/ first, then mutates from the seed corpus
#     for `seconds` per target (FUZZ_RUNS=N or FUZZ_RUNS_<target>=N stop after N inputs instead;
#     FUZZ_SEED sets libFuzzer's seed, default: a new one each run). New inputs go to a scratch
#     directory, not the repository. libFuzzer follows coverage feedback, so two runs explore
#     different paths: run it before each submission, fix what it finds, and commit each finding
#     as an input in fuzz/regressions/<target>/ (and a unit test), where replay keeps it.
#
# Exit status non-zero on any crash, sanitizer report, contract violation (the targets abort),
# timeout or leak; the crashing input is left in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=explore
if [[ ${1:-} == replay ]]; then
  mode=replay
  shift
else
  seconds=${1:-${FUZZ_SECONDS:-60}}
  shift || true
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(parsers_fuzz numbers_fuzz softmax_fuzz sampling_fuzz loss_fuzz)
jobs=${JOBS:-$(nproc)}
cxx=${FUZZ_CXX:-clang++}
cc=${FUZZ_CC:-clang}

cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"
mkdir -p build-fuzz/artifacts
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0

# Runs target $1 once on each file given after it (libFuzzer executes files, never mutates them);
# the per-input log goes to build-fuzz/replay-<target>.log, a failure's tail to the terminal.
replay() {
  local t=$1
  shift
  (($#)) || return 0
  local log=build-fuzz/replay-$t.log
  if build-fuzz/"$t" -timeout=60 -rss_limit_mb=4096 "$@" >"$log" 2>&1; then
    echo "== $t: replayed $# inputs"
  else
    status=1
    echo "== FAILED: $t (log: $log)"
    tail -n 30 "$log"
  fi
}

for t in "${targets[@]}"; do
  mapfile -t regressions < <(find fuzz/regressions/"$t" -type f 2>/dev/null | LC_ALL=C sort)
  if [[ $mode == replay ]]; then
    mapfile -t corpus < <(find fuzz/corpus/"$t" -type f 2>/dev/null | LC_ALL=C sort)
    replay "$t" "${regressions[@]}" "${corpus[@]}"
    continue
  fi
  replay "$t" "${regressions[@]}"
  runs_var="FUZZ_RUNS_${t}"
  runs=${!runs_var:-${FUZZ_RUNS:-}}
  if [[ -n $runs ]]; then
    limit=(-runs="$runs") what="$runs inputs"
  else
    limit=(-max_total_time="$seconds") what="$seconds s"
  fi
  seed=(); [[ -n ${FUZZ_SEED:-} ]] && seed=(-seed="$FUZZ_SEED")
  echo "== $t: fuzzing ($what)"
  scratch=$(mktemp -d)
  build-fuzz/"$t" "${limit[@]}" "${seed[@]}" -timeout=30 -rss_limit_mb=4096 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/"$t"- "$scratch" fuzz/corpus/"$t" ||
    { status=1; echo "== FAILED: $t; the input is in build-fuzz/artifacts/ (keep it in fuzz/regressions/$t/ once fixed)"; }
  rm -rf "$scratch"
done
exit "$status"
