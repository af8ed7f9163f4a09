#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `pip wheel .` and `pip install .` from a copy of the source tree (a clone's files), with Debian's
# setuptools/pybind11/cmake and no package index; each result is installed into its own venv made
# with --system-site-packages and checked from outside the source tree: version (the CMake
# project version), the compiled module, py.typed and the stubs, logitkit.torch.
# Usage: pip_install.sh SOURCE_DIR WORK_DIR EXPECTED_VERSION [PYTHON]
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
version=$3
py=${4:-/usr/bin/python3}
# $work/cmake is kept between runs (a build folder: the copied sources keep their times, so an
# unchanged tree only relinks); everything else starts afresh.
rm -rf "$work/src" "$work/dist" "$work/venv-wheel" "$work/venv-src"
mkdir -p "$work/src" "$work/dist"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files and new ones git does not ignore: what a clone (plus local edits) holds.
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
     xargs -0 -n1 sh -c 'if test -e "$1"; then printf "%s\0" "$1"; fi' _ |
     tar --null -T - -cf -) | tar -C "$work/src" -xf -
else
  tar -C "$src" --exclude='./build*' --exclude='./.git' --exclude='__pycache__' -cf - . |
    tar -C "$work/src" -xf -
fi
export LOGITKIT_CMAKE_BUILD_DIR="$work/cmake"  # shared: the second build only relinks
# The package's kernels for Highway's portable target only, unless the caller sets
# LOGITKIT_CMAKE_ARGS: what is checked here is the packaging (wheel, install, version, stubs);
# a user's `pip install .` compiles every target, and the main build tests them all.
export LOGITKIT_CMAKE_ARGS=${LOGITKIT_CMAKE_ARGS-"-DLOGITKIT_DISABLED_TARGETS=(HWY_SSSE3|HWY_SSE4|HWY_AVX2|HWY_AVX3)"}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH

"$py" -m pip wheel --no-build-isolation --no-deps -w "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/logitkit-"$version"-*.whl)
echo "built $wheel"

"$py" -m venv --system-site-packages "$work/venv-wheel"
"$work/venv-wheel/bin/python" -m pip install --no-deps "$wheel"
"$py" -m venv --system-site-packages "$work/venv-src"
"$work/venv-src/bin/python" -m pip install --no-build-isolation "$work/src"

for venv in "$work/venv-wheel" "$work/venv-src"; do
  (cd "$work" && "$venv/bin/python" - "$venv" "$version" <<'PY'
import importlib.util, os, sys
import numpy as np
import logitkit
venv, version = sys.argv[1], sys.argv[2]
pkg = os.path.dirname(logitkit.__file__)
assert pkg.startswith(os.path.realpath(venv)) or pkg.startswith(venv), pkg
assert logitkit.__version__ == version, (logitkit.__version__, version)
for f in ("py.typed", "__init__.pyi", "torch.pyi"):
    assert os.path.exists(os.path.join(pkg, f)), f
y = logitkit.softmax(np.array([2.0, 1.0, 0.1]))
assert abs(y.sum() - 1) < 1e-15 and y.argmax() == 0
if importlib.util.find_spec("torch"):
    import torch
    import logitkit.torch as lt
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    lt.cross_entropy(x, torch.tensor([0, 1, 4])).backward()
    assert x.grad.shape == (3, 5)
print(f"ok: logitkit {logitkit.__version__} from {pkg}")
PY
  )
done
