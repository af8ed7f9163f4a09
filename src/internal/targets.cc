// SPDX-License-Identifier: Apache-2.0
// logitkit::targets / force_target / reset_target over Highway's dispatch state.

#include "logitkit/targets.h"

#include <string>

#include "hwy/highway.h"
#include "hwy/targets.h"

namespace logitkit {
namespace {
std::vector<std::string> names_of(int64_t mask) {
  std::vector<std::string> out;
  for (int64_t t = mask; t != 0; t &= t - 1) {
    const int64_t bit = t & (~t + 1);
    out.emplace_back(hwy::TargetName(bit));
  }
  return out;  // lowest bit first = best target first
}
// The target pinned by force_target (0: none). Dispatch state is process-wide by design.
int64_t g_forced = 0;
}  // namespace

TargetInfo targets() {
  TargetInfo info;
  info.compiled = names_of(HWY_TARGETS);
  info.supported = names_of(hwy::SupportedTargets() & HWY_TARGETS);
  const int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  info.chosen = supported ? hwy::TargetName(supported & (~supported + 1)) : "none";
  return info;
}

bool force_target(std::string_view name) {
  hwy::SetSupportedTargetsForTest(0);
  const int64_t supported = hwy::SupportedTargets() & HWY_TARGETS;
  for (int64_t t = supported; t != 0; t &= t - 1) {
    const int64_t bit = t & (~t + 1);
    if (name == hwy::TargetName(bit)) {
      g_forced = bit;
      hwy::SetSupportedTargetsForTest(bit);
      hwy::GetChosenTarget().Update(hwy::SupportedTargets());
      return true;
    }
  }
  hwy::SetSupportedTargetsForTest(g_forced);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  return false;
}

void reset_target() {
  g_forced = 0;
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

}  // namespace logitkit
