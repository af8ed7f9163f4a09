// SPDX-License-Identifier: Apache-2.0
// Highway's run-time dispatch state for the WebAssembly build (scripts/web.sh).
// Debian 12 ships Highway's headers (libhwy-dev) but no WebAssembly libhwy; the library needs only
// these three functions of it. The WebAssembly build compiles exactly one target
// (HWY_COMPILE_ONLY_EMU128, see docs/web.md), so detection is trivial: EMU128 (and the scalar
// fallback Highway always lists) is supported, nothing else exists.
#include "hwy/targets.h"

namespace hwy {
namespace {
int64_t g_for_test = 0;  // 0: none pinned
}  // namespace

HWY_DLLEXPORT int64_t SupportedTargets() {
  const int64_t detected = HWY_EMU128 | HWY_SCALAR;
  const int64_t targets = g_for_test != 0 ? (g_for_test & detected) : detected;
  GetChosenTarget().Update(targets);
  return targets;
}

HWY_DLLEXPORT void SetSupportedTargetsForTest(int64_t targets) {
  g_for_test = targets;
  GetChosenTarget().Update(SupportedTargets());
}

HWY_DLLEXPORT void DisableTargets(int64_t) {}

HWY_DLLEXPORT ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;
  return chosen;
}

}  // namespace hwy
