// SPDX-License-Identifier: Apache-2.0
// Checks web/native/fast_fma.cc's fma against libc's correctly rounded fma, natively: random
// operands over the fast path's exponent range, products cancelling against c (the hard cases of
// an FMA), ties, and the fallback's special values. Exit status 1 on the first difference.
// scripts/web.sh builds and runs it (with -ffp-contract=off, no -mfma) before the WebAssembly build.
// Limits: the rounding to odd in fast_fma matters only where rounding tl + ul to nearest would
// make the final rounding a false tie; these inputs do not reach such a case (a variant without
// that step passes too), so that step rests on the paper's proof and on the goldens of
// web/test/module.test.mjs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "web/native/fast_fma.cc"

namespace {
std::uint64_t s = 0x9e3779b97f4a7c15ull;
std::uint64_t next() {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double random_double(int lo_exp, int hi_exp) {
  const std::uint64_t mant = next() & ((1ull << 52) - 1);
  const int e = lo_exp + static_cast<int>(next() % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
  const std::uint64_t sign = next() & 1;
  const std::uint64_t u = (sign << 63) | (static_cast<std::uint64_t>(e + 1023) << 52) | mant;
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}
bool same(double a, double b) {
  return std::memcmp(&a, &b, 8) == 0 || (std::isnan(a) && std::isnan(b));
}
}  // namespace

int main() {
  long checked = 0;
  auto check = [&](double a, double b, double c) {
    const double want = std::fma(a, b, c), got = logitkit_web::fast_fma(a, b, c);
    ++checked;
    if (!same(want, got)) {
      std::printf("fast_fma(%a, %a, %a) = %a, fma = %a\n", a, b, c, got, want);
      return false;
    }
    return true;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double specials[] = {0.0, -0.0, 1.0, -1.0, inf, -inf, std::nan(""), 0x1p-1074, 0x1p-1022,
                             0x1.fffffffffffffp1023, 0x1p-451, 0x1p450, 0x1p451, 3.0, 0x1p-60};
  for (double a : specials)
    for (double b : specials)
      for (double c : specials)
        if (!check(a, b, c)) return 1;
  for (long i = 0; i < 3000000; ++i) {
    const int range = static_cast<int>(next() % 3);
    const int lo = range == 0 ? -8 : range == 1 ? -60 : -450, hi = range == 0 ? 8 : range == 1 ? 60 : 450;
    const double a = random_double(lo, hi), b = random_double(lo, hi);
    // c: random, or -a*b rounded (massive cancellation), or nudged by a few ulps, or tiny.
    double c;
    switch (next() % 5) {
      case 0: c = random_double(lo, hi); break;
      case 1: c = -(a * b); break;
      case 2: c = std::nextafter(-(a * b), (next() & 1) ? inf : -inf); break;
      case 3: c = (a * b) * 0x1p-53 * static_cast<double>(next() % 7); break;
      default: c = random_double(-1000, -900); break;
    }
    if (!check(a, b, c)) return 1;
  }
  // c a little larger than a * b: c + uh rounds, its error tl and the product's low part ul both
  // count, and rounding tl + ul to nearest (not to odd) can make the final rounding a false tie.
  for (long i = 0; i < 4000000; ++i) {
    const double a = random_double(-20, 20), b = random_double(-20, 20);
    int e;
    std::frexp(a * b, &e);
    const int k = static_cast<int>(next() % 64) - 4;
    double c = std::ldexp(random_double(0, 0), e + k);
    // Give c few significant bits so that c + uh lands on or near a midpoint more often.
    std::uint64_t u;
    std::memcpy(&u, &c, 8);
    u &= ~((1ull << (next() % 53)) - 1);
    std::memcpy(&c, &u, 8);
    if (!check(a, b, c)) return 1;
    const double t = a * b + c;  // and c chosen so that the sum sits at a tie of c's precision
    if (!check(a, b, c - (t - c - a * b))) return 1;
  }
  // Ties: a * b exactly halfway between two doubles after adding c.
  for (long i = 0; i < 500000; ++i) {
    const double a = static_cast<double>((next() >> 11) | 1), b = static_cast<double>((next() >> 38) | 1);
    const double c = static_cast<double>(next() >> 12) * ((next() & 1) ? 1 : -1);
    if (!check(a, b, c) || !check(a * 0x1p-70, b, c * 0x1p-70)) return 1;
  }
  std::printf("fast_fma_check: %ld fma calls equal libc's fma\n", checked);
  return 0;
}
