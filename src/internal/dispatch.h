// SPDX-License-Identifier: Apache-2.0
// LOGITKIT_DYNAMIC_POINTER(FUNC): the best target's FUNC of a HWY_EXPORT table, as a pointer to
// keep for a whole call (Highway 1.0.3 has no HWY_DYNAMIC_POINTER).
//
// Until a first dispatch has run, Highway's chosen-target index is 0, whose table entry is
// ChooseAndCall: it detects the CPU (hwy::SupportedTargets, CPUID) and then calls the target's
// function. A pointer taken then would detect the CPU again on every call through it, once per
// row or block for the whole of a process's first call (CPUID traps in a virtual machine:
// 22-34 µs per detection measured on one, where a first [65536, 64] softmax took about 2.3 s
// instead of 4.5-6 ms). The macro has the target chosen first; a forced target (force_target) has
// already chosen it.
#ifndef LOGITKIT_SRC_INTERNAL_DISPATCH_H_
#define LOGITKIT_SRC_INTERNAL_DISPATCH_H_

#include "hwy/highway.h"

namespace logitkit::internal {

inline void choose_target() {
#if (HWY_TARGETS & (HWY_TARGETS - 1)) != 0  // (one target, as on WebAssembly: a static call)
  hwy::ChosenTarget& chosen = hwy::GetChosenTarget();
  if (HWY_UNLIKELY(!chosen.IsInitialized())) chosen.Update(hwy::SupportedTargets());
#endif
}

}  // namespace logitkit::internal

#define LOGITKIT_DYNAMIC_POINTER(FUNC) \
  (::logitkit::internal::choose_target(), &HWY_DYNAMIC_DISPATCH(FUNC))

#endif  // LOGITKIT_SRC_INTERNAL_DISPATCH_H_
