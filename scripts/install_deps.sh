#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages logitkit needs: `install_deps.sh build` (library + CLI),
# `install_deps.sh test` (everything the test suite uses). Needs root; skips when all present.
set -euo pipefail
build_pkgs=(cmake g++ make pkg-config libhwy-dev libcli11-dev nlohmann-json3-dev libcairo2-dev
            fonts-dejavu-core)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev libmpfr-dev libgmp-dev librapidcheck-dev
           librandom123-dev libopenblas-dev python3 python3-numpy python3-pytest pybind11-dev
           python3-dev python3-torch python3-scipy python3-mpmath python3-sklearn
           python3-setuptools python3-pip python3-venv python3-matplotlib libxml2-utils clang
           libclang-rt-14-dev libopenmpi-dev openmpi-bin)
pkgs=("${build_pkgs[@]}")
if [[ "${1:-build}" == "test" ]]; then pkgs+=("${test_pkgs[@]}"); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  # Another apt or dpkg (an unattended upgrade, a second install) holds the lock: wait for it
  # (up to 10 minutes) instead of failing at once.
  lock=(-o DPkg::Lock::Timeout=600)
  $SUDO apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
