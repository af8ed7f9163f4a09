// SPDX-License-Identifier: Apache-2.0
// The double-precision FMA inputs of web/native/fast_fma_check.cc (native) and
// web/native/wasm_fma_check.cc (under Node): special values, random operands over the fast
// paths' exponent range, products cancelling against c (the hard cases of an FMA), sums on or
// near midpoints, and exact ties. A fixed SplitMix64 stream: every run checks the same inputs.
#ifndef LOGITKIT_WEB_NATIVE_FMA_CHECK_INPUTS_H_
#define LOGITKIT_WEB_NATIVE_FMA_CHECK_INPUTS_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace logitkit_web::fma_check {

inline std::uint64_t g_state = 0x9e3779b97f4a7c15ull;
inline std::uint64_t next() {
  std::uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A random double of either sign with its exponent in [lo_exp, hi_exp] (normal numbers).
inline double random_double(int lo_exp, int hi_exp) {
  const std::uint64_t mant = next() & ((1ull << 52) - 1);
  const int e = lo_exp + static_cast<int>(next() % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
  const std::uint64_t u =
      ((next() & 1) << 63) | (static_cast<std::uint64_t>(e + 1023) << 52) | mant;
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}

template <class T>
bool same(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0 || (std::isnan(a) && std::isnan(b));
}

// Calls check(a, b, c) on every input (`scale` multiplies the random counts: 1 gives 1M random,
// 1M near-midpoint and 300k tie triples); false at the first failed check.
template <class Check>
bool double_inputs(Check&& check, long scale) {
  const double inf = std::numeric_limits<double>::infinity();
  const double specials[] = {0.0, -0.0, 1.0, -1.0, inf, -inf, std::nan(""), 0x1p-1074, 0x1p-1022,
                             0x1.fffffffffffffp1023, 0x1p-451, 0x1p-450, 0x1p450, 0x1p451, 3.0,
                             0x1p-60, 0x1p900, 0x1p901};
  for (double a : specials)
    for (double b : specials)
      for (double c : specials)
        if (!check(a, b, c)) return false;
  for (long i = 0; i < 1000000 * scale; ++i) {
    const int range = static_cast<int>(next() % 3);
    const int lo = range == 0 ? -8 : range == 1 ? -60 : -450;
    const int hi = range == 0 ? 8 : range == 1 ? 60 : 450;
    const double a = random_double(lo, hi), b = random_double(lo, hi);
    double c;  // random, -a*b rounded (cancellation), nudged by an ulp, a few ulps of a*b, tiny
    switch (next() % 5) {
      case 0: c = random_double(lo, hi); break;
      case 1: c = -(a * b); break;
      case 2: c = std::nextafter(-(a * b), (next() & 1) ? inf : -inf); break;
      case 3: c = (a * b) * 0x1p-53 * static_cast<double>(next() % 7); break;
      default: c = random_double(-1000, -900); break;
    }
    if (!check(a, b, c)) return false;
  }
  // c a little larger than a * b, with few significant bits: c + uh lands on or near a
  // midpoint, where rounding tl + ul to nearest instead of to odd would give a false tie.
  for (long i = 0; i < 1000000 * scale; ++i) {
    const double a = random_double(-20, 20), b = random_double(-20, 20);
    int e;
    std::frexp(a * b, &e);
    double c = std::ldexp(random_double(0, 0), e + static_cast<int>(next() % 64) - 4);
    std::uint64_t u;
    std::memcpy(&u, &c, 8);
    u &= ~((1ull << (next() % 53)) - 1);
    std::memcpy(&c, &u, 8);
    if (!check(a, b, c)) return false;
    const double t = a * b + c;  // and c chosen so that the sum sits at a tie of c's precision
    if (!check(a, b, c - (t - c - a * b))) return false;
  }
  // a * b = 1 + eps exactly with 0 < |eps| < 2^-53 ((1 + (j + 1) 2^-52)(1 - j 2^-52), j near
  // 2^26), c = 2^53 (1 + k 2^-52): a * b + c is a midpoint of c's binade plus eps, which only a
  // correct rounding of the low parts (to odd) resolves; scaled by 2^s and both signs.
  for (long i = 0; i < 300000 * scale; ++i) {
    const double j = static_cast<double>((1ull << 25) + 16000000 + next() % 30000000);
    const int sa = static_cast<int>(next() % 80) - 40, sb = static_cast<int>(next() % 80) - 40;
    const double a = std::ldexp(1 + (j + 1) * 0x1p-52, sa), b = std::ldexp(1 - j * 0x1p-52, sb);
    const double c = std::ldexp(0x1p53 * (1 + static_cast<double>(next() % 4096) * 0x1p-52), sa + sb);
    const double sign = (next() & 1) ? 1.0 : -1.0;
    if (!check(sign * a, b, sign * c) || !check(a, sign * b, -sign * c)) return false;
  }
  for (long i = 0; i < 300000 * scale; ++i) {  // a * b + c exactly halfway between two doubles
    const double a = static_cast<double>((next() >> 11) | 1);
    const double b = static_cast<double>((next() >> 38) | 1);
    const double c = static_cast<double>(next() >> 12) * ((next() & 1) ? 1 : -1);
    if (!check(a, b, c) || !check(a * 0x1p-70, b, c * 0x1p-70)) return false;
  }
  return true;
}

// fmaf(a, b, c) by another route than rounding to odd, for checking: s + e = a * b + c exactly
// (the product is exact in double, TwoSum gives e), then s rounded to float, except where s is a
// midpoint of two floats and e != 0: there the neighbour on e's side.
inline float reference_fmaf(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double s = p + static_cast<double>(c);
  const double sb = s - p;
  const double e = (p - (s - sb)) + (static_cast<double>(c) - sb);
  const float f0 = static_cast<float>(s);
  if (!(e != 0.0 && e == e) || static_cast<double>(f0) == s || std::isinf(f0)) return f0;
  const float f1 = std::nextafter(f0, static_cast<double>(f0) < s ? INFINITY : -INFINITY);
  if (static_cast<double>(f0) + static_cast<double>(f1) != 2.0 * s) return f0;  // not a midpoint
  // s is the midpoint of f0 and f1: the exact value is on e's side of it.
  const bool up = e > 0;
  return (static_cast<double>(f1) > static_cast<double>(f0)) == up ? f1 : f0;
}

// A float triple whose a * b + c lies within 2^-29 float ULP of a float midpoint (but not on it):
// a = 2^s (1 + (j + d) 2^-23), b = 2^t (1 - j 2^-23) with d (2^23 - j) - j^2 small, so that
// a * b = 2^(s+t) (1 + eps), |eps| < 2^-29, and c in the binade whose float ULP is 2^(s+t+1).
// Rounding a * b + c to double first and then to float gives the midpoint's even neighbour; a
// correct fmaf rounds toward the side eps is on.
inline void float_near_midpoint(float& a, float& b, float& c) {
  for (;;) {
    const std::int64_t j = static_cast<std::int64_t>(1 + next() % ((1u << 22) - 1));
    const std::int64_t m = (1 << 23) - j;
    const std::int64_t d = (j * j + m / 2) / m;  // nearest d to j^2 / (2^23 - j)
    const std::int64_t r = d * m - j * j;        // eps = r 2^-46
    if (d < 1 || j + d >= (1 << 23) || r == 0 || r >= (1 << 17) || r <= -(1 << 17)) continue;
    const int s = static_cast<int>(next() % 40) - 20, t = static_cast<int>(next() % 40) - 20;
    a = std::ldexp(1.0f + static_cast<float>(j + d) * 0x1p-23f, s);
    b = std::ldexp(1.0f - static_cast<float>(j) * 0x1p-23f, t);
    c = std::ldexp(1.0f + static_cast<float>(next() % (1u << 23)) * 0x1p-23f, s + t + 24);
    return;
  }
}

}  // namespace logitkit_web::fma_check

#endif  // LOGITKIT_WEB_NATIVE_FMA_CHECK_INPUTS_H_
