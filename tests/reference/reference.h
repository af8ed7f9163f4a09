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

// softmax / log_softmax / logsumexp of one row at temperature tau, following every rule of
// DESIGN.md §2 (masks, +inf, NaN propagation, tau = 0 and +inf, EmptyRow). Results in double
// (correctly rounded from 256-bit MPFR), to be compared after rounding to the output type.
std::vector<double> softmax(const std::vector<double>& x, double tau,
                            EmptyRow empty = EmptyRow::kZeros);
std::vector<double> log_softmax(const std::vector<double>& x, double tau,
                                EmptyRow empty = EmptyRow::kZeros);
double logsumexp(const std::vector<double>& x, double tau);

// Distance in ULPs between two floats on the ordered-integer line: -0 == +0, NaN == NaN
// (0 apart), +-inf exact (infinitely far from anything else: returns UINT64_MAX).
std::uint64_t ulp_distance(float a, float b);
std::uint64_t ulp_distance(double a, double b);

// The float ULP error of `got` against the exact `want` (a double): |got - want| / ulp(want),
// where ulp(want) is the spacing of floats at want (FLT_MIN-spaced below the normal range).
// NaN vs NaN and inf vs the same inf are 0; anything else against NaN or inf is +inf.
double ulp_error_f32(float got, double want);
double ulp_error_f64(double got, long double want);

}  // namespace logitkit::ref

#endif  // LOGITKIT_TESTS_REFERENCE_REFERENCE_H_
