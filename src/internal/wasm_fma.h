// SPDX-License-Identifier: Apache-2.0
// Correctly rounded fused multiply-add on WebAssembly SIMD128 lanes, which have no FMA
// instruction: the library's exact FMA (MulAddExact in exp-inl.h) calls these on its
// WebAssembly build instead of libc's fma/fmaf once per lane.
//
// Both use rounding to odd (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums:
// proved algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008): a value rounded
// to odd at 53 bits and then to nearest at p <= 51 bits is the value rounded to nearest at p bits.
//
// - float (Fma4F32): a * b is exact in double; s = RO(a * b + c) from TwoSum's error; the result
//   is (float)s. Exact for every input: the double range holds every product and sum of floats,
//   infinities and NaN go through as IEEE arithmetic gives them (the odd fix-up is skipped where
//   the TwoSum error is NaN).
// - double (Fma2F64): (uh, ul) = a * b exactly (Veltkamp split, Dekker product), (th, tl) =
//   c + uh exactly (TwoSum), fma = RN(th + RO(tl + ul)). Exact when nothing overflows or
//   underflows: |a|, |b| in [2^-450, 2^450] and c = 0 or |c| in [2^-1022, 2^900]; it returns
//   false when a lane is outside that range (zeros, subnormals, infinities, NaN, huge values) and
//   the caller takes libc's fma for the vector.
// web/native/wasm_fma_check.cc checks both against libc's integer fma on random and adversarial
// inputs under Node before the WebAssembly build (scripts/web.sh), and web/test/module.test.mjs
// compares the whole library's results with the native build bit for bit.
#ifndef LOGITKIT_SRC_INTERNAL_WASM_FMA_H_
#define LOGITKIT_SRC_INTERNAL_WASM_FMA_H_

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

namespace logitkit::internal::wasm {

// s + 1 ulp toward the sign of e where s is even and e != 0: rounding to odd of the exact s + e,
// given s = RN(x) and e = x - s exactly. Lanes whose e is NaN are left as they are.
inline v128_t RoundToOdd(v128_t s, v128_t e) {
  const v128_t one = wasm_i64x2_splat(1);
  const v128_t inexact = wasm_f64x2_ne(e, wasm_f64x2_splat(0.0));  // NaN: true
  const v128_t not_nan = wasm_f64x2_eq(e, e);
  const v128_t even = wasm_i64x2_neg(wasm_v128_andnot(one, s));    // all ones where s is even
  // +1 where s and e have the same sign (away from zero), -1 otherwise.
  const v128_t opposite = wasm_u64x2_shr(wasm_v128_xor(e, s), 63);
  const v128_t step = wasm_i64x2_sub(one, wasm_i64x2_shl(opposite, 1));
  const v128_t adjust = wasm_v128_and(wasm_v128_and(inexact, not_nan), wasm_v128_and(even, step));
  return wasm_i64x2_add(s, adjust);
}

// TwoSum: s = RN(a + b), returns e = a + b - s exactly.
inline v128_t TwoSumErr(v128_t a, v128_t b, v128_t s) {
  const v128_t bb = wasm_f64x2_sub(s, a);
  return wasm_f64x2_add(wasm_f64x2_sub(a, wasm_f64x2_sub(s, bb)), wasm_f64x2_sub(b, bb));
}

// Two lanes of fma(a, b, c) for float lanes held as doubles: (float) RO(a * b + c).
inline v128_t FmaF32AsF64(v128_t a, v128_t b, v128_t c) {
  const v128_t p = wasm_f64x2_mul(a, b);  // exact: 24 + 24 bits, within double's range
  const v128_t s = wasm_f64x2_add(p, c);
  return RoundToOdd(s, TwoSumErr(p, c, s));
}

// Four lanes of fmaf(a, b, c), correctly rounded, for every input.
inline v128_t Fma4F32(v128_t a, v128_t b, v128_t c) {
  const v128_t lo = FmaF32AsF64(wasm_f64x2_promote_low_f32x4(a), wasm_f64x2_promote_low_f32x4(b),
                                wasm_f64x2_promote_low_f32x4(c));
  const v128_t ah = wasm_i64x2_shuffle(a, a, 1, 1), bh = wasm_i64x2_shuffle(b, b, 1, 1),
               ch = wasm_i64x2_shuffle(c, c, 1, 1);
  const v128_t hi = FmaF32AsF64(wasm_f64x2_promote_low_f32x4(ah), wasm_f64x2_promote_low_f32x4(bh),
                                wasm_f64x2_promote_low_f32x4(ch));
  return wasm_i64x2_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0,
                            2);
}

// True where lo <= |x| <= hi (false for NaN).
inline v128_t AbsWithin(v128_t x, double lo, double hi) {
  const v128_t ax = wasm_f64x2_abs(x);
  return wasm_v128_and(wasm_f64x2_ge(ax, wasm_f64x2_splat(lo)), wasm_f64x2_le(ax, wasm_f64x2_splat(hi)));
}

// Veltkamp split: x = hi + lo, each with at most 26 significant bits.
inline void Split(v128_t x, v128_t& hi, v128_t& lo) {
  const v128_t g = wasm_f64x2_mul(wasm_f64x2_splat(134217729.0), x);  // 2^27 + 1
  hi = wasm_f64x2_sub(g, wasm_f64x2_sub(g, x));
  lo = wasm_f64x2_sub(x, hi);
}

// Two lanes of fma(a, b, c), correctly rounded; false (out untouched) when a lane is out of the
// range above.
inline bool Fma2F64(v128_t a, v128_t b, v128_t c, v128_t* out) {
  const double lo = 0x1p-450, hi = 0x1p450;
  const v128_t c_ok = wasm_v128_or(wasm_f64x2_eq(c, wasm_f64x2_splat(0.0)),
                                   AbsWithin(c, 0x1p-1022, 0x1p900));
  const v128_t ok = wasm_v128_and(wasm_v128_and(AbsWithin(a, lo, hi), AbsWithin(b, lo, hi)), c_ok);
  if (!wasm_i8x16_all_true(ok)) return false;
  // Exact product uh + ul = a * b.
  const v128_t uh = wasm_f64x2_mul(a, b);
  v128_t ah, al, bh, bl;
  Split(a, ah, al);
  Split(b, bh, bl);
  v128_t ul = wasm_f64x2_sub(wasm_f64x2_mul(ah, bh), uh);
  ul = wasm_f64x2_add(ul, wasm_f64x2_mul(ah, bl));
  ul = wasm_f64x2_add(ul, wasm_f64x2_mul(al, bh));
  ul = wasm_f64x2_add(ul, wasm_f64x2_mul(al, bl));
  // Exact sum th + tl = c + uh.
  const v128_t th = wasm_f64x2_add(c, uh);
  const v128_t tl = TwoSumErr(c, uh, th);
  // v = RO(tl + ul); the result RN(th + v).
  const v128_t s = wasm_f64x2_add(tl, ul);
  *out = wasm_f64x2_add(th, RoundToOdd(s, TwoSumErr(tl, ul, s)));
  return true;
}

}  // namespace logitkit::internal::wasm

#endif  // __wasm_simd128__
#endif  // LOGITKIT_SRC_INTERNAL_WASM_FMA_H_
