// SPDX-License-Identifier: Apache-2.0
// Checks src/internal/wasm_fma.h (the WebAssembly build's SIMD128 FMA) against libc's correctly
// rounded fma and fmaf (Emscripten's musl, integer arithmetic), under Node: random operands over
// the whole range, products cancelling against c (the hard cases of an FMA), ties and near-ties,
// subnormal results, and special values. Exit status 1 on the first difference.
// scripts/web.sh builds it with em++ -msimd128 -ffp-contract=off and runs it before the
// WebAssembly build of the library.
#include <wasm_simd128.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "src/internal/wasm_fma.h"

namespace {
namespace w = logitkit::internal::wasm;

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
  const std::uint64_t u = ((next() & 1) << 63) | (static_cast<std::uint64_t>(e + 1023) << 52) | mant;
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}
float random_float(int lo_exp, int hi_exp) {  // lo_exp -127: subnormals and zeros too
  const std::uint32_t mant = static_cast<std::uint32_t>(next()) & ((1u << 23) - 1);
  const int e = lo_exp + static_cast<int>(next() % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
  const std::uint32_t u = (static_cast<std::uint32_t>(next() & 1) << 31) |
                          (static_cast<std::uint32_t>(e + 127) << 23) | mant;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
template <class T>
bool same(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0 || (std::isnan(a) && std::isnan(b));
}

long checked64 = 0, fast64 = 0, checked32 = 0;

// Two double lanes: (a0, b0, c0) and (a1, b1, c1) = the same triple with its signs flipped.
bool check64(double a, double b, double c) {
  const double av[2] = {a, -a}, bv[2] = {b, b}, cv[2] = {c, -c};
  v128_t r;
  checked64 += 2;
  if (!w::Fma2F64(wasm_v128_load(av), wasm_v128_load(bv), wasm_v128_load(cv), &r)) return true;
  fast64 += 2;
  double got[2];
  wasm_v128_store(got, r);
  for (int i = 0; i < 2; ++i) {
    const double want = std::fma(av[i], bv[i], cv[i]);
    if (!same(want, got[i])) {
      std::printf("Fma2F64(%a, %a, %a) = %a, fma = %a\n", av[i], bv[i], cv[i], got[i], want);
      return false;
    }
  }
  return true;
}

// Four float lanes: the triple, its negation, and two random triples.
bool check32(float a, float b, float c) {
  const float av[4] = {a, -a, random_float(-127, 127), random_float(-20, 20)},
              bv[4] = {b, b, random_float(-127, 127), random_float(-20, 20)},
              cv[4] = {c, -c, random_float(-127, 127), random_float(-40, 40)};
  float got[4];
  wasm_v128_store(got, w::Fma4F32(wasm_v128_load(av), wasm_v128_load(bv), wasm_v128_load(cv)));
  checked32 += 4;
  for (int i = 0; i < 4; ++i) {
    const float want = std::fmaf(av[i], bv[i], cv[i]);
    if (!same(want, got[i])) {
      std::printf("Fma4F32(%a, %a, %a) = %a, fmaf = %a\n", av[i], bv[i], cv[i], got[i], want);
      return false;
    }
  }
  return true;
}

}  // namespace

int main() {
  const double inf = std::numeric_limits<double>::infinity();
  const double specials[] = {0.0, -0.0, 1.0, -1.0, inf, -inf, std::nan(""), 0x1p-1074, 0x1p-1022,
                             0x1.fffffffffffffp1023, 0x1p-451, 0x1p-450, 0x1p450, 0x1p451, 3.0,
                             0x1p-60, 0x1p900, 0x1p901};
  for (double a : specials)
    for (double b : specials)
      for (double c : specials)
        if (!check64(a, b, c)) return 1;
  const float finf = std::numeric_limits<float>::infinity();
  const float fspecials[] = {0.0f, -0.0f, 1.0f, -1.0f, finf, -finf, std::nanf(""), 0x1p-149f,
                             0x1p-126f, 0x1.fffffep127f, 3.0f, 0x1p-60f, 0x1p64f, 0x1.000002p0f};
  for (float a : fspecials)
    for (float b : fspecials)
      for (float c : fspecials)
        if (!check32(a, b, c)) return 1;
  for (long i = 0; i < 1000000; ++i) {
    const int range = static_cast<int>(next() % 3);
    const int lo = range == 0 ? -8 : range == 1 ? -60 : -450, hi = range == 0 ? 8 : range == 1 ? 60 : 450;
    const double a = random_double(lo, hi), b = random_double(lo, hi);
    double c;  // random, -a*b rounded (cancellation), nudged by an ulp, a few ulps of a*b, tiny
    switch (next() % 5) {
      case 0: c = random_double(lo, hi); break;
      case 1: c = -(a * b); break;
      case 2: c = std::nextafter(-(a * b), (next() & 1) ? inf : -inf); break;
      case 3: c = (a * b) * 0x1p-53 * static_cast<double>(next() % 7); break;
      default: c = random_double(-1000, -900); break;
    }
    if (!check64(a, b, c)) return 1;
  }
  // c a little larger than a * b, with few significant bits: sums on or near midpoints, where
  // rounding tl + ul to nearest instead of to odd would give a false tie.
  for (long i = 0; i < 1000000; ++i) {
    const double a = random_double(-20, 20), b = random_double(-20, 20);
    int e;
    std::frexp(a * b, &e);
    double c = std::ldexp(random_double(0, 0), e + static_cast<int>(next() % 64) - 4);
    std::uint64_t u;
    std::memcpy(&u, &c, 8);
    u &= ~((1ull << (next() % 53)) - 1);
    std::memcpy(&c, &u, 8);
    if (!check64(a, b, c)) return 1;
    const double t = a * b + c;
    if (!check64(a, b, c - (t - c - a * b))) return 1;
  }
  for (long i = 0; i < 300000; ++i) {  // exact ties
    const double a = static_cast<double>((next() >> 11) | 1), b = static_cast<double>((next() >> 38) | 1);
    const double c = static_cast<double>(next() >> 12) * ((next() & 1) ? 1 : -1);
    if (!check64(a, b, c) || !check64(a * 0x1p-70, b, c * 0x1p-70)) return 1;
  }
  // float: whole range (subnormal products and results, overflow), cancellation, ties.
  for (long i = 0; i < 1000000; ++i) {
    const int range = static_cast<int>(next() % 3);
    const int lo = range == 0 ? -8 : range == 1 ? -60 : -127, hi = range == 0 ? 8 : range == 1 ? 60 : 127;
    const float a = random_float(lo, hi), b = random_float(lo, hi);
    float c;
    switch (next() % 6) {
      case 0: c = random_float(lo, hi); break;
      case 1: c = -(a * b); break;
      case 2: c = std::nextafter(-(a * b), (next() & 1) ? finf : -finf); break;
      case 3: c = (a * b) * 0x1p-24f * static_cast<float>(next() % 7); break;
      case 4: c = random_float(-127, -100); break;
      default: {  // a*b + c at or near a midpoint of float's precision
        float cc = static_cast<float>(static_cast<double>(a) * b);
        std::uint32_t u;
        std::memcpy(&u, &cc, 4);
        u &= ~((1u << (next() % 24)) - 1);
        std::memcpy(&cc, &u, 4);
        c = -cc;
        break;
      }
    }
    if (!check32(a, b, c)) return 1;
  }
  for (long i = 0; i < 300000; ++i) {  // exact ties: 24-bit a times small b, c an integer
    const float a = static_cast<float>((next() >> 40) | 1), b = static_cast<float>((next() >> 59) | 1);
    const float c = static_cast<float>(next() >> 40) * ((next() & 1) ? 1.0f : -1.0f);
    if (!check32(a, b, c) || !check32(a * 0x1p-130f, b, c * 0x1p-130f)) return 1;
  }
  std::printf("wasm_fma_check: %ld double lanes (%ld on the SIMD path) equal libc's fma, %ld float "
              "lanes equal fmaf\n", checked64, fast64, checked32);
  return 0;
}
