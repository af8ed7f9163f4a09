// SPDX-License-Identifier: Apache-2.0
// The sampler's rules that its vocabulary-shard users share (shard_sampling.cc, logitkit::mpi's
// sample): top-p's slack, the choice of exp kernel and its arguments for a temperature, and
// min-p's cut (with top_k.h's candidate type and ranking).
#ifndef LOGITKIT_SRC_SAMPLING_SAMPLER_SHARED_H_
#define LOGITKIT_SRC_SAMPLING_SAMPLER_SHARED_H_

#include <cmath>
#include <cstdint>
#include <limits>

#include "logitkit/softmax.h"
#include "src/internal/temperature.h"
#include "src/sampling/sampling_kernels.h"
#include "src/sampling/top_k.h"

namespace logitkit::internal {

// top-p keeps the shortest prefix with mass >= (top_p - kTopPSlack) * total: a prefix whose exact
// mass equals top_p is not extended by one token because of rounding in the logits or the sums.
inline constexpr double kTopPSlack = 1e-6;

// The candidate type (Cand) and the ranking of every filter (before) are top_k.h's.

// The sampler's exp for a decoded 1/tau: the float exp where 1/tau lies in the sampler's window
// (FloatWindow::kSampler: compensated shift for kAccurate, rounded for kFast), the double exp
// elsewhere (+inf included); c = log2(e)/tau as a float pair (the product rounded in double:
// 2^-53, far below float). args.m is the caller's.
struct SamplerExp {
  ExpMode mode;
  ExpArgs args;
};

inline SamplerExp sampler_exp(double inv_tau, Precision precision) {
  const bool float_ok = float_path(inv_tau, FloatWindow::kSampler);
  SamplerExp s{};
  s.mode = !float_ok ? kExpDouble : precision == Precision::kAccurate ? kExpComp : kExpPlain;
  const double c = 1.4426950408889634 * inv_tau;
  s.args.c_hi = float_ok ? static_cast<float>(c) : 0.0f;
  s.args.c_lo = float_ok ? static_cast<float>(c - static_cast<double>(s.args.c_hi)) : 0.0f;
  s.args.inv_tau = inv_tau;
  return s;
}

// The smallest float v with (v - m) * inv_tau >= log(min_p): min-p's cut for a row whose max
// effective logit is m (inv_tau = 0, tau = +inf: every finite logit, -FLT_MAX).
inline float min_p_threshold(float m, double inv_tau, double min_p) {
  constexpr float kMaxF = std::numeric_limits<float>::max();
  constexpr float kInfF = std::numeric_limits<float>::infinity();
  if (inv_tau == 0.0) return -kMaxF;
  const double lg = std::log(min_p);
  auto ok = [&](float v) { return (static_cast<double>(v) - m) * inv_tau >= lg; };
  const double guess = m + lg / inv_tau;
  float t = guess < -kMaxF ? -kMaxF : static_cast<float>(guess);
  while (!ok(t)) t = std::nextafter(t, kInfF);
  while (t > -kMaxF && ok(std::nextafter(t, -kInfF))) t = std::nextafter(t, -kInfF);
  return t;
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_SAMPLER_SHARED_H_
