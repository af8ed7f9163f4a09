// SPDX-License-Identifier: Apache-2.0
// fma(a, b, c) for the WebAssembly build: WebAssembly has no fused multiply-add. The library's
// exact FMA emulation rounds on SIMD128 lanes (src/internal/wasm_fma.h) and calls std::fma per
// lane only where a double lane is outside that code's range (and in scalar code), which
// Emscripten's libc (musl) computes with 64-bit integer arithmetic. This definition (the link
// wraps fma: -Wl,--wrap=fma) computes the same correctly rounded result with double
// arithmetic (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved
// algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008):
//   (uh, ul) = a * b exactly (Veltkamp split, Dekker product), (th, tl) = c + uh exactly (TwoSum),
//   fma = RN(th + RO(tl + ul)), RO = rounding to odd.
// Exact when nothing overflows or underflows: |a|, |b| in [2^-450, 2^450] and |c| <= 2^900;
// every other input (zeros, infinities, NaN, subnormals, huge values) takes libc's fma.
// web/test/module.test.mjs compares the library's results with the native build bit for bit;
// scripts/web.sh checks this function against the hardware FMA on random and adversarial
// inputs (web/native/fast_fma_check.cc) before it builds.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

inline std::uint64_t bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, 8);
  return u;
}
inline double from_bits(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, 8);
  return x;
}

inline void split(double x, double& hi, double& lo) {
  const double g = 134217729.0 * x;  // 2^27 + 1
  hi = g - (g - x);
  lo = x - hi;
}

// s rounded to odd given the exact error e of s = RN(x) (e = x - s): s, or its neighbour toward
// e where e != 0 and s is even. A NaN e (infinite or NaN operands) leaves s.
inline double round_to_odd(double s, double e) {
  if (e == 0.0 || e != e) return s;
  const std::uint64_t u = bits(s);
  return (u & 1) == 0 ? from_bits((e > 0) == (s > 0) ? u + 1 : u - 1) : s;
}

inline bool in_range(double x, int lo_exp, int hi_exp) {
  const int e = static_cast<int>((bits(x) >> 52) & 0x7ff) - 1023;
  return e >= lo_exp && e <= hi_exp;  // excludes 0, subnormals, inf and NaN
}

}  // namespace

#ifdef __EMSCRIPTEN__
extern "C" double __real_fma(double, double, double);
#endif

namespace logitkit_web {

inline double slow_fma(double a, double b, double c) {
#ifdef __EMSCRIPTEN__
  return __real_fma(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

double fast_fma(double a, double b, double c) {
  if (!in_range(a, -450, 450) || !in_range(b, -450, 450) ||
      !(c == 0.0 || in_range(c, -1022, 900))) {
    return slow_fma(a, b, c);
  }
  // Exact product uh + ul = a * b.
  const double uh = a * b;
  double ah, al, bh, bl;
  split(a, ah, al);
  split(b, bh, bl);
  const double ul = ((ah * bh - uh) + ah * bl + al * bh) + al * bl;
  // Exact sum th + tl = c + uh.
  const double th = c + uh;
  const double bb = th - c;
  const double tl = (c - (th - bb)) + (uh - bb);
  // The result: RN(th + RO(tl + ul)).
  const double s = tl + ul;
  const double sb = s - tl;
  return th + round_to_odd(s, (tl - (s - sb)) + (ul - sb));
}

// fmaf(a, b, c), correctly rounded for every input: a * b is exact in double, s = a * b + c
// rounded to odd at 53 bits (TwoSum's error e decides), then rounded to float. Emscripten's
// libc fmaf instead adjusts a double result that is a float midpoint by switching the rounding
// mode, which WebAssembly does not have: it rounds a * b + c within 2^-29 float ULP of a midpoint
// away from zero even when the exact value is below the midpoint.
float fast_fmaf(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double s = p + static_cast<double>(c);
  const double sb = s - p;
  return static_cast<float>(round_to_odd(s, (p - (s - sb)) + (static_cast<double>(c) - sb)));
}

}  // namespace logitkit_web

#ifdef __EMSCRIPTEN__
// The library's std::fma lowers to a call of fma(), which the link redirects here.
extern "C" double __wrap_fma(double a, double b, double c) { return logitkit_web::fast_fma(a, b, c); }
// Likewise std::fma on floats (scalar tails) and fmaf().
extern "C" float __wrap_fmaf(float a, float b, float c) { return logitkit_web::fast_fmaf(a, b, c); }
#endif
