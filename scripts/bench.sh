#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one benchmark command: peers' packages, Release build, every bench beside its peers, report.
#
# Usage: scripts/bench.sh          (as root it apt-get installs what is missing)
# Environment (defaults in brackets):
#   BENCH_REPETITIONS [5]   repetitions per case; the report uses their median
#   BENCH_MIN_TIME [0.05]   seconds per repetition (Google Benchmark --benchmark_min_time)
#   BENCH_BUDGET_S [1500]   seconds for all bench executables together (each stops when it is spent)
#   BENCH_OTHER_CAP_S [420] seconds at most for each bench other than softmax_bench
#   BENCH_FILTER [all]      a --benchmark_filter regex, for a partial run
# Writes build-bench/results/ (<bench>.json, mpi_np{2,4}.txt, scaling_probe.txt, callgrind.tsv),
# docs/performance.md and docs/perf_rowlength.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${BENCH_REPETITIONS:-5}
min_time=${BENCH_MIN_TIME:-0.05}
budget=${BENCH_BUDGET_S:-1500}
other_cap=${BENCH_OTHER_CAP_S:-420}
filter=${BENCH_FILTER:-}
build=build-bench
results=$build/results

pkgs=(cmake g++ make libhwy-dev libbenchmark-dev libdnnl-dev libxnnpack-dev libpthreadpool-dev
      libeigen3-dev libtorch-dev valgrind python3 opencl-headers ocl-icd-opencl-dev
      libopenmpi-dev openmpi-bin)
# (Debian's oneDNN CMake package needs OpenCL's headers and loader library; OpenMPI builds
# logitkit::mpi and mpi_bench.)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "bench.sh: installing ${missing[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench.sh: not root; missing ${missing[*]} (their peers are left out)" >&2
  fi
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLOGITKIT_BUILD_TESTS=OFF \
  -DLOGITKIT_BUILD_CLI=OFF -DLOGITKIT_BUILD_PYTHON=OFF -DLOGITKIT_BUILD_BENCH=ON \
  -DLOGITKIT_BENCH_PEERS=ON >/dev/null
# Keep going past a bench that fails to build, so the others still run (the failure is reported).
cmake --build "$build" -j"$(nproc)" -- -k ||
  echo "bench.sh: some bench targets failed to build; running those that did" >&2

mkdir -p "$results"
rm -f "$results"/*.json
args=(--benchmark_repetitions="$reps" --benchmark_min_time="$min_time"
      --benchmark_report_aggregates_only=true --benchmark_out_format=json)
[[ -n $filter ]] && args+=(--benchmark_filter="$filter")
start=$SECONDS
# Other benches first, each capped; softmax_bench (the largest) gets what is left of the budget.
# mpi_bench runs under mpirun, after them.
mapfile -t exes < <(ls "$build"/bench/*_bench 2>/dev/null | grep -v -e '/softmax_bench$' -e '/mpi_bench$' || true)
[[ -x $build/bench/softmax_bench ]] && exes+=("$build/bench/softmax_bench")
for exe in "${exes[@]}"; do
  name=$(basename "$exe")
  left=$((budget - (SECONDS - start)))
  cap=$left
  [[ $name != softmax_bench && $other_cap -lt $cap ]] && cap=$other_cap
  if ((cap < 10)); then
    echo "bench.sh: time budget spent, $name not run" >&2
    continue
  fi
  echo "bench.sh: $name (at most ${cap}s)" >&2
  rc=0
  timeout "$cap" "$exe" "${args[@]}" --benchmark_out="$results/$name.json" \
    > "$results/$name.txt" 2>&1 || rc=$?
  ((rc == 124)) && echo "bench.sh: $name stopped at its time limit (partial results)" >&2
  ((rc != 0 && rc != 124)) && echo "bench.sh: $name exited with $rc (see $results/$name.txt)" >&2
done
echo "bench.sh: benches took $((SECONDS - start))s" >&2
# What a second thread can give on this machine for pure compute (the 2-thread goals' bound).
rm -f "$results/scaling_probe.txt"
if [[ -x $build/bench/scaling_probe ]]; then
  "$build/bench/scaling_probe" > "$results/scaling_probe.txt" 2>&1 ||
    echo "bench.sh: scaling_probe failed" >&2
fi
# The collective's communication alone, under mpirun at 2 and 4 ranks (about 10 s each).
rm -f "$results"/mpi_np*.txt
if [[ -x $build/bench/mpi_bench ]] && command -v mpirun >/dev/null; then
  for np in 2 4; do
    echo "bench.sh: mpi_bench --comm-only, $np ranks" >&2
    timeout 300 mpirun --allow-run-as-root --oversubscribe -np "$np" "$build/bench/mpi_bench" \
      --comm-only --rows 4096 --reps 5 > "$results/mpi_np$np.txt" 2>&1 ||
      echo "bench.sh: mpi_bench on $np ranks failed (see $results/mpi_np$np.txt)" >&2
  done
fi

if command -v valgrind >/dev/null; then
  scripts/callgrind.sh "$build" >/dev/null || echo "bench.sh: callgrind.sh failed" >&2
fi
/usr/bin/python3 scripts/perf_report.py --results "$results" --out docs/performance.md \
  --svg docs/perf_rowlength.svg --command "scripts/bench.sh (BENCH_REPETITIONS=$reps BENCH_MIN_TIME=$min_time)"
