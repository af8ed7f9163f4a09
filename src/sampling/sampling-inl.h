// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of the sampler: exp with 256-entry block sums, masked block sums, threshold
// filters (compress), partition statistics for the top-p select, first-maximum search.
// Every double sum uses 16 logical lanes (position i in lane i % 16, added in order) and a fixed
// tree, like the softmax kernels, so every target gives the same bits and hence the same token.

#if defined(LOGITKIT_SRC_SAMPLING_SAMPLING_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_SAMPLING_SAMPLING_INL_H_
#undef LOGITKIT_SRC_SAMPLING_SAMPLING_INL_H_
#else
#define LOGITKIT_SRC_SAMPLING_SAMPLING_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "src/common/exp-inl.h"
#include "src/sampling/sampling_kernels.h"
#include "src/softmax/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace sampling {

using internal::kLaneGroup;
using internal::kSampleBlock;
using internal::PartitionStats;

constexpr size_t kN = hn::MaxLanes(DF());
constexpr size_t kU = kLaneGroup / kN;  // float vectors per lane group of 16
constexpr size_t kA = kParts * kU;      // double accumulators holding the 16 logical lanes
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

// 16 logical double lanes, added in a fixed order on every target.
struct Lanes16 {
  VD acc[kA];
  HWY_INLINE void Reset() {
    for (size_t a = 0; a < kA; ++a) acc[a] = hn::Zero(DD());
  }
  // Adds float vector v, which holds positions [k * N, (k + 1) * N) of a lane group.
  HWY_INLINE void Add(size_t k, VF v) {
    VD parts[kParts];
    Widen(v, parts);
    for (size_t p = 0; p < kParts; ++p) {
      acc[(k % kU) * kParts + p] = hn::Add(acc[(k % kU) * kParts + p], parts[p]);
    }
  }
  HWY_INLINE double Total() const {
    HWY_ALIGN double lanes[kLaneGroup];
    for (size_t a = 0; a < kA; ++a) hn::Store(acc[a], DD(), lanes + a * (kN / kParts));
    return TreeSum16(lanes);
  }
};

// e[0, KV*N) = exp((x - m) * inv_tau) rounded to float, 0 where x = -inf; adds the rounded values
// into `sum`. src holds whole lane groups.
template <size_t KV>
HWY_INLINE void ExpGroups(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst, VD md, VD itd,
                          Lanes16* sum) {
  const DF d;
  const DD dd;
  constexpr size_t KD = KV * kParts;
  VF v[KV];
  VD t[KD];
  for (size_t k = 0; k < KV; ++k) {
    v[k] = hn::LoadU(d, src + k * kN);
    Widen(v[k], t + k * kParts);
  }
  for (size_t j = 0; j < KD; ++j) t[j] = hn::Mul(hn::Sub(t[j], md), itd);
  ExpNonPositiveF64<KD>(dd, t);
  const VF neg_inf = hn::Set(d, -kInfF);
  for (size_t k = 0; k < KV; ++k) {
    // x = -inf with inv_tau = 0 (tau = +inf) gives NaN above; a masked entry is 0 on every path.
    const VF e = hn::IfThenZeroElse(hn::Eq(v[k], neg_inf), Narrow(t + k * kParts));
    if (dst) hn::StoreU(e, d, dst + k * kN);
    if (sum) sum->Add(k, e);
  }
}

// The same in float (Precision::kFast): the shift (x - m) * inv_tau rounded in float, float exp.
template <size_t KV>
HWY_INLINE void ExpGroupsFast(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst, VF mf,
                              VF itf, Lanes16* sum) {
  const DF d;
  VF v[KV], t[KV];
  for (size_t k = 0; k < KV; ++k) {
    v[k] = hn::LoadU(d, src + k * kN);
    t[k] = hn::Mul(hn::Sub(v[k], mf), itf);
  }
  ExpNonPositiveF32<KV>(d, t);
  const VF neg_inf = hn::Set(d, -kInfF);
  for (size_t k = 0; k < KV; ++k) {
    const VF e = hn::IfThenZeroElse(hn::Eq(v[k], neg_inf), t[k]);
    if (dst) hn::StoreU(e, d, dst + k * kN);
    if (sum) sum->Add(k, e);
  }
}

// e_i = exp((x_i - m) * inv_tau) for x[0, n) (x_i <= m, not NaN; -inf gives 0); if block_sums is
// non-null, block_sums[b] = sum of the float e over entries [256 b, 256 b + 256).
template <bool kFast>
HWY_INLINE void ExpBlocksImpl(const float* x, size_t n, float m, double inv_tau, float* e,
                              double* block_sums) {
  constexpr size_t kStep = 32;  // entries per exp batch: enough independent vectors
  const DD dd;
  const VD md = hn::Set(dd, static_cast<double>(m));
  const VD itd = hn::Set(dd, inv_tau);
  const VF mf = hn::Set(DF(), m);
  const VF itf = hn::Set(DF(), static_cast<float>(inv_tau));
  auto batch = [&](const float* src, float* dst, Lanes16* sum) HWY_ATTR {
    if constexpr (kFast) {
      ExpGroupsFast<kStep / kN>(src, dst, mf, itf, sum);
    } else {
      ExpGroups<kStep / kN>(src, dst, md, itd, sum);
    }
  };
  Lanes16 sum;
  Lanes16* psum = block_sums ? &sum : nullptr;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    sum.Reset();
    size_t j = 0;
    for (; j + kStep <= len; j += kStep) {
      batch(x + b0 + j, e + b0 + j, psum);
    }
    if (j < len) {  // padded with -inf, which adds exactly 0 on every target
      HWY_ALIGN float xb[kStep];
      HWY_ALIGN float eb[kStep];
      for (size_t i = 0; i < kStep; ++i) xb[i] = -kInfF;
      std::memcpy(xb, x + b0 + j, (len - j) * sizeof(float));
      batch(xb, eb, psum);
      std::memcpy(e + b0 + j, eb, (len - j) * sizeof(float));
    }
    if (block_sums) block_sums[b0 / kSampleBlock] = sum.Total();
  }
}

// The mask of the cut {x > theta} or {x == theta and index < end} (end = last + 1).
// iota0 = Iota(di, 0), hoisted: Highway 1.0.3's x86 Iota goes through memory.
HWY_INLINE hn::Mask<DF> InCut(VF v, size_t i, VF vt, hn::Vec<hn::RebindToSigned<DF>> vend,
                              hn::Vec<hn::RebindToSigned<DF>> iota0) {
  const hn::RebindToSigned<DF> di;
  const auto idx = hn::Add(iota0, hn::Set(di, static_cast<int32_t>(i)));
  const auto tie_ok = hn::RebindMask(DF(), hn::Lt(idx, vend));
  return hn::Or(hn::Gt(v, vt), hn::And(hn::Eq(v, vt), tie_ok));
}

// block_sums[b] = sum over entries of block b in the cut of e_i.
HWY_INLINE void CutBlockSumsImpl(const float* x, const float* e, size_t n, float theta,
                                 int64_t last, double* block_sums) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vt = hn::Set(d, theta);
  // Indices are below INT32_MAX (n <= INT32_MAX), so end = INT32_MAX takes every tie.
  const int64_t end = last < -1 ? 0 : (last >= INT32_MAX - 1 ? INT32_MAX : last + 1);
  const auto vlast = hn::Set(di, static_cast<int32_t>(end));
  const auto iota0 = hn::Iota(di, 0);
  Lanes16 sum;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    sum.Reset();
    size_t j = 0;
    for (; j + kLaneGroup <= len; j += kLaneGroup) {
      for (size_t k = 0; k < kU; ++k) {
        const size_t i = b0 + j + k * kN;
        const VF v = hn::LoadU(d, x + i);
        sum.Add(k, hn::IfThenElseZero(InCut(v, i, vt, vlast, iota0), hn::LoadU(d, e + i)));
      }
    }
    if (j < len) {
      HWY_ALIGN float xb[kLaneGroup];
      HWY_ALIGN float eb[kLaneGroup] = {};
      for (size_t i = 0; i < kLaneGroup; ++i) xb[i] = kNaNF;  // fails every comparison
      std::memcpy(xb, x + b0 + j, (len - j) * sizeof(float));
      std::memcpy(eb, e + b0 + j, (len - j) * sizeof(float));
      for (size_t k = 0; k < kU; ++k) {
        const VF v = hn::Load(d, xb + k * kN);
        const auto m = InCut(v, b0 + j + k * kN, vt, vlast, iota0);
        sum.Add(k, hn::IfThenElseZero(m, hn::Load(d, eb + k * kN)));
      }
    }
    block_sums[b0 / kSampleBlock] = sum.Total();
  }
}

// Writes base + i for every i in [0, n) with x_i > theta (strict) or x_i >= theta, in order, to
// idx (which has room for n + kCompressSlack entries); returns how many.
HWY_INLINE size_t SelectIndicesImpl(const float* x, size_t n, float theta, bool strict,
                                    int32_t base, int32_t* idx) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vt = hn::Set(d, theta);
  const auto iota0 = hn::Iota(di, 0);
  size_t w = 0;
  size_t i = 0;
  auto one = [&](VF v, size_t at) HWY_ATTR {
    const auto m = strict ? hn::Gt(v, vt) : hn::Ge(v, vt);
    const auto iv = hn::Add(iota0, hn::Set(di, base + static_cast<int32_t>(at)));
    hn::StoreU(hn::Compress(iv, hn::RebindMask(di, m)), di, idx + w);
    w += hn::CountTrue(d, m);
  };
  // Most vectors pass nothing once the threshold has risen: test four at a time first.
  for (; i + 4 * kN <= n; i += 4 * kN) {
    const VF v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + kN);
    const VF v2 = hn::LoadU(d, x + i + 2 * kN), v3 = hn::LoadU(d, x + i + 3 * kN);
    const VF top = hn::Max(hn::Max(v0, v1), hn::Max(v2, v3));
    if (hn::AllFalse(d, strict ? hn::Gt(top, vt) : hn::Ge(top, vt))) continue;
    one(v0, i);
    one(v1, i + kN);
    one(v2, i + 2 * kN);
    one(v3, i + 3 * kN);
  }
  for (; i + kN <= n; i += kN) one(hn::LoadU(d, x + i), i);
  if (i < n) {
    HWY_ALIGN float xb[kN];
    for (size_t j = 0; j < kN; ++j) xb[j] = -kInfF;
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    const VF v = hn::Load(d, xb);
    const auto valid = hn::FirstN(d, n - i);
    const auto m = hn::And(valid, strict ? hn::Gt(v, vt) : hn::Ge(v, vt));
    const auto iv = hn::Add(iota0, hn::Set(di, base + static_cast<int32_t>(i)));
    hn::StoreU(hn::Compress(iv, hn::RebindMask(di, m)), di, idx + w);
    w += hn::CountTrue(d, m);
  }
  return w;
}

// The first i with x_i == v, or n.
HWY_INLINE size_t FindFirstEqImpl(const float* x, size_t n, float v) {
  const DF d;
  const VF vv = hn::Set(d, v);
  size_t i = 0;
  for (; i + kN <= n; i += kN) {
    const auto m = hn::Eq(hn::LoadU(d, x + i), vv);
    if (!hn::AllFalse(d, m)) return i + static_cast<size_t>(hn::FindFirstTrue(d, m));
  }
  for (; i < n; ++i) {
    if (x[i] == v) return i;
  }
  return n;
}

// Mass and count of {x > hi} and {x >= lo} over the candidate arrays (positions in lanes).
HWY_INLINE PartitionStats PartitionImpl(const float* x, const float* e, size_t n, float hi,
                                        float lo) {
  const DF d;
  const VF vhi = hn::Set(d, hi);
  const VF vlo = hn::Set(d, lo);
  Lanes16 s_hi, s_lo;
  s_hi.Reset();
  s_lo.Reset();
  size_t c_hi = 0, c_lo = 0;
  auto group = [&](const float* xg, const float* eg) HWY_ATTR {
    for (size_t k = 0; k < kU; ++k) {
      const VF v = hn::LoadU(d, xg + k * kN);
      const VF ev = hn::LoadU(d, eg + k * kN);
      const auto m_hi = hn::Gt(v, vhi);
      const auto m_lo = hn::Ge(v, vlo);
      c_hi += hn::CountTrue(d, m_hi);
      c_lo += hn::CountTrue(d, m_lo);
      s_hi.Add(k, hn::IfThenElseZero(m_hi, ev));
      s_lo.Add(k, hn::IfThenElseZero(m_lo, ev));
    }
  };
  size_t i = 0;
  for (; i + kLaneGroup <= n; i += kLaneGroup) group(x + i, e + i);
  if (i < n) {
    HWY_ALIGN float xb[kLaneGroup];
    HWY_ALIGN float eb[kLaneGroup] = {};
    for (size_t j = 0; j < kLaneGroup; ++j) xb[j] = kNaNF;  // fails every comparison
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(eb, e + i, (n - i) * sizeof(float));
    group(xb, eb);
  }
  return PartitionStats{s_hi.Total(), s_lo.Total(), c_hi, c_lo};
}

// Keeps the candidates with lo <= x <= hi, in order: writes their x, e and index (ic null: the
// position itself) to xo, eo, io (room for n + kCompressSlack each); returns how many.
HWY_INLINE size_t CompactImpl(const float* x, const float* e, const int32_t* ic, size_t n,
                              float lo, float hi, float* xo, float* eo, int32_t* io) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vlo = hn::Set(d, lo);
  const VF vhi = hn::Set(d, hi);
  size_t w = 0;
  auto one = [&](VF v, VF ev, hn::Vec<decltype(di)> iv, hn::Mask<DF> valid) HWY_ATTR {
    const auto m = hn::And(valid, hn::And(hn::Ge(v, vlo), hn::Le(v, vhi)));
    if (hn::AllFalse(d, m)) return;
    hn::StoreU(hn::Compress(v, m), d, xo + w);
    hn::StoreU(hn::Compress(ev, m), d, eo + w);
    hn::StoreU(hn::Compress(iv, hn::RebindMask(di, m)), di, io + w);
    w += hn::CountTrue(d, m);
  };
  const auto all = hn::FirstN(d, kN);
  const auto iota0 = hn::Iota(di, 0);
  size_t i = 0;
  for (; i + kN <= n; i += kN) {
    const auto iv =
        ic ? hn::LoadU(di, ic + i) : hn::Add(iota0, hn::Set(di, static_cast<int32_t>(i)));
    one(hn::LoadU(d, x + i), hn::LoadU(d, e + i), iv, all);
  }
  if (i < n) {
    HWY_ALIGN float xb[kN] = {};
    HWY_ALIGN float eb[kN] = {};
    HWY_ALIGN int32_t ib[kN] = {};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(eb, e + i, (n - i) * sizeof(float));
    for (size_t j = 0; j < n - i; ++j) ib[j] = ic ? ic[i + j] : static_cast<int32_t>(i + j);
    one(hn::Load(d, xb), hn::Load(d, eb), hn::Load(di, ib), hn::FirstN(d, n - i));
  }
  return w;
}

}  // namespace sampling
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_SAMPLING_SAMPLING_INL_H_
