// SPDX-License-Identifier: Apache-2.0
// The SIMD targets logitkit was compiled for, those this CPU supports, and the one in use.
#ifndef LOGITKIT_TARGETS_H_
#define LOGITKIT_TARGETS_H_

#include <string>
#include <string_view>
#include <vector>

#include "logitkit/export.h"

namespace logitkit {

struct TargetInfo {
  std::vector<std::string> compiled;   // every target with code in this binary, best first
  std::vector<std::string> supported;  // compiled and runnable on this CPU, best first
  std::string chosen;                  // the one dispatch uses now
};

// Which targets exist, which run here, which is chosen.
LOGITKIT_API TargetInfo targets();

// Pin dispatch to one supported target by name ("AVX3", "AVX2", "SSE4", "EMU128", ...), for
// tests, benchmarks and bit-for-bit comparisons. Returns false (and changes nothing) when the
// name is not a supported target. Not thread-safe: call it while no other logitkit call runs.
LOGITKIT_API bool force_target(std::string_view name);
// Back to the best supported target.
LOGITKIT_API void reset_target();

}  // namespace logitkit

#endif  // LOGITKIT_TARGETS_H_
