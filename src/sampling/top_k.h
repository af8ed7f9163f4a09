// SPDX-License-Identifier: Apache-2.0
// The top-k stage shared by the fixed-order sampler (sampling.cc) and the sampler chain
// (chain.cc): the candidate type, the ranking, and the rising-threshold SIMD filter.
#ifndef LOGITKIT_SRC_SAMPLING_TOP_K_H_
#define LOGITKIT_SRC_SAMPLING_TOP_K_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/sampling/sampling_kernels.h"

namespace logitkit::internal {

struct Cand {
  float x;
  std::int32_t i;
};

// The ranking of every filter: larger logit first, lower index first among equal logits. A
// function object, so that std::sort and std::nth_element inline it.
inline constexpr auto before = [](const Cand& a, const Cand& b) {
  return a.x > b.x || (a.x == b.x && a.i < b.i);
};

// out = the first min(k, finite entries) entries of the ranking of x[0, n), sorted; k >= 1.
// Never sorts the row: a SIMD filter passes only the entries above the current k-th candidate,
// which rises as it goes (-inf and NaN entries never pass). idx is scratch, grown on demand.
void top_k_filter(const SamplingKernels& kern, const float* x, std::size_t n, std::size_t k,
                  std::vector<Cand>& out, std::vector<std::int32_t>& idx);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_TOP_K_H_
