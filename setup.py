# SPDX-License-Identifier: Apache-2.0
"""Builds the `logitkit` package with CMake: the C++ library (static, position-independent) and
the pybind11 extension `_logitkit`, from the system's compilers, Highway, pybind11 (Debian's
pybind11-dev) and, when found, OpenBLAS. No package index is needed:

    /usr/bin/python3 -m pip install --no-build-isolation .
    /usr/bin/python3 -m pip wheel --no-build-isolation --no-deps -w dist .

Environment: LOGITKIT_CMAKE_ARGS (extra CMake arguments, split on spaces),
LOGITKIT_CMAKE_BUILD_DIR (a CMake build folder to keep between builds; default: setuptools'
temporary build folder), CMAKE_BUILD_PARALLEL_LEVEL (build jobs; default: all cores).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def cmake_project_version():
    """The one version: `project(logitkit VERSION x.y.z ...)` in CMakeLists.txt."""
    text = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"project\(\s*logitkit\s+VERSION\s+([0-9]+(?:\.[0-9]+)*)", text)
    if not m:
        raise RuntimeError("CMakeLists.txt: no `project(logitkit VERSION ...)` line")
    return m.group(1)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("logitkit needs cmake to build (Debian: apt-get install cmake)")
        dest = Path(self.get_ext_fullpath(ext.name)).resolve()
        build = Path(os.environ.get("LOGITKIT_CMAKE_BUILD_DIR")
                     or Path(self.build_temp) / "cmake").resolve()
        build.mkdir(parents=True, exist_ok=True)
        args = [
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython_EXECUTABLE={sys.executable}",
            "-DBUILD_SHARED_LIBS=OFF",
            "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
            "-DLOGITKIT_BUILD_PYTHON=ON",
            "-DLOGITKIT_BUILD_TESTS=OFF",
            "-DLOGITKIT_BUILD_BENCH=OFF",
            "-DLOGITKIT_BUILD_CLI=OFF",
            "-DLOGITKIT_INSTALL=OFF",
            "-DLOGITKIT_WITH_MPI=OFF",
        ] + os.environ.get("LOGITKIT_CMAKE_ARGS", "").split()
        subprocess.run([cmake, "-S", str(ROOT), "-B", str(build)] + args, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run([cmake, "--build", str(build), "--target", "_logitkit", "-j", jobs],
                       check=True)
        built = sorted((build / "python" / "logitkit").glob("_logitkit*.so"))
        if not built:
            raise RuntimeError(f"the build made no _logitkit module in {build}/python/logitkit")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], dest)


setup(
    version=cmake_project_version(),
    packages=["logitkit"],
    package_dir={"logitkit": "python/logitkit"},
    package_data={"logitkit": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("logitkit._logitkit")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
