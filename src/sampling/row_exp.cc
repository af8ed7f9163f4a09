// SPDX-License-Identifier: Apache-2.0
// The fixed-order sampler's exp passes: the fused pass (block maxima, weights, block sums),
// the plain row and list passes, and the fallback from the fused representation.
#include "src/sampling/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace logitkit::internal {

bool RowSampler::fused_pass(bool store) {
  const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
  grow(s_.sums, blocks);
  grow(s_.bmax, blocks);
  grow(s_.cbf, blocks);
  grow(s_.cb, blocks);
  if (store) grow(s_.e, n_);
  bool has_nan = false;
  k_.exp_fused(x_, n_, args_, store ? s_.e.data() : nullptr, s_.sums.data(), s_.bmax.data(),
               &has_nan);
  m_ = -kInf;
  for (std::size_t b = 0; b < blocks; ++b) m_ = std::max(m_, s_.bmax[b]);
  if (has_nan) check_max(true);
  if (m_ == kInf) return false;
  check_max(false);
  args_.m = m_;
  k_.exp_blocks(s_.bmax.data(), blocks, args_, s_.cbf.data(), nullptr);
  for (std::size_t b = 0; b < blocks; ++b) {
    s_.cb[b] = s_.cbf[b];
    s_.sums[b] *= s_.cb[b];
  }
  fused_ = true;
  e_stored_ = store;
  return true;
}

void RowSampler::unfuse() {
  if (!fused_) return;
  for (std::size_t i = 0; i < n_; ++i) s_.e[i] = static_cast<float>(e_at(s_.e.data(), i));
  fused_ = false;
}

void RowSampler::list_exp() {
  const std::size_t L = s_.cand.size();
  s_.lx.resize(L);
  s_.le.resize(L);
  for (std::size_t j = 0; j < L; ++j) s_.lx[j] = s_.cand[j].x;
  if (L) k_.exp_blocks(s_.lx.data(), L, args_, s_.le.data(), nullptr);
}

double RowSampler::row_exp() {
  grow(s_.e, n_);
  const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
  grow(s_.sums, blocks);
  k_.exp_blocks(x_, n_, args_, s_.e.data(), s_.sums.data());
  e_stored_ = true;
  double t = 0;
  for (std::size_t b = 0; b < blocks; ++b) t += s_.sums[b];
  return t;
}

}  // namespace logitkit::internal
