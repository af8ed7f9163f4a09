// SPDX-License-Identifier: Apache-2.0
// The chain's stage table: names, parameters, defaults, ranges; spec parsing and validation.
#ifndef LOGITKIT_SRC_SAMPLING_CHAIN_SPEC_H_
#define LOGITKIT_SRC_SAMPLING_CHAIN_SPEC_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "logitkit/sampler_chain.h"

namespace logitkit::internal {

enum class StageKind {
  kPenalties, kDry, kTopK, kTypical, kTopP, kMinP, kXtc, kTopNSigma, kEpsilon, kEta, kTemp,
  kDynatemp, kMirostat, kMirostatV2
};

// A validated stage: its kind and every parameter in positional order.
struct ResolvedStage {
  StageKind kind;
  std::array<double, 4> v{};
  const std::vector<std::vector<std::int32_t>>* breakers = nullptr;
};

// Parses "name[=a[:b...]],..." into stages with every parameter named (defaults filled in).
std::vector<ChainStage> parse_chain_spec(std::string_view spec);
// Checks names, parameter names and ranges, repeats and mirostat's position; fills in defaults
// (stages are rewritten with every parameter in positional order).
void validate_chain(std::vector<ChainStage>& stages);
// The validated stages as kinds and values (no checks).
std::vector<ResolvedStage> resolve_chain(const std::vector<ChainStage>& stages);
std::string chain_spec_string(const std::vector<ChainStage>& stages);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_CHAIN_SPEC_H_
