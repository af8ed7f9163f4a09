// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of the loss family: the fused gradient write of cross-entropy and the
// distillation sums and gradient. Statistics of a single row come from the softmax kernels.

#if defined(LOGITKIT_SRC_LOSS_LOSS_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_LOSS_LOSS_KERNELS_INL_H_
#undef LOGITKIT_SRC_LOSS_LOSS_KERNELS_INL_H_
#else
#define LOGITKIT_SRC_LOSS_LOSS_KERNELS_INL_H_
#endif

#include <cstddef>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "hwy/cache_control.h"
#include "src/internal/exp-inl.h"
#include "src/internal/log-inl.h"
#include "src/loss/loss_kernels.h"
#include "src/softmax/softmax_kernels-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs body(src_offset, count) over [0, n) in whole vectors of N floats; the tail is handed to
// tail(i) (i = first index left, fewer than N entries left).
template <class Body, class Tail>
HWY_INLINE void ForVectors(size_t n, size_t N, Body&& body, Tail&& tail) {
  size_t i = 0;
  for (; i + N <= n; i += N) body(i);
  if (i < n) tail(i);
}

// One vector of GradAffine at e, w, y (w and y may be null), written to out.
template <bool kFast>
HWY_INLINE void GradAffineVec(const float* e, const double* w, const float* y, double k, double b1,
                              double b0, float* out) {
  const DF d;
  const DD dd;
  constexpr size_t ND = hn::MaxLanes(d) / kParts;
  if constexpr (kFast) {
    if (w == nullptr && y == nullptr) {
      const VF v = hn::LoadU(d, e);
      hn::StoreU(hn::Sub(hn::Mul(v, hn::Set(d, static_cast<float>(k))),
                         hn::Set(d, static_cast<float>(b0))),
                 d, out);
      return;
    }
  }
  VD pe[kParts], py[kParts];
  Widen(hn::LoadU(d, e), pe);
  if (y) Widen(hn::LoadU(d, y), py);
  const VD vk = hn::Set(dd, k), vb1 = hn::Set(dd, b1), vb0 = hn::Set(dd, b0);
  for (size_t p = 0; p < kParts; ++p) {
    VD c = y ? hn::Add(hn::Mul(vb1, py[p]), vb0) : vb0;
    if (w) c = hn::Mul(hn::LoadU(dd, w + p * ND), c);
    pe[p] = hn::Sub(hn::Mul(pe[p], vk), c);
  }
  hn::StoreU(Narrow(pe), d, out);
}

template <bool kFast>
HWY_INLINE void GradAffineImpl(const float* e, const double* w, const float* y, size_t n, double k,
                               double b1, double b0, float* out) {
  constexpr size_t N = hn::MaxLanes(DF());
  ForVectors(
      n, N,
      [&](size_t i) HWY_ATTR {
        GradAffineVec<kFast>(e + i, w ? w + i : nullptr, y ? y + i : nullptr, k, b1, b0, out + i);
      },
      [&](size_t i) HWY_ATTR {
        HWY_ALIGN float eb[N] = {}, yb[N] = {};
        HWY_ALIGN double wb[N] = {};
        std::memcpy(eb, e + i, (n - i) * sizeof(float));
        if (y) std::memcpy(yb, y + i, (n - i) * sizeof(float));
        if (w) std::memcpy(wb, w + i, (n - i) * sizeof(double));
        GradAffineVec<kFast>(eb, w ? wb : nullptr, y ? yb : nullptr, k, b1, b0, eb);
        std::memcpy(out + i, eb, (n - i) * sizeof(float));
      });
}

// ---- element-wise maps with an optional streaming (non-temporal) store ----------------------

// out[i] = f(v) for i in [0, n), v[k] = the vector of in[k] at i. Partial vectors (the tail, and
// the head before out is vector-aligned when streaming) are padded with pad[k] (LoadPartial),
// so f sees whole vectors only and nothing past n is touched. stream: the aligned body is
// written with non-temporal stores (for outputs larger than the cache: no read for ownership),
// then fenced. The values are the same either way.
template <size_t kIn, class F>
HWY_INLINE void MapN(size_t n, const float* const (&in)[kIn], const float (&pad)[kIn], float* out,
                     bool stream, F&& f) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  auto partial = [&](size_t i, size_t len) HWY_ATTR {
    VF v[kIn];
    for (size_t k = 0; k < kIn; ++k) v[k] = LoadPartial(in[k] + i, len, hn::Set(d, pad[k]));
    StorePartial(f(v), out + i, len);
  };
  size_t i = 0;
  if (stream) {
    const size_t mis = (reinterpret_cast<uintptr_t>(out) / sizeof(float)) % N;
    const size_t head = std::min(n, mis == 0 ? size_t{0} : N - mis);
    if (head > 0) partial(0, head);
    i = head;
    for (; i + N <= n; i += N) {
      VF v[kIn];
      for (size_t k = 0; k < kIn; ++k) v[k] = hn::LoadU(d, in[k] + i);
      hn::Stream(f(v), d, out + i);
    }
    hwy::FlushStream();
  } else {
    for (; i + N <= n; i += N) {
      VF v[kIn];
      for (size_t k = 0; k < kIn; ++k) v[k] = hn::LoadU(d, in[k] + i);
      hn::StoreU(f(v), d, out + i);
    }
  }
  if (i < n) partial(i, n - i);
}

// out = e * k - b0 (GradAffine without weights or probability targets), optionally streamed.
// kFast: the same bits as GradAffineVec<true> with w = y = null; accurate: e * k - b0 rounded
// once (b0 == 0: through k = k_hi + k_lo in float, up to 2^-48 relative; else in double).
template <bool kFast>
HWY_INLINE void GradScaleImpl(const float* e, size_t n, double k, double b0, float* out,
                              bool stream) {
  const DF d;
  const DD dd;
  const float* in[1] = {e};
  const float pad[1] = {0.0f};
  if constexpr (kFast) {
    const VF kf = hn::Set(d, static_cast<float>(k)), bf = hn::Set(d, static_cast<float>(b0));
    MapN<1>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
      return hn::Sub(hn::Mul(v[0], kf), bf);
    });
  } else if (b0 == 0.0) {
    // k = k_hi + k_lo (to 2^-48); out = fma(e, k_hi, e * k_lo): e * k rounded once (up to
    // 2^-48 relative), in float: cheaper than widening to double.
    const float k_hi = static_cast<float>(k);
    const VF khi = hn::Set(d, k_hi);
    const VF klo = hn::Set(d, static_cast<float>(k - static_cast<double>(k_hi)));
    MapN<1>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
      return MulAddExact(d, v[0], khi, hn::Mul(v[0], klo));
    });
  } else {
    // With label smoothing e * k - b0 may cancel: in double, rounded once.
    const VD kd = hn::Set(dd, k), bd = hn::Set(dd, b0);
    MapN<1>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
      VD p[kParts];
      Widen(v[0], p);
      for (size_t j = 0; j < kParts; ++j) p[j] = hn::Sub(hn::Mul(p[j], kd), bd);
      return Narrow(p);
    });
  }
}

// ---- distillation ------------------------------------------------------------------------

// Max over x[0, n) (n >= 1), whether any entry is NaN and whether any is -inf.
HWY_INLINE float MaxNaNNegInf(const float* HWY_RESTRICT x, size_t n, bool* has_nan,
                              bool* has_neg_inf) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  const VF neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  VF m0 = neg_inf, m1 = neg_inf;
  auto nan = hn::FirstN(d, 0);
  auto neg = hn::FirstN(d, 0);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const VF v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + N);
    nan = hn::Or(nan, hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)));
    neg = hn::Or(neg, hn::Eq(hn::Min(v0, v1), neg_inf));
    m0 = hn::Max(m0, v0);
    m1 = hn::Max(m1, v1);
  }
  for (; i < n; i += N) {  // the tail, padded with a copy of x[0]
    const VF v = LoadPartial(x + i, std::min(N, n - i), hn::Set(d, x[0]));
    nan = hn::Or(nan, hn::IsNaN(v));
    neg = hn::Or(neg, hn::Eq(v, neg_inf));
    m0 = hn::Max(m0, v);
  }
  *has_nan = !hn::AllFalse(d, nan);
  *has_neg_inf = !hn::AllFalse(d, neg);
  return hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
}

// Accumulates a block of KV float vectors (a whole number of lane groups) of teacher t and
// student s into the dual statistics: per side the 16 logical lanes of the non-tie exponentials
// and the tie count, and the cross sums sum et * delta, sum es * delta with
// delta = (t - mt) itt - (s - ms) its (zero where either side is -inf). Writes the exponentials
// to et_out / es_out when non-null. Accurate: shifts, exps and products in double; fast: in
// float, a block's four lane groups added pairwise in float per logical lane (as StatsBlock
// does), then widened into the double lanes. kNegInf: the block may hold -inf entries (masks
// and flags are needed); chunks without any skip that work.
template <bool kFast, bool kComp, bool kNegInf, size_t KV>
HWY_INLINE void DualBlock(const float* HWY_RESTRICT t, const float* HWY_RESTRICT s,
                          float* HWY_RESTRICT et_out, float* HWY_RESTRICT es_out, float mt,
                          float ms, double itt, double its, const ExpCompArgs<DF>* cargs,
                          VD* HWY_RESTRICT acc, VF* HWY_RESTRICT tie_acc,
                          hn::Mask<DF>* HWY_RESTRICT flags) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = kLaneGroup / N;
  constexpr size_t A = U * kParts;  // accumulators per sum
  static_assert(KV % U == 0, "a block is a whole number of lane groups");
  const VF neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  VF vt[KV], vs[KV];
  hn::Mask<DF> bad[KV];
  for (size_t k = 0; k < KV; ++k) {
    vt[k] = hn::LoadU(d, t + k * N);
    vs[k] = hn::LoadU(d, s + k * N);
    // Ties (x == max: exp exactly 1), counted per lane in float (exact: at most 2^10 per lane).
    tie_acc[0] = hn::Add(tie_acc[0], hn::IfThenElseZero(hn::Eq(vt[k], hn::Set(d, mt)), hn::Set(d, 1.0f)));
    tie_acc[1] = hn::Add(tie_acc[1], hn::IfThenElseZero(hn::Eq(vs[k], hn::Set(d, ms)), hn::Set(d, 1.0f)));
    if constexpr (kNegInf) {
      const auto ti = hn::Eq(vt[k], neg_inf), si = hn::Eq(vs[k], neg_inf);
      flags[0] = hn::Or(flags[0], hn::AndNot(ti, si));  // student -inf where the teacher has mass
      flags[1] = hn::Or(flags[1], hn::AndNot(si, ti));  // teacher -inf where the student has mass
      bad[k] = hn::Or(ti, si);
    }
  }
  if constexpr (kFast) {
    VF at[KV], as[KV], e_t[KV], e_s[KV];
    for (size_t k = 0; k < KV; ++k) {
      at[k] = hn::Mul(hn::Sub(vt[k], hn::Set(d, mt)), hn::Set(d, static_cast<float>(itt)));
      as[k] = hn::Mul(hn::Sub(vs[k], hn::Set(d, ms)), hn::Set(d, static_cast<float>(its)));
      e_t[k] = at[k];
      e_s[k] = as[k];
    }
    ExpNonPositiveF32<KV>(d, e_t);
    ExpNonPositiveF32<KV>(d, e_s);
    VF q[4][KV];  // the four summands per vector
    for (size_t k = 0; k < KV; ++k) {
      if (et_out) hn::StoreU(e_t[k], d, et_out + k * N);
      if (es_out) hn::StoreU(e_s[k], d, es_out + k * N);
      const auto zt = hn::Eq(vt[k], hn::Set(d, mt)), zs = hn::Eq(vs[k], hn::Set(d, ms));
      VF delta = hn::Sub(at[k], as[k]);
      if constexpr (kNegInf) delta = hn::IfThenZeroElse(bad[k], delta);
      q[0][k] = hn::IfThenZeroElse(zt, e_t[k]);
      q[1][k] = hn::IfThenZeroElse(zs, e_s[k]);
      q[2][k] = hn::Mul(e_t[k], delta);
      q[3][k] = hn::Mul(e_s[k], delta);
    }
    constexpr size_t Q = KV / U;
    static_assert(Q == 1 || Q == 4, "blocks of one or four lane groups");
    for (size_t w = 0; w < 4; ++w) {
      for (size_t u = 0; u < U; ++u) {
        VF g = q[w][u];
        if constexpr (Q == 4) {
          g = hn::Add(hn::Add(q[w][u], q[w][U + u]), hn::Add(q[w][2 * U + u], q[w][3 * U + u]));
        }
        VD parts[kParts];
        Widen(g, parts);
        for (size_t p = 0; p < kParts; ++p) {
          acc[w * A + u * kParts + p] = hn::Add(acc[w * A + u * kParts + p], parts[p]);
        }
      }
    }
  } else {
    constexpr size_t KD = KV * kParts;
    VD at[KD], as[KD], e_t[KD], e_s[KD];
    const VD mtd = hn::Set(dd, static_cast<double>(mt)), msd = hn::Set(dd, static_cast<double>(ms));
    const VD ittd = hn::Set(dd, itt), itsd = hn::Set(dd, its);
    for (size_t k = 0; k < KV; ++k) {
      Widen(vt[k], at + k * kParts);
      Widen(vs[k], as + k * kParts);
    }
    for (size_t j = 0; j < KD; ++j) {
      at[j] = hn::Mul(hn::Sub(at[j], mtd), ittd);
      as[j] = hn::Mul(hn::Sub(as[j], msd), itsd);
      e_t[j] = at[j];
      e_s[j] = as[j];
    }
    if constexpr (kComp) {
      // The exps in float with the shifts carried exactly (ExpCompF32), widened for the sums.
      VF eft[KV], efs[KV];
      ExpCompF32<KV>(d, cargs[0], vt, eft);
      ExpCompF32<KV>(d, cargs[1], vs, efs);
      for (size_t k = 0; k < KV; ++k) {
        if (et_out) hn::StoreU(eft[k], d, et_out + k * N);
        if (es_out) hn::StoreU(efs[k], d, es_out + k * N);
        Widen(eft[k], e_t + k * kParts);
        Widen(efs[k], e_s + k * kParts);
      }
    } else {
      ExpNonPositiveF64<KD>(dd, e_t);
      ExpNonPositiveF64<KD>(dd, e_s);
    }
    const VD dinf = hn::Set(dd, -std::numeric_limits<double>::infinity());
    for (size_t k = 0; k < KV; ++k) {
      if constexpr (!kComp) {
        if (et_out) hn::StoreU(Narrow(e_t + k * kParts), d, et_out + k * N);
        if (es_out) hn::StoreU(Narrow(e_s + k * kParts), d, es_out + k * N);
      }
      const size_t u = k % U;
      for (size_t p = 0; p < kParts; ++p) {
        const size_t i = k * kParts + p, j = u * kParts + p;
        const auto zt = hn::Eq(at[i], hn::Zero(dd)), zs = hn::Eq(as[i], hn::Zero(dd));
        VD delta = hn::Sub(at[i], as[i]);
        if constexpr (kNegInf) {
          delta = hn::IfThenZeroElse(hn::Or(hn::Eq(at[i], dinf), hn::Eq(as[i], dinf)), delta);
        }
        acc[j] = hn::Add(acc[j], hn::IfThenZeroElse(zt, e_t[i]));
        acc[A + j] = hn::Add(acc[A + j], hn::IfThenZeroElse(zs, e_s[i]));
        acc[2 * A + j] = hn::Add(acc[2 * A + j], hn::Mul(e_t[i], delta));
        acc[3 * A + j] = hn::Add(acc[3 * A + j], hn::Mul(e_s[i], delta));
      }
    }
  }
}

// The dual statistics of one chunk of teacher t and student s (n >= 1): see DualStats in
// loss_kernels.h. Accurate with kAllowComp: the exps by ExpCompF32 (within 0.56 ULP; the cross
// sums then carry ~2^-24 relative per term); without: in double (the cross sums to ~2^-40).
template <bool kFast, bool kAllowComp = true>
HWY_INLINE internal::DualStats DualStatsImpl(const float* t, const float* s, size_t n, double itt,
                                             double its, float* et_out, float* es_out) {
  internal::DualStats r{};
  bool nan_t = false, nan_s = false, neg_t = false, neg_s = false;
  const float mt_raw = MaxNaNNegInf(t, n, &nan_t, &neg_t);
  const float ms_raw = MaxNaNNegInf(s, n, &nan_s, &neg_s);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  r.t.status = nan_t ? internal::kChunkNaN : mt_raw == kInf ? internal::kChunkPosInf : internal::kChunkOk;
  r.s.status = nan_s ? internal::kChunkNaN : ms_raw == kInf ? internal::kChunkPosInf : internal::kChunkOk;
  r.t.max = mt_raw + 0.0f;
  r.s.max = ms_raw + 0.0f;
  if (r.t.status != internal::kChunkOk || r.s.status != internal::kChunkOk || mt_raw == -kInf ||
      ms_raw == -kInf) {
    return r;  // the caller takes the scalar path
  }
  const float mt = r.t.max, ms = r.s.max;
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = kLaneGroup / N;
  constexpr size_t A = U * kParts;
  constexpr size_t kBlock = kFast ? 64 : 32;
  constexpr size_t KV = kBlock / N;
  VD acc[4 * A];
  for (size_t a = 0; a < 4 * A; ++a) acc[a] = hn::Zero(dd);
  VF ties[2] = {hn::Zero(d), hn::Zero(d)};
  hn::Mask<DF> flags[2] = {hn::FirstN(d, 0), hn::FirstN(d, 0)};
  // Accurate: the exps by ExpCompF32 where both log2(e)/tau are within its range, else in double.
  const double ct = 1.4426950408889634 * itt, cs = 1.4426950408889634 * its;
  const bool comp = !kFast && kAllowComp && ct >= 0x1p-100 && ct <= 0x1p100 && cs >= 0x1p-100 && cs <= 0x1p100;
  const float ct_hi = static_cast<float>(ct), cs_hi = static_cast<float>(cs);
  const ExpCompArgs<DF> cargs[2] = {
      {hn::Set(d, mt), hn::Set(d, -mt), hn::Set(d, ct_hi),
       hn::Set(d, static_cast<float>(ct - static_cast<double>(ct_hi)))},
      {hn::Set(d, ms), hn::Set(d, -ms), hn::Set(d, cs_hi),
       hn::Set(d, static_cast<float>(cs - static_cast<double>(cs_hi)))}};
  const auto body = [&](auto neg_inf, auto use_comp) HWY_ATTR {
    constexpr bool kNeg = decltype(neg_inf)::value;
    constexpr bool kC = decltype(use_comp)::value;
    size_t j = 0;
    for (; j + kBlock <= n; j += kBlock) {
      PrefetchLines<kBlock>(t + n + j);
      PrefetchLines<kBlock>(s + n + j);
      DualBlock<kFast, kC, kNeg, KV>(t + j, s + j, et_out ? et_out + j : nullptr,
                                     es_out ? es_out + j : nullptr, mt, ms, itt, its, cargs, acc,
                                     ties, flags);
    }
    for (; j + kLaneGroup <= n; j += kLaneGroup) {
      DualBlock<kFast, kC, kNeg, U>(t + j, s + j, et_out ? et_out + j : nullptr,
                                    es_out ? es_out + j : nullptr, mt, ms, itt, its, cargs, acc,
                                    ties, flags);
    }
    if (j < n) {  // padded with -inf on both sides: adds exactly zero and sets no flag
      HWY_ALIGN float tb[kLaneGroup], sb[kLaneGroup], eb0[kLaneGroup], eb1[kLaneGroup];
      LoadGroupPartial(t + j, n - j, -kInf, tb);
      LoadGroupPartial(s + j, n - j, -kInf, sb);
      DualBlock<kFast, kC, true, U>(tb, sb, et_out ? eb0 : nullptr, es_out ? eb1 : nullptr, mt, ms,
                                    itt, its, cargs, acc, ties, flags);
      if (et_out) StoreGroupPartial(eb0, n - j, et_out + j);
      if (es_out) StoreGroupPartial(eb1, n - j, es_out + j);
    }
  };
  const bool neg = neg_t || neg_s;
  if (comp) {
    if (neg) body(std::true_type(), std::true_type());
    else body(std::false_type(), std::true_type());
  } else {
    if (neg) body(std::true_type(), std::false_type());
    else body(std::false_type(), std::false_type());
  }
  double sums[4];
  for (size_t q = 0; q < 4; ++q) sums[q] = TreeSum16(acc + q * A);
  r.t.rest = sums[0];
  r.s.rest = sums[1];
  HWY_ALIGN float tl[hn::MaxLanes(d)];
  for (size_t w = 0; w < 2; ++w) {
    hn::Store(ties[w], d, tl);
    double c = 0;
    for (size_t j = 0; j < N; ++j) c += tl[j];
    (w == 0 ? r.t : r.s).ties = c;
  }
  r.cross_t = sums[2];
  r.cross_s = -sums[3];
  r.student_masked = !hn::AllFalse(d, flags[0]);
  r.teacher_masked = !hn::AllFalse(d, flags[1]);
  return r;
}

// out = ca * ea - cb * eb (the forward-KL gradient from the two stored exponentials). Accurate:
// in double, rounded once; fast: in float.
template <bool kFast>
HWY_INLINE void KlGradImpl(const float* ea, const float* eb, size_t n, double ca, double cb,
                           float* out, bool stream) {
  const DF d;
  const DD dd;
  const float* in[2] = {ea, eb};
  const float pad[2] = {0.0f, 0.0f};
  if constexpr (kFast) {
    const VF af = hn::Set(d, static_cast<float>(ca)), bf = hn::Set(d, static_cast<float>(cb));
    MapN<2>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
      return hn::Sub(hn::Mul(v[0], af), hn::Mul(v[1], bf));
    });
  } else {
    const VD ad = hn::Set(dd, ca), bd = hn::Set(dd, cb);
    MapN<2>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
      VD p[kParts], q[kParts];
      Widen(v[0], p);
      Widen(v[1], q);
      for (size_t j = 0; j < kParts; ++j) p[j] = hn::Sub(hn::Mul(p[j], ad), hn::Mul(q[j], bd));
      return Narrow(p);
    });
  }
}

// The reverse-KL gradient: out = es == 0 ? 0 : c * es * ((s - ms) * its - (t - mt) * itt - k),
// in double, rounded once (both precisions: no exp here). t finite wherever es > 0.
HWY_INLINE void RklGradImpl(const float* es, const float* s, const float* t, size_t n, float ms,
                            float mt, double its, double itt, double c, double k, float* out,
                            bool stream) {
  const DF d;
  const DD dd;
  const float* in[3] = {es, s, t};
  const float pad[3] = {0.0f, ms, mt};
  const VD msd = hn::Set(dd, static_cast<double>(ms)), mtd = hn::Set(dd, static_cast<double>(mt));
  const VD itsd = hn::Set(dd, its), ittd = hn::Set(dd, itt), cd = hn::Set(dd, c), kd = hn::Set(dd, k);
  MapN<3>(n, in, pad, out, stream, [&](const VF* v) HWY_ATTR {
    const auto zero = hn::Eq(v[0], hn::Zero(d));
    // Where es == 0 the logits may be -inf: replace them by the maxima (the result is zeroed).
    const VF vs = hn::IfThenElse(zero, hn::Set(d, ms), v[1]);
    const VF vt = hn::IfThenElse(zero, hn::Set(d, mt), v[2]);
    VD pe[kParts], ps[kParts], pt[kParts];
    Widen(v[0], pe);
    Widen(vs, ps);
    Widen(vt, pt);
    for (size_t j = 0; j < kParts; ++j) {
      const VD h = hn::Sub(hn::Sub(hn::Mul(hn::Sub(ps[j], msd), itsd),
                                   hn::Mul(hn::Sub(pt[j], mtd), ittd)), kd);
      pe[j] = hn::Mul(hn::Mul(pe[j], cd), h);
    }
    return hn::IfThenZeroElse(zero, Narrow(pe));
  });
}

// log(beta p + (1 - beta) q) for p, q in [0, 1] not both 0, as -log1p(1/M - 1) (M <= 1).
HWY_INLINE VD LogMix(VD p, VD q, VD beta, VD one_minus_beta) {
  const DD dd;
  const VD m = hn::Add(hn::Mul(beta, p), hn::Mul(one_minus_beta, q));
  const VD a = hn::Max(hn::Sub(hn::Div(hn::Set(dd, 1.0), m), hn::Set(dd, 1.0)), hn::Zero(dd));
  return hn::Neg(Log1pNonNegativeF64(dd, a));
}

// Jensen-Shannon sums over one chunk: with p_j = et_j * pa, q_j = es_j * qa (the stored
// exponentials times factor / normaliser), log p_j = (t_j - mt) * itt - lt,
// log q_j = (s_j - ms) * its - ls, M = beta p + (1 - beta) q:
//   out[0] = sum p_j (log p_j - log M_j) over p_j > 0, out[1] = sum q_j (log q_j - log M_j)
// over q_j > 0; 16 logical lanes each.
using internal::JsParams;
HWY_INLINE void JsSumsImpl(const float* es, const float* et, const float* s, const float* t,
                           size_t n, const JsParams& jp, double* out) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = internal::kLaneGroup / N;
  constexpr size_t A = U * kParts;
  const VD msd = hn::Set(dd, static_cast<double>(jp.ms)), mtd = hn::Set(dd, static_cast<double>(jp.mt));
  const VD itsd = hn::Set(dd, jp.its), ittd = hn::Set(dd, jp.itt), lsd = hn::Set(dd, jp.ls),
           ltd = hn::Set(dd, jp.lt), bd = hn::Set(dd, jp.beta), b1d = hn::Set(dd, 1.0 - jp.beta),
           qad = hn::Set(dd, jp.qa), pad = hn::Set(dd, jp.pa);
  VD accp[A], accq[A];
  for (size_t k = 0; k < A; ++k) accp[k] = accq[k] = hn::Zero(dd);
  auto group = [&](const float* pes, const float* pet, const float* ps, const float* pt) HWY_ATTR {
    for (size_t u = 0; u < U; ++u) {
      const VF ves = hn::LoadU(d, pes + u * N), vet = hn::LoadU(d, pet + u * N);
      const auto zs = hn::Eq(ves, hn::Zero(d)), zt = hn::Eq(vet, hn::Zero(d));
      const VF vs = hn::IfThenElse(zs, hn::Set(d, jp.ms), hn::LoadU(d, ps + u * N));
      const VF vt = hn::IfThenElse(zt, hn::Set(d, jp.mt), hn::LoadU(d, pt + u * N));
      // Lanes with both zero: a harmless M = 1 (their terms are zeroed).
      const VF ves1 = hn::IfThenElse(hn::And(zs, zt), hn::Set(d, 1.0f), ves);
      VD e_s[kParts], e_t[kParts], l_s[kParts], l_t[kParts], fzs[kParts], fzt[kParts];
      Widen(ves1, e_s);
      Widen(vet, e_t);
      Widen(vs, l_s);
      Widen(vt, l_t);
      Widen(hn::IfThenElseZero(zs, hn::Set(d, 1.0f)), fzs);
      Widen(hn::IfThenElseZero(zt, hn::Set(d, 1.0f)), fzt);
      for (size_t p = 0; p < kParts; ++p) {
        const VD q = hn::Mul(e_s[p], qad), pp = hn::Mul(e_t[p], pad);
        const VD lm = LogMix(pp, q, bd, b1d);
        const VD lq = hn::Sub(hn::Mul(hn::Sub(l_s[p], msd), itsd), lsd);
        const VD lp = hn::Sub(hn::Mul(hn::Sub(l_t[p], mtd), ittd), ltd);
        const VD tq = hn::IfThenZeroElse(hn::Gt(fzs[p], hn::Zero(dd)), hn::Mul(q, hn::Sub(lq, lm)));
        const VD tp = hn::IfThenZeroElse(hn::Gt(fzt[p], hn::Zero(dd)), hn::Mul(pp, hn::Sub(lp, lm)));
        accq[u * kParts + p] = hn::Add(accq[u * kParts + p], tq);
        accp[u * kParts + p] = hn::Add(accp[u * kParts + p], tp);
      }
    }
  };
  size_t i = 0;
  for (; i + internal::kLaneGroup <= n; i += internal::kLaneGroup) group(es + i, et + i, s + i, t + i);
  if (i < n) {  // padded with zero exponentials: adds exactly zero
    HWY_ALIGN float b0[internal::kLaneGroup] = {}, b1[internal::kLaneGroup] = {},
                    b2[internal::kLaneGroup], b3[internal::kLaneGroup];
    for (size_t j = 0; j < internal::kLaneGroup; ++j) {
      b2[j] = jp.ms;
      b3[j] = jp.mt;
    }
    std::memcpy(b0, es + i, (n - i) * sizeof(float));
    std::memcpy(b1, et + i, (n - i) * sizeof(float));
    std::memcpy(b2, s + i, (n - i) * sizeof(float));
    std::memcpy(b3, t + i, (n - i) * sizeof(float));
    group(b0, b1, b2, b3);
  }
  out[0] = TreeSum16(accp);
  out[1] = TreeSum16(accq);
}

// The Jensen-Shannon gradient: out = q == 0 ? 0 : c * q * (log q - log M - k), p, q, M as in
// JsSumsImpl; in double, rounded once.
HWY_INLINE void JsGradImpl(const float* es, const float* et, const float* s, size_t n,
                           const JsParams& jp, double c, double k, float* out, bool stream) {
  const DF d;
  const DD dd;
  const float* in[3] = {es, et, s};
  const float padv[3] = {0.0f, 0.0f, jp.ms};
  const VD msd = hn::Set(dd, static_cast<double>(jp.ms)), itsd = hn::Set(dd, jp.its),
           lsd = hn::Set(dd, jp.ls), bd = hn::Set(dd, jp.beta), b1d = hn::Set(dd, 1.0 - jp.beta),
           qad = hn::Set(dd, jp.qa), pad = hn::Set(dd, jp.pa), cd = hn::Set(dd, c),
           kd = hn::Set(dd, k);
  MapN<3>(n, in, padv, out, stream, [&](const VF* v) HWY_ATTR {
    const auto zs = hn::Eq(v[0], hn::Zero(d));
    const VF ves = hn::IfThenElse(zs, hn::Set(d, 1.0f), v[0]);
    const VF vs = hn::IfThenElse(zs, hn::Set(d, jp.ms), v[2]);
    VD e_s[kParts], e_t[kParts], l_s[kParts];
    Widen(ves, e_s);
    Widen(v[1], e_t);
    Widen(vs, l_s);
    for (size_t p = 0; p < kParts; ++p) {
      const VD q = hn::Mul(e_s[p], qad), pp = hn::Mul(e_t[p], pad);
      const VD lm = LogMix(pp, q, bd, b1d);
      const VD lq = hn::Sub(hn::Mul(hn::Sub(l_s[p], msd), itsd), lsd);
      e_s[p] = hn::Mul(hn::Mul(q, cd), hn::Sub(hn::Sub(lq, lm), kd));
    }
    return hn::IfThenZeroElse(zs, Narrow(e_s));
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_LOSS_LOSS_KERNELS_INL_H_
