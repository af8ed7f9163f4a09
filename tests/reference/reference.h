// SPDX-License-Identifier: Apache-2.0
// logitkit::ref: the extended-precision (MPFR, 256-bit) reference for tests. Inputs are taken as
// exact; results are rounded once to the output type.
#ifndef LOGITKIT_TESTS_REFERENCE_REFERENCE_H_
#define LOGITKIT_TESTS_REFERENCE_REFERENCE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "logitkit/softmax.h"

namespace logitkit::ref {

// The working precision of every MPFR computation here, in bits.
inline constexpr int kPrecisionBits = 256;

// softmax, log_softmax and logsumexp of one row at temperature tau, computed together (one
// 256-bit exponential per entry) and rounded to long double (64-bit significand on x86, enough
// to measure double results in ULPs): log_softmax and logsumexp are rounded once from 256 bits;
// softmax_i = e_i / S is finished in long double (relative error below 2^-62, 0.002 ULP of a
// double). Follows every rule of docs/design.md §2: NaN anywhere makes
// every output NaN; an all -inf (or empty) row gives 0 / -inf (EmptyRow::kZeros) or NaN / NaN
// (kNaN) and logsumexp -inf; +inf entries share the mass evenly (logsumexp +inf); tau = 0 is
// the argmax limit with ties sharing the mass (logsumexp +inf, -inf or log(ties) as max > 0,
// < 0 or == 0); tau = +inf is uniform over the entries that are not -inf (logsumexp log(k)).
// Entries whose exponent (x_i - max)/tau is below -1200 are left out of the 256-bit sum (they
// cannot change a long double result) and their softmax is exp in long double.
struct RowResult {
  std::vector<long double> softmax;
  std::vector<long double> log_softmax;
  long double logsumexp;
};
RowResult row(const std::vector<double>& x, double tau, EmptyRow empty = EmptyRow::kZeros);

// The same, one op at a time, rounded to double.
std::vector<double> softmax(const std::vector<double>& x, double tau,
                            EmptyRow empty = EmptyRow::kZeros);
std::vector<double> log_softmax(const std::vector<double>& x, double tau,
                                EmptyRow empty = EmptyRow::kZeros);
double logsumexp(const std::vector<double>& x, double tau);

// Distance in ULPs between two floats on the ordered-integer line: -0 == +0, NaN == NaN
// (0 apart), +-inf exact (infinitely far from anything else: returns UINT64_MAX).
std::uint64_t ulp_distance(float a, float b);
std::uint64_t ulp_distance(double a, double b);

// The float ULP error of `got` against the exact `want`: |got - want| / ulp(want), where
// ulp(want) is the spacing of floats at |want| (2^-149, the subnormal spacing, below FLT_MIN).
// NaN vs NaN and inf vs the same inf are 0; anything else against NaN or inf is +inf. An exact
// value that rounds to +-inf in float (overflow) counts as that infinity.
double ulp_error_f32(float got, long double want);
// The same for doubles (ulp 2^-1074 below DBL_MIN).
double ulp_error_f64(double got, long double want);

}  // namespace logitkit::ref

#endif  // LOGITKIT_TESTS_REFERENCE_REFERENCE_H_
