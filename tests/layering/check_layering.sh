#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dependency order of the library's folders: a folder includes only its own headers, the
# public headers (include/logitkit/) and the folders below it in this list:
#
#   0  internal common parallel   argument checks, the temperature rule, shard helpers, the
#                                 exp/log kernels, the thread pool
#   1  softmax                    softmax family (whole row and shards), LseState
#   2  loss sampling              losses and the sampler (whole row and shards), each on softmax
#   3  mpi                        logitkit::mpi, on the public shard functions and the checks
#
# Folders of one level do not include each other. Prints each include that points up or
# sideways and exits 1 if there is any.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
declare -A level=([internal]=0 [common]=0 [parallel]=0 [softmax]=1 [loss]=2 [sampling]=2 [mpi]=3)
bad=0
for dir in "$root"/src/*/; do
  from=$(basename "$dir")
  if [[ -z ${level[$from]+x} ]]; then
    echo "src/$from/: a folder without a level (add it to tests/layering/check_layering.sh)"
    bad=1
    continue
  fi
  while IFS= read -r hit; do
    file=${hit%%:*}
    to=$(sed -E 's|.*#include "src/([^/]+)/.*|\1|' <<<"$hit")
    [[ $to == "$from" ]] && continue
    if [[ -z ${level[$to]+x} ]] || (( level[$to] >= level[$from] )); then
      echo "${file#"$root"/}: includes src/$to/ (level ${level[$to]:-?}) from src/$from/ (level ${level[$from]})"
      bad=1
    fi
  done < <(grep -rHE '^#include "src/' "$dir" || true)
done
if (( bad )); then
  echo "check_layering: an include points up or sideways (see the order above)"
  exit 1
fi
echo "check_layering: every include of src/ points down"
