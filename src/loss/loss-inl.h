// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of the loss family: the fused gradient write of cross-entropy and the
// distillation sums and gradient. Statistics of a single row come from the softmax kernels.

#if defined(LOGITKIT_SRC_LOSS_LOSS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_LOSS_LOSS_INL_H_
#undef LOGITKIT_SRC_LOSS_LOSS_INL_H_
#else
#define LOGITKIT_SRC_LOSS_LOSS_INL_H_
#endif

#include <cstddef>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "src/common/exp-inl.h"
#include "src/loss/loss_kernels.h"
#include "src/softmax/softmax-inl.h"

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

// Accumulates one lane group (kLaneGroup entries) of the distillation sums into 16 logical
// lanes: zacc (teacher exp) and cacc (teacher exp times the shift difference).
template <bool kFast>
HWY_INLINE void KlGroup(const float* t, const float* s, float mt, float ms, double inv_tau,
                        VD* zacc, VD* cacc, bool* student_masked) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = internal::kLaneGroup / N;
  constexpr size_t KD = U * kParts;
  const VF neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  VD et[KD], dt[KD], ds[KD];
  hn::Mask<DD> tmask[KD];
  const VD mtd = hn::Set(dd, static_cast<double>(mt)), msd = hn::Set(dd, static_cast<double>(ms));
  const VD itd = hn::Set(dd, inv_tau);
  for (size_t u = 0; u < U; ++u) {
    const VF vt = hn::LoadU(d, t + u * N), vs = hn::LoadU(d, s + u * N);
    const auto s_masked = hn::AndNot(hn::Eq(vt, neg_inf), hn::Eq(vs, neg_inf));
    if (!hn::AllFalse(d, s_masked)) *student_masked = true;
    // Entries where the teacher is -inf contribute nothing; replace them by the maxima so that
    // the arithmetic stays finite, then zero them.
    const auto t_masked = hn::Eq(vt, neg_inf);
    const VF vt2 = hn::IfThenElse(t_masked, hn::Set(d, mt), vt);
    const VF vs2 = hn::IfThenElse(hn::Or(t_masked, hn::Eq(vs, neg_inf)), hn::Set(d, ms), vs);
    Widen(vt2, dt + u * kParts);
    Widen(vs2, ds + u * kParts);
    if constexpr (kFast) {
      VF ef[1] = {hn::Mul(hn::Sub(vt2, hn::Set(d, mt)), hn::Set(d, static_cast<float>(inv_tau)))};
      ExpNonPositiveF32<1>(d, ef);
      ef[0] = hn::IfThenZeroElse(t_masked, ef[0]);
      Widen(ef[0], et + u * kParts);
    } else {
      for (size_t p = 0; p < kParts; ++p) {
        et[u * kParts + p] = hn::Mul(hn::Sub(dt[u * kParts + p], mtd), itd);
      }
    }
    VD zero_parts[kParts];
    Widen(hn::IfThenElseZero(t_masked, hn::Set(d, 1.0f)), zero_parts);
    for (size_t p = 0; p < kParts; ++p) tmask[u * kParts + p] = hn::Gt(zero_parts[p], hn::Zero(dd));
  }
  if constexpr (!kFast) {
    ExpNonPositiveF64<KD>(dd, et);
    for (size_t j = 0; j < KD; ++j) et[j] = hn::IfThenZeroElse(tmask[j], et[j]);
  }
  for (size_t j = 0; j < KD; ++j) {
    const VD delta = hn::Mul(hn::Sub(hn::Sub(dt[j], mtd), hn::Sub(ds[j], msd)), itd);
    zacc[j] = hn::Add(zacc[j], et[j]);
    cacc[j] = hn::Add(cacc[j], hn::Mul(et[j], delta));
  }
}

template <bool kFast>
HWY_INLINE internal::KlChunkSums KlSumsImpl(const float* t, const float* s, size_t n, float mt,
                                            float ms, double inv_tau) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t ND = N / kParts;
  constexpr size_t A = internal::kLaneGroup / N * kParts;
  VD zacc[A], cacc[A];
  for (size_t a = 0; a < A; ++a) zacc[a] = cacc[a] = hn::Zero(dd);
  bool masked = false;
  size_t i = 0;
  for (; i + internal::kLaneGroup <= n; i += internal::kLaneGroup) {
    KlGroup<kFast>(t + i, s + i, mt, ms, inv_tau, zacc, cacc, &masked);
  }
  if (i < n) {  // padded with -inf teacher entries, which add exactly zero
    HWY_ALIGN float tb[internal::kLaneGroup], sb[internal::kLaneGroup];
    for (size_t j = 0; j < internal::kLaneGroup; ++j) {
      tb[j] = -std::numeric_limits<float>::infinity();
      sb[j] = ms;
    }
    std::memcpy(tb, t + i, (n - i) * sizeof(float));
    std::memcpy(sb, s + i, (n - i) * sizeof(float));
    KlGroup<kFast>(tb, sb, mt, ms, inv_tau, zacc, cacc, &masked);
  }
  HWY_ALIGN double lanes[internal::kLaneGroup];
  internal::KlChunkSums r{};
  for (size_t a = 0; a < A; ++a) hn::Store(zacc[a], dd, lanes + a * ND);
  r.zt = TreeSum16(lanes);
  for (size_t a = 0; a < A; ++a) hn::Store(cacc[a], dd, lanes + a * ND);
  r.cross = TreeSum16(lanes);
  r.student_masked = masked;
  return r;
}

// One vector of KlGrad.
template <bool kFast>
HWY_INLINE void KlGradVec(const float* es, const float* t, float mt, double inv_tau, double a,
                          double b, float* out) {
  const DF d;
  const DD dd;
  const VF vt = hn::LoadU(d, t);
  if constexpr (kFast) {
    VF et[1] = {hn::Mul(hn::Sub(vt, hn::Set(d, mt)), hn::Set(d, static_cast<float>(inv_tau)))};
    ExpNonPositiveF32<1>(d, et);
    const VF g = hn::Sub(hn::Mul(hn::LoadU(d, es), hn::Set(d, static_cast<float>(a))),
                         hn::Mul(et[0], hn::Set(d, static_cast<float>(b))));
    hn::StoreU(g, d, out);
  } else {
    VD pt[kParts], ps[kParts];
    Widen(vt, pt);
    Widen(hn::LoadU(d, es), ps);
    for (size_t p = 0; p < kParts; ++p) {
      pt[p] = hn::Mul(hn::Sub(pt[p], hn::Set(dd, static_cast<double>(mt))), hn::Set(dd, inv_tau));
    }
    ExpNonPositiveF64<kParts>(dd, pt);
    for (size_t p = 0; p < kParts; ++p) {
      ps[p] = hn::Sub(hn::Mul(ps[p], hn::Set(dd, a)), hn::Mul(pt[p], hn::Set(dd, b)));
    }
    hn::StoreU(Narrow(ps), d, out);
  }
}

template <bool kFast>
HWY_INLINE void KlGradImpl(const float* es, const float* t, size_t n, float mt, double inv_tau,
                           double a, double b, float* out) {
  constexpr size_t N = hn::MaxLanes(DF());
  ForVectors(
      n, N, [&](size_t i) HWY_ATTR { KlGradVec<kFast>(es + i, t + i, mt, inv_tau, a, b, out + i); },
      [&](size_t i) HWY_ATTR {
        HWY_ALIGN float eb[N] = {}, tb[N];
        for (size_t j = 0; j < N; ++j) tb[j] = -std::numeric_limits<float>::infinity();
        std::memcpy(eb, es + i, (n - i) * sizeof(float));
        std::memcpy(tb, t + i, (n - i) * sizeof(float));
        KlGradVec<kFast>(eb, tb, mt, inv_tau, a, b, eb);
        std::memcpy(out + i, eb, (n - i) * sizeof(float));
      });
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_LOSS_LOSS_INL_H_
