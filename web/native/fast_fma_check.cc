// SPDX-License-Identifier: Apache-2.0
// Checks web/native/fast_fma.cc's fma and fmaf against libc's correctly rounded fma and fmaf,
// natively: random
// operands over the fast path's exponent range, products cancelling against c (the hard cases of
// an FMA), ties, and the fallback's special values. Exit status 1 on the first difference.
// scripts/web.sh builds and runs it (with -ffp-contract=off, no -mfma) before the WebAssembly build.
// The inputs (fma_check_inputs.h) include sums within a tiny fraction of an ULP of a midpoint,
// where a variant without the rounding to odd fails.
#include <cmath>
#include <cstdio>

#include "web/native/fast_fma.cc"
#include "web/native/fma_check_inputs.h"

int main() {
  namespace fc = logitkit_web::fma_check;
  long checked = 0;
  const bool ok = fc::double_inputs([&](double a, double b, double c) {
    const double want = std::fma(a, b, c), got = logitkit_web::fast_fma(a, b, c);
    ++checked;
    if (!fc::same(want, got)) {
      std::printf("fast_fma(%a, %a, %a) = %a, fma = %a\n", a, b, c, got, want);
      return false;
    }
    return true;
  }, 3);
  if (!ok) return 1;
  // Floats: fast_fmaf and fma_check_inputs.h's reference_fmaf (which wasm_fma_check.cc trusts
  // under Node) against this machine's fmaf, near float midpoints and at random.
  long checked32 = 0;
  auto check32 = [&](float a, float b, float c) {
    const float want = std::fmaf(a, b, c);
    const float got = logitkit_web::fast_fmaf(a, b, c), ref = fc::reference_fmaf(a, b, c);
    ++checked32;
    if (!fc::same(want, got) || !fc::same(want, ref)) {
      std::printf("fast_fmaf(%a, %a, %a) = %a, reference_fmaf = %a, fmaf = %a\n", a, b, c, got,
                  ref, want);
      return false;
    }
    return true;
  };
  for (long i = 0; i < 1000000; ++i) {
    float a, b, c;
    fc::float_near_midpoint(a, b, c);
    if (!check32(a, b, c) || !check32(-a, b, -c)) return 1;
    const double x = fc::random_double(-60, 60), y = fc::random_double(-60, 60);
    const float fa = static_cast<float>(x), fb = static_cast<float>(y);
    if (!check32(fa, fb, static_cast<float>(fc::random_double(-60, 60))) ||
        !check32(fa, fb, -(fa * fb))) {
      return 1;
    }
  }
  std::printf("fast_fma_check: %ld fma and %ld fmaf calls equal libc's\n", checked, checked32);
  return 0;
}
