// SPDX-License-Identifier: Apache-2.0
// Per-target exp kernels for non-positive arguments, without a slow path for underflow.
//
// Both round exactly the same on every target: fused multiply-adds are hardware FMA where the
// target has it (AVX2, AVX-512, NEON...) and a correctly rounded std::fma per lane elsewhere
// (SSE4, SSSE3, scalar: slower, but those are fallbacks; WebAssembly, which has no FMA, rounds
// the same on SIMD128 lanes with src/internal/wasm_fma.h), and the library builds with
// -ffp-contract=off so the compiler fuses nothing on its own. Each works on a batch of
// K independent vectors, stage by stage, so that the out-of-order core always has independent
// work: one vector's polynomial is a chain of ~20 dependent operations.

#if defined(LOGITKIT_SRC_INTERNAL_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_INTERNAL_EXP_INL_H_
#undef LOGITKIT_SRC_INTERNAL_EXP_INL_H_
#else
#define LOGITKIT_SRC_INTERNAL_EXP_INL_H_
#endif

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "src/internal/wasm_fma.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// a * b + c with one rounding, identically on every target.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V MulAddExact(D d, V a, V b, V c) {
#if HWY_NATIVE_FMA
  (void)d;
  return hn::MulAdd(a, b, c);
#else
  using T = hn::TFromD<D>;
  constexpr size_t N = hn::MaxLanes(d);
  HWY_ALIGN T av[N], bv[N], cv[N];
  hn::Store(a, d, av);
  hn::Store(b, d, bv);
  hn::Store(c, d, cv);
#if defined(__wasm_simd128__)
  // WebAssembly: the same correctly rounded result on SIMD128 lanes (src/internal/wasm_fma.h).
  if constexpr (N * sizeof(T) == 16) {
    const v128_t va = wasm_v128_load(av), vb = wasm_v128_load(bv), vc = wasm_v128_load(cv);
    if constexpr (sizeof(T) == 4) {
      wasm_v128_store(av, internal::wasm::Fma4F32(va, vb, vc));
      return hn::Load(d, av);
    } else {
      v128_t r;
      if (internal::wasm::Fma2F64(va, vb, vc, &r)) {
        wasm_v128_store(av, r);
        return hn::Load(d, av);
      }
    }
  }
#endif
  for (size_t i = 0; i < N; ++i) av[i] = std::fma(av[i], bv[i], cv[i]);
  return hn::Load(d, av);
#endif
}

// table[n & 15] per lane, for a 16-entry table of 32-bit (Lookup16x32) or 64-bit (Lookup16x64)
// entries: a permute on AVX-512 (which reads only the low index bits); for 32-bit entries on
// AVX2, two permutes of the table's halves and a blend by index bit 3 (on Zen 3 the kFast
// softmax of long rows took half the time it took with the gather); a gather elsewhere (for
// 64-bit entries on AVX2, four permutes and three blends measured 2-8% slower than the gather).
// The same values on every target.
template <class D, class VI>
HWY_INLINE hn::Vec<D> Lookup16x32(D d, const hn::TFromD<D>* HWY_RESTRICT table, VI n) {
  static_assert(sizeof(hn::TFromD<D>) == 4, "32-bit lanes");
  const hn::RebindToSigned<D> di;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  (void)di;
  const VI t = hn::BitCast(di, hn::Load(d, table));
  return hn::BitCast(d, VI{_mm512_permutexvar_epi32(n.raw, t.raw)});
#elif HWY_TARGET == HWY_AVX2
  // vpermd reads the low 3 bits; bit 3 (moved to the sign) picks the half.
  const __m256i lo = _mm256_permutevar8x32_epi32(hn::BitCast(di, hn::Load(d, table)).raw, n.raw);
  const __m256i hi =
      _mm256_permutevar8x32_epi32(hn::BitCast(di, hn::Load(d, table + 8)).raw, n.raw);
  const __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(n.raw, 28));
  return hn::BitCast(d, VI{_mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(lo),
                                                                 _mm256_castsi256_ps(hi), sel))});
#else
  return hn::GatherIndex(d, table, hn::And(n, hn::Set(di, 15)));
#endif
}

template <class DI, class VI = hn::Vec<DI>>
HWY_INLINE VI Lookup16x64(DI di, const hn::TFromD<DI>* HWY_RESTRICT table, VI n) {
  static_assert(sizeof(hn::TFromD<DI>) == 8, "64-bit lanes");
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // permutex2var reads only the low 4 bits of each index.
  return VI{_mm512_permutex2var_epi64(hn::Load(di, table).raw, n.raw,
                                      hn::Load(di, table + 8).raw)};
#else
  return hn::GatherIndex(di, table, hn::And(n, hn::Set(di, 15)));
#endif
}

// 2^(j/16), j = 0..15, correctly rounded.
alignas(64) inline constexpr double kExp2Sixteenths[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};

// bits(2^(j/16)) - (j << 48) (double): with n = 16 k + j, (n << 48) + kScaleBits64[j] is
// bits(2^k 2^(j/16)): the exponent field takes k, the j bits shifted into the mantissa are
// cancelled. One shift and one add instead of a mask, two shifts and an add.
struct ScaleBits64Table {
  alignas(64) int64_t v[16];
  constexpr ScaleBits64Table() : v() {
    for (int j = 0; j < 16; ++j) {
      v[j] = static_cast<int64_t>(std::bit_cast<uint64_t>(kExp2Sixteenths[j])) -
             (static_cast<int64_t>(j) << 48);
    }
  }
};
inline constexpr ScaleBits64Table kScaleBits64{};

// bits(2^(n >> 4) * 2^((n & 15)/16)) as int64 lanes, from n = round(16 t / ln2).
template <class DD, class VI>
HWY_INLINE VI ScaleFromN64(DD dd, VI n) {
  const hn::RebindToUnsigned<DD> du;
  const hn::RebindToSigned<DD> di;
  const VI shifted = hn::BitCast(di, hn::ShiftLeft<48>(hn::BitCast(du, n)));
  (void)dd;
  return hn::Add(shifted, Lookup16x64(di, kScaleBits64.v, n));
}

// t[k] <- exp(t[k]) for t[k] <= 0 (-inf allowed, NaN not), in double.
// Reduction t = (16 k + j) ln2/16 + r, |r| <= ln2/32 (+ rounding), by FMA; exp(t) =
// 2^k * 2^(j/16) * P(r), P the degree-4 Taylor polynomial: relative error <= 4.1e-11
// (truncation) + 8e-14 (reduction) + a few double roundings, i.e. 7e-4 of a float ULP, which is
// all the f32 contract needs. 7 multiply-class operations per vector (the bottleneck where
// 512-bit FMA issues once per cycle). t < -708 is clamped to -708 (exp = 3.3e-308 there, which no float
// output can see), so the scaling never leaves the normal range and no lane takes a slow path:
// logits spread over thousands cost the same as N(0, 1) logits.
template <size_t K, class DD, class VD = hn::Vec<DD>>
HWY_INLINE void ExpNonPositiveF64(DD dd, VD* HWY_RESTRICT t) {
  const hn::RebindToSigned<DD> di;
  using VI = hn::Vec<decltype(di)>;
  const VD shifter = hn::Set(dd, 0x1.8p52);
  VD r[K], p[K];
  VI scale[K];
  for (size_t k = 0; k < K; ++k) {
    const VD tk = hn::Max(t[k], hn::Set(dd, -708.0));
    VD kd = MulAddExact(dd, tk, hn::Set(dd, 16.0 * 1.4426950408889634), shifter);
    // The integer n = round(16 t / ln2) sits in the low bits of kd; n = 16 k + j.
    const VI n = hn::Sub(hn::BitCast(di, kd), hn::BitCast(di, shifter));
    scale[k] = ScaleFromN64(dd, n);
    kd = hn::Sub(kd, shifter);
    // One FMA with ln2/16 rounded to double: the constant's error moves r by at most
    // |kd| * ln2/16 * 2^-53 < 8e-14, a relative error of 8e-14 in exp, far below a float ULP.
    r[k] = MulAddExact(dd, kd, hn::Set(dd, -6.93147180559945286227e-01 / 16), tk);
    p[k] = hn::Set(dd, 1.0 / 24.0);
  }
  constexpr double kCoef[] = {1.0 / 6.0, 0.5, 1.0, 1.0};
  for (double c : kCoef) {
    const VD vc = hn::Set(dd, c);
    for (size_t k = 0; k < K; ++k) p[k] = MulAddExact(dd, p[k], r[k], vc);
  }
  for (size_t k = 0; k < K; ++k) t[k] = hn::Mul(p[k], hn::BitCast(dd, scale[k]));
}

// 2^(j/16), j = 0..15, rounded to float.
alignas(64) inline constexpr float kExp2SixteenthsF[16] = {
    0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f,
    0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};

// bits(2^(j/16)) - (j << 19) (float): (n << 19) + kScaleBits32[n & 15] = bits(2^(n >> 4) *
// 2^((n & 15)/16)), as kScaleBits64 for double.
struct ScaleBits32Table {
  alignas(64) int32_t v[16];
  constexpr ScaleBits32Table() : v() {
    for (int j = 0; j < 16; ++j) {
      v[j] = static_cast<int32_t>(std::bit_cast<uint32_t>(kExp2SixteenthsF[j])) - (j << 19);
    }
  }
};
inline constexpr ScaleBits32Table kScaleBits32{};

template <class DF, class VI>
HWY_INLINE VI ScaleFromN32(DF df, VI n) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  (void)df;
  const VI shifted = hn::BitCast(di, hn::ShiftLeft<19>(hn::BitCast(du, n)));
  return hn::Add(shifted, Lookup16x32(di, kScaleBits32.v, n));
}

// t[k] <- exp(t[k]) for t[k] <= 0 (-inf allowed, NaN not), in float, for Precision::kFast.
// The same reduction as ExpNonPositiveF64 with a float table and a degree-3 polynomial:
// relative error <= 1.5 float ULP for t >= -87.3 (truncation 9e-9 + table and product
// roundings); t < -87.3 gives exactly 0 (the true value is below FLT_MIN, absolute error
// < FLT_MIN). -inf gives 0. 6 multiply-class operations per vector.
// kInRange: the caller guarantees t >= -87.3 in every lane (no -inf): the clamp and the
// underflow test are then no-ops and are left out (the same bits, 3 operations fewer).
template <size_t K, bool kInRange = false, class DF, class VF = hn::Vec<DF>>
HWY_INLINE void ExpNonPositiveF32(DF df, VF* HWY_RESTRICT t) {
  const hn::RebindToSigned<DF> di;
  using VI = hn::Vec<decltype(di)>;
  const VF shifter = hn::Set(df, 0x1.8p23f);
  VF r[K], p[K];
  VI scale[K];
  for (size_t k = 0; k < K; ++k) {
    const VF tk = kInRange ? t[k] : hn::Max(t[k], hn::Set(df, -87.3f));
    VF kf = MulAddExact(df, tk, hn::Set(df, 16.0f * 1.44269504f), shifter);
    const VI n = hn::Sub(hn::BitCast(di, kf), hn::BitCast(di, shifter));
    scale[k] = ScaleFromN32(df, n);
    kf = hn::Sub(kf, shifter);
    // 0.693359375 has 9 significant bits: kf * ln2_hi/16 is exact for |kf| < 2^15.
    r[k] = MulAddExact(df, kf, hn::Set(df, -0.693359375f / 16), tk);
    r[k] = MulAddExact(df, kf, hn::Set(df, 2.12194440e-4f / 16), r[k]);
    p[k] = hn::Set(df, 1.0f / 6.0f);
  }
  constexpr float kCoef[] = {0.5f, 1.0f, 1.0f};
  for (float c : kCoef) {
    const VF vc = hn::Set(df, c);
    for (size_t k = 0; k < K; ++k) p[k] = MulAddExact(df, p[k], r[k], vc);
  }
  for (size_t k = 0; k < K; ++k) {
    if constexpr (kInRange) {
      t[k] = hn::Mul(p[k], hn::BitCast(df, scale[k]));
    } else {
      const auto underflow = hn::Lt(t[k], hn::Set(df, -87.3f));
      t[k] = hn::IfThenZeroElse(underflow, hn::Mul(p[k], hn::BitCast(df, scale[k])));
    }
  }
}

// 2^(j/16) = kExp2Split.hi[j] + kExp2Split.lo[j] (hi: the float nearest; lo: the float nearest
// to the rest, from the double table): together within 2^-52 relative of 2^(j/16).
struct Exp2SixteenthsSplit {
  alignas(64) float hi[16];
  alignas(64) float lo[16];
  constexpr Exp2SixteenthsSplit() : hi(), lo() {
    for (int j = 0; j < 16; ++j) {
      hi[j] = static_cast<float>(kExp2Sixteenths[j]);
      lo[j] = static_cast<float>(kExp2Sixteenths[j] - static_cast<double>(hi[j]));
    }
  }
};
inline constexpr Exp2SixteenthsSplit kExp2Split{};

// 2^(e_m + 1) for m normal (e_m its exponent; +inf for e_m = 127), 0 otherwise. When every x of
// a batch satisfies -Fast2SumBound(m) < x <= m, |x| < 2^(e_m + 1): the exponent of -m is at
// least that of x, and Fast2Sum(-m, x) is exact (Dekker).
HWY_INLINE float Fast2SumBound(float m) {
  const uint32_t e = std::bit_cast<uint32_t>(m) & 0x7f800000u;
  if (e == 0) return 0.0f;
  return std::bit_cast<float>(e + 0x00800000u);
}

// The arguments of ExpCompF32: e = 2^((x - m) * c) with c = log2(e) / tau split as c_hi = fl(c),
// c_lo = fl(c - c_hi). Valid for |c| in [2^-100, 2^100] (tau within about [1e-30, 1e30]).
template <class DF>
struct ExpCompArgs {
  hn::Vec<DF> m, neg_m, c_hi, c_lo;
};

// e[k] <- exp((x[k] - m) / tau) in float, for x[k] <= m (x = -inf allowed; NaN not), with the
// shift carried exactly: u = (x - m) * c is held as uh + (rounding errors of the subtraction
// (TwoSum), of the product (FMA) and of c_hi), so the exp sees u to about 2^-40 absolute.
// u = n/16 + r, n = round(16 u) (by a shifter addition: exact on every target), |r| <= 1/32;
// 2^(n/16) = 2^(n >> 4) * (T_hi + T_lo) from kExp2Split; 2^r - 1 = q by the degree-4 Taylor
// polynomial of exp(r ln2) (truncation 4e-11); e = 2^(n >> 4) * (T_hi + fma(T_hi, q, T_lo)):
// a single rounding of a value in [0.97, 2] plus ~0.05 ULP, i.e. within 0.56 ULP of the exact
// exp down to FLT_MIN; below it (u in [-151, -126)) one rounding into the subnormals (absolute
// error within half a subnormal step plus 0.56 ULP of the value); u < -151 (x = -inf, an x - m
// that overflows) gives exactly 0. 9 multiply-class operations per vector (the bottleneck where
// 512-bit FMA issues once per cycle), against 14 for ExpNonPositiveF64 on the two halves; a batch
// with a result below 2^-125 takes ~5 more operations per vector.
template <size_t K, class DF, class VF = hn::Vec<DF>>
HWY_INLINE void ExpCompF32(DF d, const ExpCompArgs<DF>& a, const VF* HWY_RESTRICT x,
                           VF* HWY_RESTRICT e) {
  const hn::RebindToSigned<DF> di;
  using VI = hn::Vec<decltype(di)>;
  const VF shifter = hn::Set(d, 0x1.8p19f);  // ulp 1/16: uh + shifter rounds uh to sixteenths
  VF uh[K], r[K], p[K];
  VI n[K];
  for (size_t k = 0; k < K; ++k) {
    const VF dk = hn::Sub(x[k], a.m);
    uh[k] = hn::Mul(dk, a.c_hi);
    const VF kf = hn::Add(uh[k], shifter);
    n[k] = hn::Sub(hn::BitCast(di, kf), hn::BitCast(di, shifter));
    const VF r0 = hn::Sub(uh[k], hn::Sub(kf, shifter));  // exact
    // TwoSum: x - m = dk + err exactly.
    const VF z = hn::Sub(dk, x[k]);
    const VF err = hn::Add(hn::Sub(x[k], hn::Sub(dk, z)), hn::Sub(a.neg_m, z));
    VF lo = MulAddExact(d, dk, a.c_hi, hn::Neg(uh[k]));  // dk * c_hi - uh, exactly
    lo = MulAddExact(d, dk, a.c_lo, lo);
    r[k] = hn::Add(r0, MulAddExact(d, err, a.c_hi, lo));
    p[k] = hn::Set(d, 0.00961812910762847716f);  // ln2^4 / 24
  }
  constexpr float kCoef[] = {0.0555041086648215800f, 0.240226506959100712f,
                             0.693147180559945309f};  // ln2^3 / 6, ln2^2 / 2, ln2
  for (float cf : kCoef) {
    const VF vc = hn::Set(d, cf);
    for (size_t k = 0; k < K; ++k) p[k] = MulAddExact(d, p[k], r[k], vc);
  }
  VF e1[K];
  for (size_t k = 0; k < K; ++k) {
    const VF q = hn::Mul(p[k], r[k]);
    const VF t_hi = Lookup16x32(d, kExp2Split.hi, n[k]);
    const VF t_lo = Lookup16x32(d, kExp2Split.lo, n[k]);
    e1[k] = hn::Add(t_hi, MulAddExact(d, t_hi, q, t_lo));
  }
  // 2^(n >> 4) goes into the exponent field (e1 in [0.97, 2]: the result is normal for
  // u >= -125). One test for the batch: is any u below -125? Usually not.
  const VF lowest = hn::Set(d, -125.0f);
  VF umin = uh[0];
  for (size_t k = 1; k < K; ++k) umin = hn::Min(umin, uh[k]);
  if (HWY_LIKELY(hn::AllFalse(d, hn::Lt(umin, lowest)))) {
    for (size_t k = 0; k < K; ++k) {
      const VI scale = hn::ShiftLeft<23>(hn::ShiftRight<4>(n[k]));
      e[k] = hn::BitCast(d, hn::Add(hn::BitCast(di, e1[k]), scale));
    }
    return;
  }
  // u in [-151, -125): e1 * 2^((n >> 4) + 64) (exact, normal), times 2^-64: one rounding into
  // the subnormals. u < -151 (below half the least subnormal; x = -inf; an x - m that overflows):
  // exactly 0 (the lanes' other values are garbage, never NaN-propagating into the result).
  for (size_t k = 0; k < K; ++k) {
    const auto low = hn::Lt(uh[k], lowest);
    const VI nk = hn::IfThenElse(hn::RebindMask(di, low), hn::Add(n[k], hn::Set(di, 64 * 16)), n[k]);
    const VI scale = hn::ShiftLeft<23>(hn::ShiftRight<4>(nk));
    VF v = hn::BitCast(d, hn::Add(hn::BitCast(di, e1[k]), scale));
    v = hn::IfThenElse(low, hn::Mul(v, hn::Set(d, 0x1p-64f)), v);
    e[k] = hn::IfThenZeroElse(hn::Not(hn::Ge(uh[k], hn::Set(d, -151.0f))), v);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_INTERNAL_EXP_INL_H_
