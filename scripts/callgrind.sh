#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instruction counts (valgrind --tool=callgrind) of one logitkit call for a fixed set of cases.
#
# Usage: scripts/callgrind.sh [build-dir]   (default build-bench; needs bench/softmax_count built)
# Writes <build-dir>/results/callgrind.tsv: case, target, elements, instructions, per element.
# Valgrind does not run AVX-512, so AVX2 is the widest target counted. Counts are deterministic:
# a change in them means the kernels do more (or less) work.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
bin=$build/bench/softmax_count
out=$build/results
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not installed" >&2; exit 1; }
[[ -x $bin ]] || { echo "callgrind.sh: $bin not built" >&2; exit 1; }
mkdir -p "$out/callgrind"

cases=(
  softmax/AVX2/accurate/1x32000/normal
  softmax/AVX2/fast/1x32000/normal
  softmax/SSE4/accurate/1x32000/normal
  softmax/SSE4/fast/1x32000/normal
  softmax/SCALAR/accurate/1x32000/normal
  softmax/SCALAR/fast/1x32000/normal
  softmax/AVX2/accurate/1x32000/spread
  softmax/AVX2/fast/1x32000/spread
  softmax/AVX2/accurate/16x1000/normal
  softmax/AVX2/fast/16x1000/normal
  softmax/AVX2/accurate/1024x10/normal
  softmax/AVX2/fast/1024x10/normal
  softmax/AVX2/accurate/1024x64/normal
  softmax/AVX2/fast/1024x64/normal
  softmax/AVX2/accurate/1x262144/normal
  log_softmax/AVX2/accurate/1x32000/normal
  log_softmax/AVX2/fast/1x32000/normal
  logsumexp/AVX2/accurate/1x32000/normal
  logsumexp/AVX2/fast/1x32000/normal
)

# Highway 1.0.3's timer calibration (run when libhwy loads) executes rdtscp, which valgrind 3.19
# rejects (SIGILL) on CPUs whose CPUID does not advertise it, though they run it. Counted runs
# load a copy of libhwy whose rdtscp (0f 01 f9) reads rdtsc (0f 31) instead; the timer is not on
# the counted path.
env=()
hwy=$(ldd "$bin" | sed -n 's/.*libhwy\.so\.1 => \([^ ]*\).*/\1/p')
if [[ -n $hwy ]] && ! grep -qw rdtscp /proc/cpuinfo; then
  mkdir -p "$out/callgrind/lib"
  /usr/bin/python3 -c 'import sys; d = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(d.replace(b"\x0f\x01\xf9", b"\x0f\x31\x90"))' \
    "$hwy" "$out/callgrind/lib/libhwy.so.1"
  env=(env LD_LIBRARY_PATH="$out/callgrind/lib")
fi

tsv=$out/callgrind.tsv
printf 'case\ttarget\telements\tinstructions\tper_element\n' > "$tsv.tmp"
for c in "${cases[@]}"; do
  file=$out/callgrind/${c//\//_}.out
  line=$("${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$file" --collect-atstart=no \
           --toggle-collect='*counted_call*' "$bin" "$c" 2>/dev/null) || {
    echo "callgrind.sh: $c failed" >&2
    continue
  }
  target=$(sed -n 's/.* target=\([^ ]*\).*/\1/p' <<<"$line")
  elements=$(sed -n 's/.* elements=\([0-9]*\).*/\1/p' <<<"$line")
  ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$file")
  printf '%s\t%s\t%s\t%s\t%.2f\n' "$c" "$target" "$elements" "$ir" \
    "$(awk -v a="$ir" -v b="$elements" 'BEGIN { print a / b }')" >> "$tsv.tmp"
  echo "$c: $ir instructions on $target"
done
mv "$tsv.tmp" "$tsv"
echo "wrote $tsv"
