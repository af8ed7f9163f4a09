// SPDX-License-Identifier: Apache-2.0
// The temperature rule every driver follows (docs/design.md, semantics): which values of tau an
// operation admits, the one message that rejects the others, the decoding of 1/tau, and whether
// the float kernels may carry 1/tau.
//
// Ranges: the softmax family and the sampler admit tau in [0, +inf] (0 = argmax, +inf =
// uniform); the losses and LseState admit 0 < tau < +inf. A value outside the range throws
// std::invalid_argument "logitkit::<fn>: <name> must be <rule>, got <value>", the value written
// as the caller gave it (shortest round-trip form: 1e-320, -0.5, nan, inf).
//
// Decoding: inv_tau = 1/tau in double; tau = +inf decodes to inv_tau = 0 (the uniform limit);
// tau = 0, or a tau so small that 1/tau overflows a double (below about 5.6e-309), decodes to
// the argmax limit (kArgmax, inv_tau = +inf).
//
// The float path: a float kernel carries 1/tau (or log2(e)/tau) as a float, so it is usable only
// where that value is a normal float. Two windows exist:
//   kFloatFits ([0, FLT_MAX]): softmax, cross-entropy and distillation (kFast kernels, which
//     multiply by 1/tau rounded to float; beyond FLT_MAX the accurate double kernels run);
//   kSampler ([1e-30, 1e30]): the sampler's float exp, which splits c = log2(e)/tau into a float
//     pair (hi, lo) and multiplies (x - max) by it: below 1e-30 the low part is subnormal (its
//     precision lost), above 1e30 (x - max) * c overflows a float where the exact weight is a
//     tiny positive number. The double exp runs outside the window. The sampler's weights are
//     pinned by golden files, so its window stays as it is: widening it to kFloatFits would
//     change the drawn token for tau in (FLT_MAX^-1, 1e-30) and (1e30, +inf).
#ifndef LOGITKIT_SRC_INTERNAL_TEMPERATURE_H_
#define LOGITKIT_SRC_INTERNAL_TEMPERATURE_H_

#include <cmath>
#include <limits>
#include <string>

#include "src/internal/check.h"
#include "src/internal/shortest.h"

namespace logitkit::internal {

enum class TauRange {
  kLimits,    // tau >= 0, not NaN: 0 = argmax, +inf = uniform (softmax family, sampler)
  kPositive,  // 0 < tau < +inf (losses, LseState)
};

// tau as the caller wrote it: the shortest string that reads back as the same double.
inline std::string tau_text(double tau) { return shortest_text(tau); }

// "" when tau lies in the range, else "<name> must be <rule>, got <value>".
inline std::string temperature_problem(double tau, TauRange range,
                                       const char* name = "temperature") {
  if (range == TauRange::kLimits) {
    if (!std::isnan(tau) && tau >= 0.0) return {};
    return std::string(name) + " must be >= 0 (0 = argmax, +inf = uniform), got " + tau_text(tau);
  }
  if (tau > 0.0 && !std::isinf(tau)) return {};
  return std::string(name) + " must be > 0 and finite, got " + tau_text(tau);
}

// Throws std::invalid_argument "logitkit::<fn>: <name> must be <rule>, got <value>".
inline void check_temperature(const char* fn, double tau, TauRange range,
                              const char* name = "temperature") {
  const std::string problem = temperature_problem(tau, range, name);
  if (!problem.empty()) fail(fn, problem);
}

enum class TauMode {
  kNormal,   // 0 < tau < +inf with a finite 1/tau
  kArgmax,   // tau = 0, or 1/tau overflows a double
  kUniform,  // tau = +inf
};

// Windows of 1/tau in which the float kernels may carry it (see the file comment).
enum class FloatWindow {
  kFloatFits,  // 1/tau <= FLT_MAX
  kSampler,    // 1e-30 <= 1/tau <= 1e30
};

struct Temperature {
  double tau;
  double inv_tau;  // 1/tau; 0 for tau = +inf; +inf for the argmax limit
  TauMode mode;
};

inline Temperature decode_temperature(double tau) {
  Temperature t{tau, 0.0, TauMode::kNormal};
  if (std::isinf(tau)) {
    t.mode = TauMode::kUniform;
    return t;
  }
  t.inv_tau = 1.0 / tau;  // +inf for tau = 0 and for tau below about 5.6e-309
  if (std::isinf(t.inv_tau)) t.mode = TauMode::kArgmax;
  return t;
}

// Whether the float kernels may carry inv_tau (a decoded 1/tau).
inline bool float_path(double inv_tau, FloatWindow w = FloatWindow::kFloatFits) {
  if (w == FloatWindow::kSampler) return inv_tau >= 1e-30 && inv_tau <= 1e30;
  return inv_tau <= static_cast<double>(std::numeric_limits<float>::max());
}

// 1/tau in long double, for the scalar engines (finite for every double tau > 0: no argmax
// limit below 5.6e-309 there); 0 for tau = +inf.
inline long double inv_tau_long(double tau) {
  return std::isinf(tau) ? 0.0L : 1.0L / static_cast<long double>(tau);
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_INTERNAL_TEMPERATURE_H_
