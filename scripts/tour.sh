#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: installs what the build needs, builds logitkit (Release, build-tour/), runs the tour.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh build
cmake -S . -B build-tour -DCMAKE_BUILD_TYPE=Release -DLOGITKIT_BUILD_TESTS=OFF \
  -DLOGITKIT_BUILD_BENCH=OFF -DLOGITKIT_BUILD_PYTHON=OFF >/dev/null
cmake --build build-tour -j"$(nproc)" >/dev/null
if [[ -x build-tour/tools/logitkit/logitkit ]]; then
  exec build-tour/tools/logitkit/logitkit tour "$@"
else
  exec build-tour/examples/softmax_example
fi
