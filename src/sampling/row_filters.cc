// SPDX-License-Identifier: Apache-2.0
// The fixed-order sampler's filters: top-k (top_k.h), min-p in logit space, and the chain that
// leaves a kept list or a cut of the row.
#include "src/sampling/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace logitkit::internal {

float RowSampler::min_p_threshold() const { return internal::min_p_threshold(m_, inv_tau_, p_.min_p); }

void RowSampler::top_k(std::size_t k, std::vector<Cand>& out) {
  internal::top_k_filter(k_, x_, n_, k, out, s_.idx);
}

void RowSampler::use_list() {
  list_ = true;
  list_exp();
}

void RowSampler::use_cut(const Cut& c) {
  list_ = false;
  cut_ = c;
}

void RowSampler::keep_top(std::size_t keep) {
  top_k(keep, s_.cand);
  use_list();
}

void RowSampler::select() {
  const bool k_on = p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < n_;
  const bool p_on = p_.top_p < 1.0;
  const bool mp_on = p_.min_p > 0.0;
  const std::size_t keep = static_cast<std::size_t>(p_.min_tokens_to_keep);
  const double p_frac = std::max(p_.top_p - kTopPSlack, 0.0);
  if (k_on) {  // everything on the k candidates, ranked
    top_k(static_cast<std::size_t>(p_.top_k), s_.cand);
    list_exp();
    std::size_t L = s_.cand.size();
    if (p_on) {
      double total = 0;
      for (float v : s_.le) total += v;
      const double t = p_frac * total;
      std::size_t lp = 1;
      if (t > 0) {
        double cum = 0;
        for (lp = 0; lp < L;) {
          cum += s_.le[lp++];
          if (cum >= t) break;
        }
      }
      L = std::min(L, std::max(lp, std::min(keep, L)));
    }
    if (mp_on) {
      const float th = min_p_threshold();
      std::size_t lm = 0;
      while (lm < L && s_.cand[lm].x >= th) ++lm;
      L = std::min(L, std::max(lm, std::min(keep, L)));
    }
    s_.cand.resize(L);
    s_.le.resize(L);
    list_ = true;
    return;
  }
  if (mp_on) {
    const float th = min_p_threshold();
    grow(s_.idx, n_ + kCompressSlack);
    const std::size_t cm = k_.select_indices(x_, n_, th, false, 0, s_.idx.data());
    bool list = true;
    if (cm < keep) {
      top_k(keep, s_.cand);
    } else if (cm <= kListMax) {
      s_.cand.resize(cm);
      for (std::size_t j = 0; j < cm; ++j) s_.cand[j] = {x_[s_.idx[j]], s_.idx[j]};
    } else {
      list = false;
    }
    const Cut cut_m{th, INT32_MAX, cm, true};
    if (!p_on) {
      if (list) return use_list();
      row_exp();
      return use_cut(cut_m);
    }
    const double t = p_frac * row_exp();
    if (t <= 0) return keep_top(keep);
    if (list) {
      const Cut cp = nucleus_of_list(t);
      if (!cp.reached) return use_list();
      if (cp.count < keep) return keep_top(keep);
      std::erase_if(s_.cand, [&](const Cand& c) { return !in_cut(cp, c.x, c.i); });
      return use_list();
    }
    const Cut cp = nucleus(x_, s_.e.data(), nullptr, n_, t / p_frac, t);
    if (cp.count < keep) return keep_top(keep);
    return use_cut(cp.count <= cm ? cp : cut_m);
  }
  if (p_on) {
    double total = 0;
    if (fused_) {
      for (std::size_t b = 0; b < (n_ + kSampleBlock - 1) / kSampleBlock; ++b) total += s_.sums[b];
    } else {
      total = row_exp();
    }
    const double t = p_frac * total;
    if (t <= 0) return keep_top(keep);
    const Cut cp = nucleus_row(total, t);
    if (cp.count < keep) {
      sums_ready_ = false;
      return keep_top(keep);
    }
    return use_cut(cp);
  }
  // Temperature alone: the fused pass stored nothing but the block sums (unless the
  // distribution is asked for); the draw recomputes the e of its block.
  if (!fused_) row_exp();
  use_cut(Cut{-kInf, -1, n_, true});  // every finite entry
}

}  // namespace logitkit::internal
