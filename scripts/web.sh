#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# logitkit in the browser: installs what it needs (Debian's emscripten, nodejs, npm), compiles the
# library to WebAssembly into web/dist/ (the JS module logitkit.mjs + logitkit.wasm, its types and
# package.json, and the interactive page), then serves the page on http://127.0.0.1:8000.
#   bash scripts/web.sh                  build, then serve (Ctrl-C stops)
#   bash scripts/web.sh --build-only     build only
#   bash scripts/web.sh --test BUILD     build, then the tests against the native build in BUILD
#                                        (its liblogitkit and its logitkit CLI): the golden
#                                        outputs written by the native library, the module under
#                                        Node's test runner, the page in headless Chromium
# PORT=8080 serves on another port. Nothing is downloaded at run time: the page and the module
# are served from web/dist only; npm packages (the browser driver for the tests) come pinned by
# web/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=serve
native=
case "${1:-}" in
  "") ;;
  --build-only) mode=build ;;
  --test) mode=test; native=${2:?"--test needs the native build folder (e.g. build-ci)"} ;;
  *) echo "usage: bash scripts/web.sh [--build-only | --test BUILD_DIR]" >&2; exit 2 ;;
esac

# --- packages ----------------------------------------------------------------------------------
pkgs=(emscripten libhwy-dev g++)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
[[ $mode == test ]] && pkgs+=(chromium libgtest-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "web.sh: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  lock=(-o DPkg::Lock::Timeout=600)
  $SUDO apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
# Debian's emscripten runs its JS tools with the system's node modules (acorn, ...).
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

# --- the WebAssembly build ---------------------------------------------------------------------
# Highway 1.0.3 (Debian 12) has no double lanes on its WASM target (HWY_HAVE_FLOAT64 0) and
# logitkit's kernels carry shifts and sums in double, so the build compiles Highway's portable
# 128-bit target EMU128 (the reference path every native build also dispatches to and tests for
# identical bits), with -msimd128 so that clang emits WebAssembly SIMD128 instructions for it.
# The Highway run-time functions the library calls come from web/native/hwy_runtime.cc.
# Highway 1.0.3's EMU128 MinOfLanes / MaxOfLanes start from HighestValue / LowestValue (the
# largest finite floats), so the max of lanes that are all -inf comes out as -FLT_MAX (x86 targets
# give -inf; native builds use SCALAR, not EMU128, as their portable target). The build uses a copy
# of Debian's headers whose reductions start from the first lane instead.
out=build-web/wasm
mkdir -p "$out/obj" "$out/hwyinc"
rm -rf "$out/hwyinc/hwy"
cp -r /usr/include/hwy "$out/hwyinc/hwy"
emu="$out/hwyinc/hwy/ops/emu128-inl.h"
sed -i -e 's/^  T min = HighestValue<T>();$/  T min = v.raw[0];  \/\/ logitkit web.sh: not +FLT_MAX (all +inf lanes)/' \
       -e 's/^  T max = LowestValue<T>();$/  T max = v.raw[0];  \/\/ logitkit web.sh: not -FLT_MAX (all -inf lanes)/' "$emu"
if [[ $(grep -c 'logitkit web.sh' "$emu") != 2 ]]; then
  echo "web.sh: could not patch MinOfLanes/MaxOfLanes in $emu (another Highway version?)" >&2
  exit 1
fi
# logitkit/version.h from the CMake project version (cmake/version.h.in), as CMake writes it;
# rewritten only when its text changes, so that it does not force a rebuild.
version=$(sed -n 's/^project(logitkit VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
IFS=. read -r v_major v_minor v_patch <<<"$version"
mkdir -p "$out/include/logitkit"
sed -e "s/@PROJECT_VERSION_MAJOR@/$v_major/" -e "s/@PROJECT_VERSION_MINOR@/$v_minor/" \
    -e "s/@PROJECT_VERSION_PATCH@/$v_patch/" -e "s/@PROJECT_VERSION@/$version/" \
    cmake/version.h.in > "$out/version.h.new"
if cmp -s "$out/version.h.new" "$out/include/logitkit/version.h"; then
  rm "$out/version.h.new"
else
  mv "$out/version.h.new" "$out/include/logitkit/version.h"
fi
cxxflags=(-std=c++20 -O3 -msimd128 -ffp-contract=off -fwasm-exceptions -DHWY_COMPILE_ONLY_EMU128
          -include web/native/compat.h -Iinclude -I"$out/include" -I. -isystem "$out/hwyinc" -Wall
          -Wno-unused-function)
sources=($(find src -name '*.cc' -not -path 'src/mpi/*' | sort) web/native/hwy_runtime.cc
         web/native/bindings.cc web/native/fast_fma.cc)
# WebAssembly has no FMA instruction: the library's exact FMA emulation rounds on SIMD128 lanes
# (src/internal/wasm_fma.h) and, for double lanes outside that code's range and in scalar code,
# calls fma() and fmaf(), which the link wraps (-Wl,--wrap=fma,--wrap=fmaf) with
# web/native/fast_fma.cc: double arithmetic instead of libc's integer fma, and instead of libc's
# fmaf, whose fix-up for sums near a float midpoint needs rounding modes that WebAssembly lacks.
# Check them against this machine's correctly rounded fma and fmaf first.
mkdir -p build-web
g++ -std=c++20 -O2 -ffp-contract=off -I. web/native/fast_fma_check.cc -o build-web/fast_fma_check
# The SIMD128 FMA of the library's exact FMA emulation (src/internal/wasm_fma.h), under Node
# against Emscripten's libc fma and a reference fmaf.
if [[ ! -f build-web/wasm_fma_check.js || build-web/wasm_fma_check.js -ot src/internal/wasm_fma.h ||
      build-web/wasm_fma_check.js -ot web/native/wasm_fma_check.cc ||
      build-web/wasm_fma_check.js -ot web/native/fma_check_inputs.h ||
      build-web/wasm_fma_check.js -ot web/native/fast_fma.cc ]]; then
  em++ -std=c++20 -O2 -msimd128 -ffp-contract=off -I. web/native/wasm_fma_check.cc \
    -o build-web/wasm_fma_check.js -sENVIRONMENT=node -sEXIT_RUNTIME=1
fi
node --no-experimental-fetch build-web/wasm_fma_check.js
build-web/fast_fma_check
# Recompile everything when a header, this script or the flags changed; else only stale objects.
stamp="$out/obj/.flags"
cxxflags+=(-DLOGITKIT_WEB_HWY_PATCH=1)  # bump when the header patch above changes
newest_header=$(find include src web/native "$out/include" -name '*.h' -newer "$stamp" 2>/dev/null | head -1 || true)
if [[ ! -f $stamp || "$(cat "$stamp")" != "${cxxflags[*]}" || -n $newest_header || scripts/web.sh -nt $stamp ]]; then
  rm -f "$out"/obj/*.o
fi
todo=()
for s in "${sources[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  [[ -f $o && $o -nt $s ]] || todo+=("$s")
done
if ((${#todo[@]})); then
  echo "web.sh: compiling ${#todo[@]} files for WebAssembly ($(em++ --version 2>/dev/null | sed -n 1p | grep -o '[0-9][0-9.]*' | sed -n 1p))" >&2
  export WEB_CXXFLAGS="${cxxflags[*]}" WEB_OBJ="$out/obj"
  printf '%s\n' "${todo[@]}" | xargs -P"$(nproc)" -I{} bash -c \
    'em++ $WEB_CXXFLAGS -c "$1" -o "$WEB_OBJ/$(echo "$1" | tr / _).o"' _ {}
fi
echo "${cxxflags[*]}" > "$stamp"
em++ -O3 -msimd128 -fwasm-exceptions -Wl,--wrap=fma,--wrap=fmaf "$out"/obj/*.o -o "$out/logitkit-core.mjs" \
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createLogitkitWasm -sENVIRONMENT=web \
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB -sFILESYSTEM=0 -sEXPORTED_FUNCTIONS=_malloc,_free

dist=web/dist
rm -rf "$dist"
mkdir -p "$dist"
cp "$out/logitkit-core.mjs" "$dist/"
cp "$out/logitkit-core.wasm" "$dist/logitkit.wasm"
cp web/src/logitkit.mjs web/src/logitkit.d.ts "$dist/"
sed "s/\"version\": \"[^\"]*\"/\"version\": \"$version\"/" web/src/package.json > "$dist/package.json"
cp web/page/index.html web/page/app.js web/page/style.css "$dist/"
echo "web.sh: built $dist ($(du -k "$dist/logitkit.wasm" | cut -f1) KiB of WebAssembly)" >&2

case $mode in
  build) exit 0 ;;
  serve)
    port=${PORT:-8000}
    echo "Serving the logitkit page on http://127.0.0.1:$port (Ctrl-C stops)"
    exec node web/serve.mjs "$dist" "$port"
    ;;
esac

# --- tests (--test BUILD) ----------------------------------------------------------------------
[[ -f $native/liblogitkit.so ]] || { echo "web.sh: no $native/liblogitkit.so (build the native library first)" >&2; exit 1; }
cli=$native/tools/logitkit/logitkit
[[ -x $cli ]] || { echo "web.sh: no logitkit CLI at $cli" >&2; exit 1; }
g++ -std=c++20 -O2 -Iinclude -I"$native/include" -I. web/golden/golden_writer.cc -o build-web/golden_writer \
  -L"$native" -llogitkit -Wl,-rpath,"$(cd "$native" && pwd)"
build-web/golden_writer build-web/golden.json
LOGITKIT_GOLDEN=build-web/golden.json node --test web/test/module.test.mjs
(cd web && npm ci --no-audit --no-fund --loglevel=error)
LOGITKIT_CLI=$cli node web/test/browser.test.mjs
