// SPDX-License-Identifier: Apache-2.0
// The sampler's weights over a vocabulary shard (include/logitkit/shard.h): the same exp
// kernels, the same choice of kernel and the same 1024-entry block sums as sample()
// (sampling.cc), so that a shard's weights are bit for bit the whole row's.

#include <cstddef>
#include <string>
#include <vector>

#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/sampling/sampler_shared.h"
#include "src/sampling/sampling_kernels.h"

namespace logitkit::shard {

double sampling_weights(std::span<const float> x, float m, double inv_tau, std::span<float> e,
                        Precision precision) {
  if (e.size() != x.size()) {
    internal::fail("shard::sampling_weights", "e has " + std::to_string(e.size()) +
                                                  " entries but x has " + std::to_string(x.size()));
  }
  if (x.empty()) return 0.0;
  // The sampler's own choice of exp and its arguments (sampler_shared.h, as sample()).
  internal::SamplerExp ex = internal::sampler_exp(inv_tau, precision);
  const auto k = internal::sampling_kernels(ex.mode);
  ex.args.m = m;
  const internal::ExpArgs& args = ex.args;
  std::vector<double> sums((x.size() + internal::kSampleBlock - 1) / internal::kSampleBlock);
  k.exp_blocks(x.data(), x.size(), args, e.data(), sums.data());
  double t = 0.0;
  for (double v : sums) t += v;
  return t;
}

}  // namespace logitkit::shard
