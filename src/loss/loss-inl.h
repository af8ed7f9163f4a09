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
#include "hwy/cache_control.h"
#include "src/common/exp-inl.h"
#include "src/common/log-inl.h"
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

// ---- element-wise maps with an optional streaming (non-temporal) store ----------------------

// out[i] = f(v) for i in [0, n), v[k] = the vector of in[k] at i. Partial vectors (the tail, and
// the head before out is vector-aligned when streaming) go through buffers padded with pad[k],
// so f sees whole vectors only and nothing past n is touched. stream: the aligned body is
// written with non-temporal stores (for outputs larger than the cache: no read for ownership),
// then fenced. The values are the same either way.
template <size_t kIn, class F>
HWY_INLINE void MapN(size_t n, const float* const (&in)[kIn], const float (&pad)[kIn], float* out,
                     bool stream, F&& f) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  auto partial = [&](size_t i, size_t len) HWY_ATTR {
    HWY_ALIGN float buf[kIn][N];
    VF v[kIn];
    for (size_t k = 0; k < kIn; ++k) {
      for (size_t j = 0; j < N; ++j) buf[k][j] = pad[k];
      std::memcpy(buf[k], in[k] + i, len * sizeof(float));
      v[k] = hn::Load(d, buf[k]);
    }
    HWY_ALIGN float ob[N];
    hn::Store(f(v), d, ob);
    std::memcpy(out + i, ob, len * sizeof(float));
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
// The same bits as GradAffineVec<kFast> with w = y = null.
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
  } else {
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

// Sum over j of ea_j * ((a_j - ma) * ita - (b_j - mb) * itb) in 16 logical lanes (double),
// over the entries where a_j != -inf (ea_j = exp((a_j - ma) * ita) stored by the stats kernel,
// 0 there). *masked is set when some a_j != -inf has b_j == -inf (those entries add 0 here).
// ma, mb finite.
HWY_INLINE double KlCrossImpl(const float* ea, const float* a, const float* b, size_t n, float ma,
                              float mb, double ita, double itb, bool* masked) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t ND = N / kParts;
  constexpr size_t U = internal::kLaneGroup / N;
  constexpr size_t A = U * kParts;
  const VF neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  const VF maf = hn::Set(d, ma), mbf = hn::Set(d, mb);
  const VD mad = hn::Set(dd, static_cast<double>(ma)), mbd = hn::Set(dd, static_cast<double>(mb));
  const VD itad = hn::Set(dd, ita), itbd = hn::Set(dd, itb);
  VD acc[A];
  for (size_t k = 0; k < A; ++k) acc[k] = hn::Zero(dd);
  auto m_any = hn::FirstN(d, 0);
  auto group = [&](const float* pe, const float* pa, const float* pb) HWY_ATTR {
    for (size_t u = 0; u < U; ++u) {
      const VF va = hn::LoadU(d, pa + u * N), vb = hn::LoadU(d, pb + u * N);
      const auto a_inf = hn::Eq(va, neg_inf), b_inf = hn::Eq(vb, neg_inf);
      m_any = hn::Or(m_any, hn::AndNot(a_inf, b_inf));
      const VF va2 = hn::IfThenElse(a_inf, maf, va);
      const VF vb2 = hn::IfThenElse(hn::Or(a_inf, b_inf), mbf, vb);
      VD pa2[kParts], pb2[kParts], pe2[kParts];
      Widen(va2, pa2);
      Widen(vb2, pb2);
      Widen(hn::IfThenZeroElse(hn::Or(a_inf, b_inf), hn::LoadU(d, pe + u * N)), pe2);
      for (size_t p = 0; p < kParts; ++p) {
        const VD delta = hn::Sub(hn::Mul(hn::Sub(pa2[p], mad), itad), hn::Mul(hn::Sub(pb2[p], mbd), itbd));
        acc[u * kParts + p] = hn::Add(acc[u * kParts + p], hn::Mul(pe2[p], delta));
      }
    }
  };
  size_t i = 0;
  for (; i + internal::kLaneGroup <= n; i += internal::kLaneGroup) group(ea + i, a + i, b + i);
  if (i < n) {  // padded with -inf in a: adds exactly zero
    HWY_ALIGN float eb[internal::kLaneGroup] = {}, ab[internal::kLaneGroup], bb[internal::kLaneGroup];
    for (size_t j = 0; j < internal::kLaneGroup; ++j) {
      ab[j] = -std::numeric_limits<float>::infinity();
      bb[j] = mb;
    }
    std::memcpy(eb, ea + i, (n - i) * sizeof(float));
    std::memcpy(ab, a + i, (n - i) * sizeof(float));
    std::memcpy(bb, b + i, (n - i) * sizeof(float));
    group(eb, ab, bb);
  }
  *masked = !hn::AllFalse(d, m_any);
  HWY_ALIGN double lanes[internal::kLaneGroup];
  for (size_t k = 0; k < A; ++k) hn::Store(acc[k], dd, lanes + k * ND);
  return TreeSum16(lanes);
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
  constexpr size_t ND = N / kParts;
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
  HWY_ALIGN double lanes[internal::kLaneGroup];
  for (size_t k = 0; k < A; ++k) hn::Store(accp[k], dd, lanes + k * ND);
  out[0] = TreeSum16(lanes);
  for (size_t k = 0; k < A; ++k) hn::Store(accq[k], dd, lanes + k * ND);
  out[1] = TreeSum16(lanes);
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

#endif  // LOGITKIT_SRC_LOSS_LOSS_INL_H_
