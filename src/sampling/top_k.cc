// SPDX-License-Identifier: Apache-2.0
// The top-k stage: a rising-threshold SIMD filter, then k log k on the survivors.
#include "src/sampling/top_k.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace logitkit::internal {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();
// Candidate blocks of the rising-threshold filter.
constexpr std::size_t kTopKBlock = 4096;
}  // namespace

void top_k_filter(const SamplingKernels& kern, const float* x, std::size_t n, std::size_t k,
                  std::vector<Cand>& out, std::vector<std::int32_t>& idx) {
  out.clear();
  if (idx.size() < kTopKBlock + kCompressSlack) idx.resize(kTopKBlock + kCompressSlack);
  float theta = -kInf;  // strict: entries equal to the k-th lose to it (higher index)
  const std::size_t shrink_at = std::max<std::size_t>(2 * k, 512);
  std::size_t block = std::clamp<std::size_t>(4 * k, 256, kTopKBlock);
  constexpr std::size_t kSample = 1024;
  if (4 * k <= kSample && n >= 4 * kSample) {
    // The k-th largest of a strided sample is at most the row's k-th largest: start just below.
    float smp[kSample];
    for (std::size_t j = 0; j < kSample; ++j) smp[j] = x[(2 * j + 1) * n / (2 * kSample)];
    std::nth_element(smp, smp + (k - 1), smp + kSample, std::greater<float>());
    theta = std::nextafter(smp[k - 1], -kInf);
    block = kTopKBlock;
  }
  for (std::size_t i = 0; i < n; i += block, block = kTopKBlock) {
    const std::size_t len = std::min(block, n - i);
    const std::size_t c =
        kern.select_indices(x + i, len, theta, true, static_cast<std::int32_t>(i), idx.data());
    for (std::size_t j = 0; j < c; ++j) out.push_back({x[idx[j]], idx[j]});
    if (out.size() >= shrink_at && out.size() > k) {
      std::nth_element(out.begin(), out.begin() + (k - 1), out.end(), before);
      out.resize(k);
      theta = out[k - 1].x;
    }
  }
  if (out.size() > k) {
    std::nth_element(out.begin(), out.begin() + (k - 1), out.end(), before);
    out.resize(k);
  }
  std::sort(out.begin(), out.end(), before);
}

}  // namespace logitkit::internal
