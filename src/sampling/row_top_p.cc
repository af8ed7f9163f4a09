// SPDX-License-Identifier: Apache-2.0
// The fixed-order sampler's top-p stage: the mass-weighted nucleus select over candidates, over
// the fused row (a bracket estimated from a sample of the row), and over a candidate list.
#include "src/sampling/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace logitkit::internal {

Cut RowSampler::nucleus(const float* x, const float* e, const std::int32_t* ic, std::size_t n,
                        double total_mass, double t, double above0, std::size_t count0) {
  const std::size_t cap = n + kCompressSlack;
  for (int b = 0; b < 2; ++b) {
    grow(s_.xc[b], cap);
    grow(s_.ec[b], cap);
    grow(s_.ic[b], cap);
  }
  double above = above0;
  std::size_t count_above = count0;
  double mass = total_mass;
  int buf = 0;
  bool narrow = false;
  auto index = [&](std::size_t j) -> std::int64_t { return ic ? ic[j] : std::int64_t(j); };
  for (;;) {
    if (n <= kNucleusSort) {
      struct CE {
        float x;
        float e;
        std::int64_t i;
      };
      CE v[kNucleusSort];
      for (std::size_t j = 0; j < n; ++j) v[j] = {x[j], e[j], index(j)};
      std::sort(v, v + n, [](const CE& a, const CE& b) {
        return a.x > b.x || (a.x == b.x && a.i < b.i);
      });
      double cum = above;
      for (std::size_t j = 0; j < n; ++j) {
        cum += v[j].e;
        if (cum >= t) return Cut{v[j].x, v[j].i, count_above + j + 1, true};
      }
      if (n == 0) return Cut{-kInf, -1, count_above, false};
      return Cut{v[n - 1].x, v[n - 1].i, count_above + n, false};
    }
    constexpr std::size_t kS = 64, kMargin = 3;
    Cand smp[kS];
    double smp_e[kS];
    for (std::size_t j = 0; j < kS; ++j) {
      const std::size_t at = (2 * j + 1) * n / (2 * kS);
      smp[j] = {x[at], static_cast<std::int32_t>(at)};
    }
    std::sort(smp, smp + kS, before);
    double smp_total = 0;
    for (std::size_t j = 0; j < kS; ++j) smp_total += smp_e[j] = e[smp[j].i];
    const double frac = mass > 0 ? std::min(1.0, (t - above) / mass) : 1.0;
    std::size_t pos = 0;
    for (double cum = 0; pos + 1 < kS; ++pos) {
      cum += smp_e[pos];
      if (cum >= frac * smp_total) break;
    }
    float hi = smp[pos > kMargin ? pos - kMargin : 0].x;
    float lo = smp[std::min(pos + kMargin, kS - 1)].x;
    if (narrow) hi = lo = smp[pos].x;
    narrow = false;
    const internal::PartitionStats ps = k_.partition(x, e, n, hi, lo);
    float keep_lo, keep_hi;
    bool ties = false;
    if (above + ps.mass_gt_hi >= t) {
      keep_lo = std::nextafter(hi, kInf);
      keep_hi = kMaxF;
      mass = ps.mass_gt_hi;
    } else if (above + ps.mass_ge_lo >= t) {
      above += ps.mass_gt_hi;
      count_above += ps.count_gt_hi;
      keep_lo = lo;
      keep_hi = hi;
      mass = ps.mass_ge_lo - ps.mass_gt_hi;
      ties = lo == hi;
    } else {
      above += ps.mass_ge_lo;
      count_above += ps.count_ge_lo;
      if (ps.count_ge_lo == n) {  // the sums fell short of t: keep everything
        return Cut{lo, INT32_MAX, count_above, false};
      }
      keep_lo = -kMaxF;
      keep_hi = std::nextafter(lo, -kInf);
      mass = std::max(mass - ps.mass_ge_lo, 0.0);
    }
    float* xo = s_.xc[buf].data();
    float* eo = s_.ec[buf].data();
    std::int32_t* io = s_.ic[buf].data();
    const std::size_t kept = k_.compact(x, e, ic, n, keep_lo, keep_hi, xo, eo, io);
    narrow = kept == n && !ties;  // no progress (a bracket holding everything): one pivot
    n = kept;
    x = xo;
    e = eo;
    ic = io;
    buf ^= 1;
    if (ties) {  // every candidate is tied at hi: take them in index order
      double cum = above;
      for (std::size_t j = 0; j < n; ++j) {
        cum += e[j];
        if (cum >= t) return Cut{hi, ic[j], count_above + j + 1, true};
      }
      return Cut{hi, INT32_MAX, count_above + n, false};
    }
  }
}

Cut RowSampler::nucleus_row(double total, double t) {
  if (n_ < 8192 || inv_tau_ == 0.0) {
    unfuse();
    sums_ready_ = false;
    return nucleus(x_, s_.e.data(), nullptr, n_, total, t);
  }
  constexpr std::size_t kS = 512, kBuckets = 256;
  constexpr double kPerNat = 8;  // buckets per nat of (max - x)/tau
  double hist[kBuckets] = {};
  for (std::size_t j = 0; j < kS; ++j) {
    const std::size_t at = (2 * j + 1) * n_ / (2 * kS);
    const double ei = e_at(s_.e.data(), at);
    if (ei == 0.0) continue;
    const double tq = (static_cast<double>(m_) - x_[at]) * inv_tau_ * kPerNat;  // >= 0
    const std::size_t b = tq >= kBuckets - 1 ? kBuckets - 1 : static_cast<std::size_t>(tq);
    hist[b] += ei;
  }
  const double scale = static_cast<double>(n_) / kS;
  const double outside = total - t;
  std::size_t b_star = 0;
  double cum = 0;
  for (std::size_t b = kBuckets; b-- > 0;) {
    cum += hist[b] * scale;
    if (cum >= outside) {
      b_star = b;
      break;
    }
  }
  // The bracket: buckets b_star - 1 .. b_star + 1 of (max - x)/tau.
  const double tau = 1.0 / inv_tau_;
  float hi = b_star <= 1 ? kInf : static_cast<float>(m_ - (b_star - 1) / kPerNat * tau);
  float lo = b_star + 2 >= kBuckets - 1 ? -kMaxF
                                        : static_cast<float>(m_ - (b_star + 2) / kPerNat * tau);
  if (!(lo <= hi)) lo = hi;
  const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
  grow(s_.bi, n_ + kCompressSlack);
  grow(s_.bx, n_ + kCompressSlack);
  grow(s_.be, n_ + kCompressSlack);
  double above = 0, bracket = 0;
  std::size_t count_above = 0, c = 0;
  // The bracket's x and e (as e_at gives them, rounded to float) and their sum are gathered
  // by the pass, block by block; blocks whose max (s_.bmax, from the max or fused pass) is
  // below the bracket are skipped.
  auto pass = [&](float h, float l) {
    c = k_.above_bracket(x_, s_.e.data(), n_, h, l, s_.sums.data(), &count_above,
                         s_.bi.data(), fused_ ? s_.cb.data() : nullptr, s_.bx.data(),
                         s_.be.data(), &bracket, s_.bmax.data());
    above = 0;
    for (std::size_t b = 0; b < blocks; ++b) {
      if (fused_) s_.sums[b] *= s_.cb[b];
      above += s_.sums[b];
    }
  };
  pass(hi, lo);
  if (above >= t && hi != kInf) {  // the boundary is above hi: the bracket is x > hi
    pass(kInf, std::nextafter(hi, kInf));
  } else if (above + bracket < t && lo != -kMaxF) {
    // Below lo: widen the bracket downwards, 1, 4 and 16 nats below lo and then to the
    // bottom, until it reaches t. Each pass reads only the blocks whose max reaches its
    // bracket: a row whose mass sits in a few tokens the sample missed (a peaked row) reads a
    // few blocks instead of gathering and selecting over the whole row.
    constexpr double kWiden[] = {1, 4, 16};
    float top = lo;
    for (std::size_t k = 0; k <= 3 && above + bracket < t && top != -kMaxF; ++k) {
      float l = -kMaxF;
      if (k < 3) {
        const double v = m_ - ((b_star + 2) / kPerNat + kWiden[k]) * tau;
        if (v > -kMaxF) l = static_cast<float>(v);
        if (!(l < top)) continue;
      }
      pass(std::nextafter(top, -kInf), l);
      top = l;
    }
  }
  if (above >= t || !(c > 0 || above + bracket >= t)) {  // the sums disagree: the plain select
    unfuse();
    sums_ready_ = false;
    return nucleus(x_, s_.e.data(), nullptr, n_, total, t);
  }
  const Cut cut = nucleus(s_.bx.data(), s_.be.data(), s_.bi.data(), c, bracket, t, above,
                          count_above);
  // The kept cut's block sums: the mass above the bracket, plus the kept bracket entries.
  // In index order, hence block by block: each block's sum in a register, and the entries
  // outside the cut add +0 (no branch: about half of them are kept, at random). The same
  // additions in the same order as adding the kept entries one by one.
  for (std::size_t j = 0; j < c;) {
    const std::size_t b = static_cast<std::size_t>(s_.bi[j]) / kSampleBlock;
    const std::int32_t end = static_cast<std::int32_t>(std::min((b + 1) * kSampleBlock, n_));
    double acc = s_.sums[b];
    for (; j < c && s_.bi[j] < end; ++j) {
      acc += in_cut(cut, s_.bx[j], s_.bi[j]) ? static_cast<double>(s_.be[j]) : 0.0;
    }
    s_.sums[b] = acc;
  }
  sums_ready_ = true;
  return cut;
}

Cut RowSampler::nucleus_of_list(double t) {
  std::sort(s_.cand.begin(), s_.cand.end(), [](const Cand& a, const Cand& b) { return a.i < b.i; });
  const std::size_t L = s_.cand.size();
  s_.lx.resize(L);
  s_.le.resize(L);
  std::vector<std::int32_t> ids(L);
  double mass = 0;
  for (std::size_t j = 0; j < L; ++j) {
    s_.lx[j] = s_.cand[j].x;
    s_.le[j] = s_.e[s_.cand[j].i];
    ids[j] = s_.cand[j].i;
    mass += s_.le[j];
  }
  return nucleus(s_.lx.data(), s_.le.data(), ids.data(), L, mass, t);
}

}  // namespace logitkit::internal
