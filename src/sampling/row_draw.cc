// SPDX-License-Identifier: Apache-2.0
// The fixed-order sampler's draw: the kept cut's block sums, the inverse-CDF scans, the top
// log-probabilities and the written distribution.
#include "src/sampling/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace logitkit::internal {

double RowSampler::cut_sums() {
  const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
  if (cut_.theta != -kInf && !sums_ready_) {
    k_.cut_block_sums(x_, s_.e.data(), n_, cut_.theta, cut_.last, s_.sums.data());
    if (fused_) {
      for (std::size_t b = 0; b < blocks; ++b) s_.sums[b] *= s_.cb[b];
    }
  }
  double t = 0;
  for (std::size_t b = 0; b < blocks; ++b) t += s_.sums[b];
  return t;
}

std::size_t RowSampler::draw_list(double target) const {
  double cum = 0;
  std::size_t last = 0;
  for (std::size_t j = 0; j < s_.cand.size(); ++j) {
    if (s_.le[j] > 0) last = j;
    cum += s_.le[j];
    if (cum > target && s_.le[j] > 0) return static_cast<std::size_t>(s_.cand[j].i);
  }
  return static_cast<std::size_t>(s_.cand[last].i);  // target rounded up to the total
}

std::size_t RowSampler::draw_cut(double target) const {
  const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
  double cum = 0;
  std::size_t b = 0, last_block = 0;
  for (; b < blocks; ++b) {
    if (s_.sums[b] > 0) last_block = b;
    if (cum + s_.sums[b] > target && s_.sums[b] > 0) break;
    cum += s_.sums[b];
  }
  if (b == blocks) {
    b = last_block;
    cum = target;  // rounding: take the last kept entry of the last block with mass
  }
  const std::size_t begin = b * kSampleBlock, end = std::min(begin + kSampleBlock, n_);
  const float* e = s_.e.data() + begin;
  if (!e_stored_) {  // the same kernel on the block: the same e as the pass that summed them
    double sum;
    float mb;
    bool nan;
    k_.exp_fused(x_ + begin, end - begin, args_, s_.block_e, &sum, &mb, &nan);
    e = s_.block_e;
  }
  const double scale = fused_ ? s_.cb[b] : 1.0;
  std::size_t last = begin;
  for (std::size_t i = begin; i < end; ++i) {
    const float ei = e[i - begin];
    if (ei > 0 && in_cut(cut_, x_[i], static_cast<std::int64_t>(i))) {
      last = i;
      cum += ei * scale;
      if (cum > target) return i;
    }
  }
  return last;
}

void RowSampler::top_logprobs(double log_total, std::vector<TokenLogprob>& out) {
  const std::size_t want = static_cast<std::size_t>(p_.top_logprobs);
  if (list_) {
    s_.top = s_.cand;
    const std::size_t k = std::min(want, s_.top.size());
    std::partial_sort(s_.top.begin(), s_.top.begin() + k, s_.top.end(), before);
    s_.top.resize(k);
  } else {
    top_k(std::min(want, cut_.count), s_.top);  // the cut is a prefix of the ranking
  }
  for (const Cand& c : s_.top) out.push_back({c.i, static_cast<float>(log_p(c.x, log_total))});
}

void RowSampler::write_probs(double total, float* probs) const {
  const double inv = 1.0 / total;
  if (list_) {
    std::fill(probs, probs + n_, 0.0f);
    for (std::size_t j = 0; j < s_.cand.size(); ++j) {
      probs[s_.cand[j].i] = static_cast<float>(s_.le[j] * inv);
    }
    return;
  }
  for (std::size_t i = 0; i < n_; ++i) {
    probs[i] = in_cut(cut_, x_[i], static_cast<std::int64_t>(i))
                   ? static_cast<float>(e_at(s_.e.data(), i) * inv)
                   : 0.0f;
  }
}

}  // namespace logitkit::internal
