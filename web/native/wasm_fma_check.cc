// SPDX-License-Identifier: Apache-2.0
// Checks src/internal/wasm_fma.h (the WebAssembly build's SIMD128 FMA) under Node: double lanes
// against libc's correctly rounded fma (Emscripten's musl, integer arithmetic), float lanes and
// web/native/fast_fma.cc's fast_fmaf against reference_fmaf (fma_check_inputs.h; not libc's
// fmaf, which rounds some sums near a float midpoint the wrong way in WebAssembly): random
// operands over the whole range, products cancelling against c (the hard cases of an FMA), sums
// near midpoints, ties, subnormal results, and special values. Exit status 1 on the first
// difference.
// scripts/web.sh builds it with em++ -msimd128 -ffp-contract=off and runs it before the
// WebAssembly build of the library.
#include <wasm_simd128.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "src/internal/wasm_fma.h"
#include "web/native/fast_fma.cc"
#include "web/native/fma_check_inputs.h"

namespace {
namespace w = logitkit::internal::wasm;

using logitkit_web::fma_check::next;
using logitkit_web::fma_check::random_double;
using logitkit_web::fma_check::same;

float random_float(int lo_exp, int hi_exp) {  // lo_exp -127: subnormals and zeros too
  const std::uint32_t mant = static_cast<std::uint32_t>(next()) & ((1u << 23) - 1);
  const int e = lo_exp + static_cast<int>(next() % static_cast<std::uint64_t>(hi_exp - lo_exp + 1));
  const std::uint32_t u = (static_cast<std::uint32_t>(next() & 1) << 31) |
                          (static_cast<std::uint32_t>(e + 127) << 23) | mant;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
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
    const float want = logitkit_web::fma_check::reference_fmaf(av[i], bv[i], cv[i]);
    const float scalar = logitkit_web::fast_fmaf(av[i], bv[i], cv[i]);
    if (!same(want, got[i]) || !same(want, scalar)) {
      std::printf("Fma4F32(%a, %a, %a) = %a, fast_fmaf = %a, reference = %a\n", av[i], bv[i],
                  cv[i], got[i], scalar, want);
      return false;
    }
  }
  return true;
}

}  // namespace

int main() {
  const float finf = std::numeric_limits<float>::infinity();
  const float fspecials[] = {0.0f, -0.0f, 1.0f, -1.0f, finf, -finf, std::nanf(""), 0x1p-149f,
                             0x1p-126f, 0x1.fffffep127f, 3.0f, 0x1p-60f, 0x1p64f, 0x1.000002p0f};
  for (float a : fspecials)
    for (float b : fspecials)
      for (float c : fspecials)
        if (!check32(a, b, c)) return 1;
  if (!logitkit_web::fma_check::double_inputs(check64, 1)) return 1;
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
  for (long i = 0; i < 300000; ++i) {  // near a midpoint: where rounding to odd matters
    float a, b, c;
    logitkit_web::fma_check::float_near_midpoint(a, b, c);
    if (!check32(a, b, c) || !check32(a, -b, -c)) return 1;
  }
  for (long i = 0; i < 300000; ++i) {  // exact ties: 24-bit a times small b, c an integer
    const float a = static_cast<float>((next() >> 40) | 1), b = static_cast<float>((next() >> 59) | 1);
    const float c = static_cast<float>(next() >> 40) * ((next() & 1) ? 1.0f : -1.0f);
    if (!check32(a, b, c) || !check32(a * 0x1p-130f, b, c * 0x1p-130f)) return 1;
  }
  std::printf("wasm_fma_check: %ld double lanes (%ld on the SIMD path) equal libc's fma, %ld float "
              "lanes equal reference_fmaf\n", checked64, fast64, checked32);
  return 0;
}
