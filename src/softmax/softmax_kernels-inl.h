// SPDX-License-Identifier: Apache-2.0
// Per-target chunk kernels of the softmax family: statistics (max, ties, rest), rescaling and
// log-softmax output. The driver (softmax.cc) combines chunks and handles special rows.

#if defined(LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_INL_H_
#undef LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_INL_H_
#else
#define LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <type_traits>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "src/internal/exp-inl.h"
#include "src/internal/log-inl.h"
#include "src/softmax/softmax_internal.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using internal::ChunkStats;
using internal::kLaneGroup;

// Float vectors and their double-precision halves. A float vector of N lanes is widened into
// kParts double vectors (two halves, or one on the single-lane HWY_SCALAR target).
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
#if HWY_TARGET == HWY_SCALAR
using DD = hn::Rebind<double, DF>;
constexpr size_t kParts = 1;
#else
using DD = hn::Rebind<double, hn::Half<DF>>;
constexpr size_t kParts = 2;
#endif
using VD = hn::Vec<DD>;

// parts[p] holds lanes [p * N / kParts, (p + 1) * N / kParts) of v, widened to double.
HWY_INLINE void Widen(VF v, VD* parts) {
#if HWY_TARGET == HWY_SCALAR
  parts[0] = hn::PromoteTo(DD(), v);
#else
  const hn::Half<DF> dh;
  parts[0] = hn::PromoteTo(DD(), hn::LowerHalf(dh, v));
  parts[1] = hn::PromoteTo(DD(), hn::UpperHalf(dh, v));
#endif
}

// The inverse of Widen, rounding each lane to float (round to nearest even on every target;
// out-of-range values and infinities become infinities, as IEEE conversion does).
HWY_INLINE VF Narrow(const VD* parts) {
#if HWY_TARGET == HWY_SCALAR
  // Highway's scalar and EMU128 DemoteTo saturate infinities to +-FLT_MAX; x86 targets do not.
  return hn::Set(DF(), static_cast<float>(hn::GetLane(parts[0])));
#elif HWY_TARGET == HWY_EMU128
  constexpr size_t ND = hn::MaxLanes(DD());
  HWY_ALIGN double in[2 * ND];
  HWY_ALIGN float out[2 * ND];
  hn::Store(parts[0], DD(), in);
  hn::Store(parts[1], DD(), in + ND);
  for (size_t i = 0; i < 2 * ND; ++i) out[i] = static_cast<float>(in[i]);
  return hn::Load(DF(), out);
#else
  const hn::Half<DF> dh;
  return hn::Combine(DF(), hn::DemoteTo(dh, parts[1]), hn::DemoteTo(dh, parts[0]));
#endif
}

// Partial vectors at the end of a row: entries [0, k) of p, 0 <= k <= N. On AVX2 and AVX-512,
// masked loads and stores, which never touch memory past p + k (the processor suppresses faults
// in the masked-off lanes). Elsewhere, through a buffer. The buffer's copy-then-load would stall
// on AVX2 and AVX-512 (a full-width load waiting on the narrower stores of the copy: about a
// tenth of a 1000-entry row's time on Zen 5).
#undef LOGITKIT_MASKED_TAILS  // per target
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define LOGITKIT_MASKED_TAILS 1
#else
#define LOGITKIT_MASKED_TAILS 0
#endif

// The first k entries of p in lanes [0, k), `pad` in the others.
HWY_INLINE VF LoadPartial(const float* HWY_RESTRICT p, size_t k, VF pad) {
  const DF d;
#if LOGITKIT_MASKED_TAILS
  const auto m = hn::FirstN(d, k);
  return hn::IfThenElse(m, hn::MaskedLoad(m, d, p), pad);
#else
  constexpr size_t N = hn::MaxLanes(d);
  HWY_ALIGN float buf[N];
  hn::Store(pad, d, buf);
  if (k > 0) std::memcpy(buf, p, k * sizeof(float));
  return hn::Load(d, buf);
#endif
}

// Writes lanes [0, k) of v to p[0, k).
HWY_INLINE void StorePartial(VF v, float* HWY_RESTRICT p, size_t k) {
  const DF d;
#if LOGITKIT_MASKED_TAILS
  hn::BlendedStore(v, hn::FirstN(d, k), d, p);
#else
  constexpr size_t N = hn::MaxLanes(d);
  HWY_ALIGN float buf[N];
  hn::Store(v, d, buf);
  if (k > 0) std::memcpy(p, buf, k * sizeof(float));
#endif
}

// Entries [0, k) of p (k <= kLaneGroup) into buf[0, kLaneGroup), `pad` after them, and the
// reverse: the partial lane group at the end of a chunk, in whole vectors.
HWY_INLINE void LoadGroupPartial(const float* HWY_RESTRICT p, size_t k, float pad,
                                 float* HWY_RESTRICT buf) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  const VF vpad = hn::Set(d, pad);
  for (size_t j = 0; j < kLaneGroup; j += N) {
    const size_t kj = k > j ? (k - j < N ? k - j : N) : 0;
    hn::Store(LoadPartial(p + j, kj, vpad), d, buf + j);
  }
}
HWY_INLINE void StoreGroupPartial(const float* HWY_RESTRICT buf, size_t k, float* HWY_RESTRICT p) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  for (size_t j = 0; j < k; j += N) {
    StorePartial(hn::Load(d, buf + j), p + j, k - j < N ? k - j : N);
  }
}

// Max over x[0, n) and whether any entry is NaN. n >= 1.
// kMin: *min_out receives the min of x too (meaningful when there is no NaN).
template <bool kMin = false>
HWY_INLINE float MaxAndNaN(const float* HWY_RESTRICT x, size_t n, bool* has_nan,
                           float* min_out = nullptr) {
  const hn::ScalableTag<float> d;
  constexpr size_t N = hn::MaxLanes(d);
  using V = hn::Vec<decltype(d)>;
  const V neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  const V pos_inf = hn::Set(d, std::numeric_limits<float>::infinity());
  V m0 = neg_inf, m1 = neg_inf, m2 = neg_inf, m3 = neg_inf;
  V n0 = pos_inf, n1 = pos_inf;
  auto nan = hn::FirstN(d, 0);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const V v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + N);
    const V v2 = hn::LoadU(d, x + i + 2 * N), v3 = hn::LoadU(d, x + i + 3 * N);
    nan = hn::Or(nan, hn::Or(hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)),
                             hn::Or(hn::IsNaN(v2), hn::IsNaN(v3))));
    m0 = hn::Max(m0, v0);
    m1 = hn::Max(m1, v1);
    m2 = hn::Max(m2, v2);
    m3 = hn::Max(m3, v3);
    if (kMin) {
      n0 = hn::Min(n0, hn::Min(v0, v1));
      n1 = hn::Min(n1, hn::Min(v2, v3));
    }
  }
  for (; i + N <= n; i += N) {
    const V v = hn::LoadU(d, x + i);
    nan = hn::Or(nan, hn::IsNaN(v));
    m0 = hn::Max(m0, v);
    if (kMin) n0 = hn::Min(n0, v);
  }
  if (i < n) {  // the tail, padded: never touches memory past x + n
    const V v = LoadPartial(x + i, n - i, neg_inf);
    nan = hn::Or(nan, hn::IsNaN(v));
    m0 = hn::Max(m0, v);
    if (kMin) {  // padded with +inf for the min
      n0 = hn::Min(n0, hn::IfThenElse(hn::FirstN(d, n - i), v, pos_inf));
    }
  }
  *has_nan = !hn::AllFalse(d, nan);
  if (kMin) *min_out = hn::GetLane(hn::MinOfLanes(d, hn::Min(n0, n1)));
  const V m = hn::Max(hn::Max(m0, m1), hn::Max(m2, m3));
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

// Adds the 16 logical lanes in a fixed tree order, the same on every target: for w = 8, 4, 2, 1,
// lane j += lane j + w (j < w); returns lane 0. The lanes are held in vectors, get(a) giving
// lanes [a * ND, (a + 1) * ND): the steps across vectors are vector adds, the last ND lanes
// scalars. No array of vectors is copied (GCC turns such a copy into a memcpy of
// 16-byte moves, and the next full-width load then stalls on store forwarding).
template <class Get>
HWY_INLINE double TreeSum16By(const Get& get) {
  const DD dd;
  constexpr size_t ND = hn::MaxLanes(dd);
  constexpr size_t A = kLaneGroup / ND;
  constexpr size_t H = A > 1 ? A / 2 : 1;
  VD v[H];
  for (size_t j = 0; j < H; ++j) v[j] = A > 1 ? hn::Add(get(j), get(j + H)) : get(j);
  for (size_t w = H / 2; w >= 1; w /= 2) {
    for (size_t j = 0; j < w; ++j) v[j] = hn::Add(v[j], v[j + w]);
  }
  double lanes[ND];
  for (size_t i = 0; i < ND; ++i) lanes[i] = hn::ExtractLane(v[0], i);
  for (size_t w = ND / 2; w >= 1; w /= 2) {
    for (size_t j = 0; j < w; ++j) lanes[j] += lanes[j + w];
  }
  return lanes[0];
}

// The 16 lanes in vectors acc[0 .. 16 / ND).
HWY_INLINE double TreeSum16(const VD* acc) {
  return TreeSum16By([acc](size_t a) HWY_ATTR { return acc[a]; });
}

// Accumulates KV float vectors starting at src (KV * N entries, a whole number of lane groups)
// into the 16 logical lanes `acc` and the tie count; writes exp to dst when non-null.
template <bool kFast, bool kUnitTau, size_t KV, bool kInRange = false>
HWY_INLINE void StatsBlock(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst, float m,
                           double inv_tau, VD* HWY_RESTRICT acc, size_t* HWY_RESTRICT ties) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = kLaneGroup / N;
  static_assert(KV % U == 0, "a block is a whole number of lane groups");
  VF v[KV];
  for (size_t k = 0; k < KV; ++k) v[k] = hn::LoadU(d, src + k * N);
  if constexpr (kFast) {
    const VF mf = hn::Set(d, m);
    const VF itf = hn::Set(d, static_cast<float>(inv_tau));
    VF e[KV];
    for (size_t k = 0; k < KV; ++k) {
      e[k] = hn::Sub(v[k], mf);
      if constexpr (!kUnitTau) e[k] = hn::Mul(e[k], itf);
    }
    ExpNonPositiveF32<KV, kInRange>(d, e);
    for (size_t k = 0; k < KV; ++k) {
      if (dst) hn::StoreU(e[k], d, dst + k * N);
      const auto is_max = hn::Eq(v[k], mf);
      *ties += hn::CountTrue(d, is_max);
      e[k] = hn::IfThenZeroElse(is_max, e[k]);
    }
    // Per lane, a block's four groups are added pairwise in float, (g0 + g1) + (g2 + g3): at
    // most 2 float roundings per term (relative 1.2e-7 of the row sum), then widened once into
    // the double lanes.
    constexpr size_t Q = KV / U;
    static_assert(Q == 1 || Q == 4, "blocks of one or four lane groups");
    for (size_t u = 0; u < U; ++u) {
      VF g = e[u];
      if constexpr (Q == 4) {
        g = hn::Add(hn::Add(e[u], e[U + u]), hn::Add(e[2 * U + u], e[3 * U + u]));
      }
      VD parts[kParts];
      Widen(g, parts);
      for (size_t p = 0; p < kParts; ++p) {
        acc[u * kParts + p] = hn::Add(acc[u * kParts + p], parts[p]);
      }
    }
  } else {
    const VD md = hn::Set(dd, static_cast<double>(m));
    const VD itd = hn::Set(dd, inv_tau);
    constexpr size_t KD = KV * kParts;
    VD t[KD];
    for (size_t k = 0; k < KV; ++k) Widen(v[k], t + k * kParts);
    hn::Mask<DD> z[KD];
    for (size_t j = 0; j < KD; ++j) {
      t[j] = hn::Sub(t[j], md);
      if constexpr (!kUnitTau) t[j] = hn::Mul(t[j], itd);  // (x*1 is exact: same bits either way)
      z[j] = hn::Eq(t[j], hn::Zero(dd));
    }
    ExpNonPositiveF64<KD>(dd, t);
    for (size_t k = 0; k < KV; ++k) {
      if (dst) hn::StoreU(Narrow(t + k * kParts), d, dst + k * N);
      for (size_t p = 0; p < kParts; ++p) {
        const size_t j = k * kParts + p;
        *ties += hn::CountTrue(dd, z[j]);
        acc[(k % U) * kParts + p] =
            hn::Add(acc[(k % U) * kParts + p], hn::IfThenZeroElse(z[j], t[j]));
      }
    }
  }
}

// StatsBlock with ExpCompF32 (the shift carried exactly, the exp in float: within 0.56 ULP, one
// rounding into the subnormals below FLT_MIN); each exponential widened to double and added to its logical lane in index order.
template <size_t KV>
HWY_INLINE void StatsBlockComp(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst,
                               const ExpCompArgs<DF>& a, VD* HWY_RESTRICT acc,
                               size_t* HWY_RESTRICT ties) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t U = kLaneGroup / N;
  static_assert(KV % U == 0, "a block is a whole number of lane groups");
  VF v[KV], e[KV];
  for (size_t k = 0; k < KV; ++k) v[k] = hn::LoadU(d, src + k * N);
  ExpCompF32<KV>(d, a, v, e);
  for (size_t k = 0; k < KV; ++k) {
    if (dst) hn::StoreU(e[k], d, dst + k * N);
    const auto is_max = hn::Eq(v[k], a.m);
    *ties += hn::CountTrue(d, is_max);
    VD parts[kParts];
    Widen(hn::IfThenZeroElse(is_max, e[k]), parts);
    for (size_t p = 0; p < kParts; ++p) {
      acc[(k % U) * kParts + p] = hn::Add(acc[(k % U) * kParts + p], parts[p]);
    }
  }
}

// The exp of the statistics kernels: kStatsDouble (Precision::kAccurate for the softmax family:
// shift and exp in double), kStatsFast (Precision::kFast: shift and exp in float), kStatsComp (the
// losses' kAccurate: ExpCompF32, for 1/tau in [2^-100, 2^100] x ln 2; kStatsDouble elsewhere).
enum StatsExp { kStatsDouble = 0, kStatsFast = 1, kStatsComp = 2 };

// Prefetches the cache lines of p[0, kCount) (a hint: it never faults, whatever p is).
template <size_t kCount>
HWY_INLINE void PrefetchLines(const float* p) {
  for (size_t o = 0; o < kCount; o += 64 / sizeof(float)) hwy::Prefetch(p + o);
}

// Rows up to this many entries also prefetch the next row's output (below).
constexpr size_t kPrefetchOutMax = 4096;

// The statistics kernels call this on block i of an n-entry chunk while they compute its
// exponentials: the cache lines of x[n + i, n + i + kCount) (the next chunk of the row, or the
// next row) stream in from memory while the core computes, so that the next max pass reads from
// the cache instead of waiting on memory. For chunks of at most kPrefetchOutMax entries it also
// prefetches e_out[n + i, n + i + kCount), the next row's output when rows are contiguous:
// the exponentials' stores then find their lines in the cache (on Zen 5, [4096, 1000] takes
// 0.81-0.87 of its time; on rows of 32000 the same prefetch measured 1.14x slower, so longer
// chunks do not take it).
template <size_t kCount>
HWY_INLINE void PrefetchAhead(const float* x, const float* e_out, size_t n, size_t i) {
  PrefetchLines<kCount>(x + n + i);
  if (e_out != nullptr && n <= kPrefetchOutMax) PrefetchLines<kCount>(e_out + n + i);
}

// Statistics of one chunk (n >= 1 entries). When e_out is non-null, also writes
// e_i = exp((x_i - max) * inv_tau) rounded to float (e_out may equal x).
// kFast: shift and exp in float; otherwise shift and exp in double. Sums in double, in 16 logical lanes (entry i in lane i % 16, added in
// index order; kFast first adds a 64-entry block's four terms per lane in float) and a fixed
// tree, so every target gives the same bits.
// side (kStatsFast, e_out non-null): also writes the SideGrad of the n entries (see
// internal::SideGrad), interleaved with the exponentials, and fences its streamed stores.
template <int kMode>
HWY_INLINE ChunkStats ChunkStatsBody(const float* x, size_t n, double inv_tau, float* e_out,
                                     const internal::SideGrad* side) {
  // The side gradient (internal::SideGrad) of e_out[b, e) element by element: the same float
  // operations as the vector loops (no contraction: -ffp-contract=off; std::fma is exact).
  const auto side_range = [side, e_out](size_t b, size_t e) {
    for (size_t j = b; j < e; ++j) {
      side->g[j] = side->pair ? std::fma(e_out[j], side->k, e_out[j] * side->k_lo)
                              : e_out[j] * side->k - side->b;
    }
  };
  // The side's first `lead` entries (up to its 64-byte boundary) are written one by one; the
  // vector loops then run that far ahead of the exponentials.
  const size_t lead = side ? (64 - reinterpret_cast<uintptr_t>(side->g) % 64) % 64 / sizeof(float) : 0;
  const auto side_start = [&](size_t l) {
    const size_t h = l < n ? l : n;
    side_range(0, h);
    return h;
  };
  ChunkStats st{};
  bool has_nan = false;
  float x_min = 0.0f;
  const float m_raw = MaxAndNaN<kMode == kStatsFast>(x, n, &has_nan, &x_min);
  if (side && (has_nan || m_raw == std::numeric_limits<float>::infinity() ||
               m_raw == -std::numeric_limits<float>::infinity())) {
    side_range(0, n);  // nothing is exponentiated: e_out keeps the previous row's values
  }
  if (has_nan) {
    st.status = internal::kChunkNaN;
    return st;
  }
  if (m_raw == std::numeric_limits<float>::infinity()) {
    st.status = internal::kChunkPosInf;
    return st;
  }
  st.status = internal::kChunkOk;
  if (m_raw == -std::numeric_limits<float>::infinity()) {
    // Nothing is written: the driver zero-fills such a chunk, or (if the whole row is masked)
    // applies EmptyRow, which must still see the -inf entries when e_out == x.
    st.max = m_raw;
    st.ties = 0.0;
    st.rest = 0.0;
    return st;
  }
  const float m = m_raw + 0.0f;  // -0 -> +0, so every target reports the same max
  st.max = m;
  constexpr bool kFast = kMode == kStatsFast;

  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  static_assert(kLaneGroup % N == 0, "vector must divide the lane group");
  constexpr size_t U = kLaneGroup / N;  // float vectors per lane group
  constexpr size_t A = kParts * U;      // double accumulators (16 doubles in all)
  // Entries per unrolled block: enough independent vectors to hide the polynomial's latency.
  constexpr size_t kBlock = kFast ? 64 : 32;
  constexpr size_t KV = kBlock / N;

  // The 16 lanes between the passes, stored and loaded as whole vectors (a copy of the vectors
  // that the compiler splits into halves would stall the next full-width load).
  constexpr size_t ND = hn::MaxLanes(dd);
  HWY_ALIGN double acc[kLaneGroup];
  for (size_t a = 0; a < A; ++a) hn::Store(hn::Zero(dd), dd, acc + a * ND);
  size_t ties = 0;
  const auto pass = [&](auto unit_tau) HWY_ATTR {
    constexpr bool kUnit = decltype(unit_tau)::value;
    // The lanes and the tie count in locals that stay in registers (acc and ties are captured
    // by reference: through memory, each block would wait on a store-to-load round trip).
    VD lacc[A];
    for (size_t a = 0; a < A; ++a) lacc[a] = hn::Load(dd, acc + a * ND);
    size_t lties = 0;
    size_t i = 0;
    if (kFast) {
      // The smallest shifted argument, computed as the kernel computes each (a float
      // subtraction, then a product; both monotone): when it is >= -87.3 no entry of the chunk
      // needs the exp's clamp or its underflow test.
      float t_min = x_min - m;
      if (!kUnit) t_min *= static_cast<float>(inv_tau);
      const bool in_range = t_min >= -87.3f;
      if (side) {
        // Each block's side gradient is written just before the block's exponentials replace
        // the values it reads, running `lead` entries ahead so that its streamed stores are
        // aligned: the stores spread over the arithmetic.
        const VF sk = hn::Set(d, side->k), sb = hn::Set(d, side->b);
        size_t done = side_start(lead);
        const auto side_step = [&]() HWY_ATTR {
          if (done + kBlock <= n) {
            for (size_t k = 0; k < KV; ++k) {
              const VF v = hn::LoadU(d, e_out + done + k * N);
              hn::Stream(hn::Sub(hn::Mul(v, sk), sb), d, side->g + done + k * N);
            }
            done += kBlock;
          } else if (done < n) {
            side_range(done, n);
            done = n;
          }
        };
        if (in_range) {
          for (; i + kBlock <= n; i += kBlock) {
            PrefetchAhead<kBlock>(x, e_out, n, i);
            side_step();
            StatsBlock<kFast, kUnit, KV, true>(x + i, e_out + i, m, inv_tau, lacc, &lties);
          }
        } else {
          for (; i + kBlock <= n; i += kBlock) {
            PrefetchAhead<kBlock>(x, e_out, n, i);
            side_step();
            StatsBlock<kFast, kUnit, KV>(x + i, e_out + i, m, inv_tau, lacc, &lties);
          }
        }
        side_range(done, n);
      } else if (in_range) {
        for (; i + kBlock <= n; i += kBlock) {
          PrefetchAhead<kBlock>(x, e_out, n, i);
          StatsBlock<kFast, kUnit, KV, true>(x + i, e_out ? e_out + i : nullptr, m, inv_tau, lacc,
                                             &lties);
        }
      }
    }
    for (; i + kBlock <= n; i += kBlock) {
      PrefetchAhead<kBlock>(x, e_out, n, i);
      StatsBlock<kFast, kUnit, KV>(x + i, e_out ? e_out + i : nullptr, m, inv_tau, lacc, &lties);
    }
    for (; i + kLaneGroup <= n; i += kLaneGroup) {
      StatsBlock<kFast, kUnit, U>(x + i, e_out ? e_out + i : nullptr, m, inv_tau, lacc, &lties);
    }
    if (i < n) {  // the last partial group, padded with -inf (adds the same on every target)
      HWY_ALIGN float buf[kLaneGroup];
      HWY_ALIGN float ebuf[kLaneGroup];
      LoadGroupPartial(x + i, n - i, -std::numeric_limits<float>::infinity(), buf);
      StatsBlock<kFast, kUnit, U>(buf, e_out ? ebuf : nullptr, m, inv_tau, lacc, &lties);
      if (e_out) StoreGroupPartial(ebuf, n - i, e_out + i);
    }
    for (size_t a = 0; a < A; ++a) hn::Store(lacc[a], dd, acc + a * ND);
    ties += lties;
  };
  const double c = 1.4426950408889634 * inv_tau;  // log2(e) / tau
  if (kMode == kStatsComp && c >= 0x1p-100 && c <= 0x1p100) {
    const float c_hi = static_cast<float>(c);
    const ExpCompArgs<DF> a{hn::Set(d, m), hn::Set(d, -m), hn::Set(d, c_hi),
                            hn::Set(d, static_cast<float>(c - static_cast<double>(c_hi)))};
    VD lacc[A];  // in registers, as in pass
    for (size_t k = 0; k < A; ++k) lacc[k] = hn::Load(dd, acc + k * ND);
    size_t lties = 0;
    size_t i = 0;
    if (side) {  // as in the kFast pass above, with the accurate gradient's product
      const VF khi = hn::Set(d, side->k), klo = hn::Set(d, side->k_lo);
      size_t done = side_start(lead);
      for (; i + kBlock <= n; i += kBlock) {
        PrefetchAhead<kBlock>(x, e_out, n, i);
        if (done + kBlock <= n) {
          for (size_t k = 0; k < KV; ++k) {
            const VF v = hn::LoadU(d, e_out + done + k * N);
            hn::Stream(MulAddExact(d, v, khi, hn::Mul(v, klo)), d, side->g + done + k * N);
          }
          done += kBlock;
        } else if (done < n) {
          side_range(done, n);
          done = n;
        }
        StatsBlockComp<KV>(x + i, e_out + i, a, lacc, &lties);
      }
      side_range(done, n);
    }
    for (; i + kBlock <= n; i += kBlock) {
      PrefetchAhead<kBlock>(x, e_out, n, i);
      StatsBlockComp<KV>(x + i, e_out ? e_out + i : nullptr, a, lacc, &lties);
    }
    for (; i + kLaneGroup <= n; i += kLaneGroup) {
      StatsBlockComp<U>(x + i, e_out ? e_out + i : nullptr, a, lacc, &lties);
    }
    if (i < n) {  // the last partial group, padded with -inf (adds exactly 0)
      HWY_ALIGN float buf[kLaneGroup];
      HWY_ALIGN float ebuf[kLaneGroup];
      LoadGroupPartial(x + i, n - i, -std::numeric_limits<float>::infinity(), buf);
      StatsBlockComp<U>(buf, e_out ? ebuf : nullptr, a, lacc, &lties);
      if (e_out) StoreGroupPartial(ebuf, n - i, e_out + i);
    }
    for (size_t k = 0; k < A; ++k) hn::Store(lacc[k], dd, acc + k * ND);
    ties += lties;
  } else {
    // The double path (kStatsComp out of its range): the whole side first, then the exps.
    if (side && !kFast) side_range(0, n);
    if (inv_tau == 1.0) {
      pass(std::true_type());
    } else {
      pass(std::false_type());
    }
  }
  st.rest = TreeSum16By([&acc, dd](size_t a) HWY_ATTR { return hn::Load(dd, acc + a * ND); });
  st.ties = static_cast<double>(ties);
  return st;
}

template <int kMode>
HWY_INLINE ChunkStats ChunkStatsImpl(const float* x, size_t n, double inv_tau, float* e_out,
                                     const internal::SideGrad* side = nullptr) {
  const ChunkStats st = ChunkStatsBody<kMode>(x, n, inv_tau, e_out, side);
  if (side) hwy::FlushStream();
  return st;
}

// y_i = e_i * scale (accurate: rounded once, up to 2^-48 relative; fast: in float). y may equal e.
template <bool kFast>
HWY_INLINE void ScaleImpl(const float* e, size_t n, double scale, float* y) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  const auto run = [&](auto f) HWY_ATTR {
    size_t i = 0;
    for (; i + N <= n; i += N) hn::StoreU(f(hn::LoadU(d, e + i)), d, y + i);
    if (i < n) StorePartial(f(LoadPartial(e + i, n - i, hn::Zero(d))), y + i, n - i);
  };
  const float s_hi = static_cast<float>(scale);
  const auto sf = hn::Set(d, s_hi);
  if (kFast) {
    run([&](VF v) HWY_ATTR { return hn::Mul(v, sf); });
  } else if (scale >= 0x1p-100) {
    // scale = s_hi + s_lo (floats, to 2^-48 relative), y = fma(e, s_hi, e * s_lo): e * scale
    // rounded once (up to 2^-48 relative), in float: cheaper than widening to double.
    const auto slo = hn::Set(d, static_cast<float>(scale - static_cast<double>(s_hi)));
    run([&](VF v) HWY_ATTR { return MulAddExact(d, v, sf, hn::Mul(v, slo)); });
  } else {
    // Below 2^-100 s_lo would lose bits to the subnormals: the product in double.
    const auto sd = hn::Set(dd, scale);
    run([&](VF v) HWY_ATTR {
      VD parts[kParts];
      Widen(v, parts);
      for (size_t p = 0; p < kParts; ++p) parts[p] = hn::Mul(parts[p], sd);
      return Narrow(parts);
    });
  }
}

// y_i = (x_i - m) * inv_tau - log_norm (accurate: in double, rounded once). y may equal x.
template <bool kFast>
HWY_INLINE void LogOutImpl(const float* x, size_t n, float m, double inv_tau, double log_norm,
                           float* y) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  const auto md = hn::Set(dd, static_cast<double>(m));
  const auto itd = hn::Set(dd, inv_tau);
  const auto ld = hn::Set(dd, log_norm);
  const auto mf = hn::Set(d, m);
  const auto itf = hn::Set(d, static_cast<float>(inv_tau));
  const auto lf = hn::Set(d, static_cast<float>(log_norm));
  auto one = [&](const float* src, float* dst) HWY_ATTR {
    const auto v = hn::LoadU(d, src);
    if constexpr (kFast) {
      hn::StoreU(hn::Sub(hn::Mul(hn::Sub(v, mf), itf), lf), d, dst);
    } else {
      VD parts[kParts];
      Widen(v, parts);
      for (size_t p = 0; p < kParts; ++p) {
        parts[p] = hn::Sub(hn::Mul(hn::Sub(parts[p], md), itd), ld);
      }
      hn::StoreU(Narrow(parts), d, dst);
    }
  };
  size_t i = 0;
  for (; i + N <= n; i += N) one(x + i, y + i);
  if (i < n) {
    HWY_ALIGN float buf[N];
    hn::Store(LoadPartial(x + i, n - i, hn::Zero(d)), d, buf);
    one(buf, buf);
    StorePartial(hn::Load(d, buf), y + i, n - i);
  }
}

// Index of the first NaN in x[0, n), or n.
HWY_INLINE size_t FindNaNImpl(const float* x, size_t n) {
  const hn::ScalableTag<float> d;
  constexpr size_t N = hn::MaxLanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(d, x + i);
    const auto nan = hn::IsNaN(v);
    if (!hn::AllFalse(d, nan)) return i + static_cast<size_t>(hn::FindFirstTrue(d, nan));
  }
  for (; i < n; ++i) {
    if (std::isnan(x[i])) return i;
  }
  return n;
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_INL_H_
