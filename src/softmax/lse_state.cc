// SPDX-License-Identifier: Apache-2.0
// LseState: the mergeable (max, ties, rest) summary of a chunk of a row.

#include <cmath>
#include <limits>
#include <string>

#include "logitkit/softmax.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_state_temperature(double tau) {
  internal::check_temperature("LseState", tau, internal::TauRange::kPositive);
}

// The state of values whose max is +inf (count = number of +inf) or NaN.
LseState special_state(double max, double count, double tau) {
  return LseState{max, count, 0.0, tau};
}

}  // namespace

LseState LseState::of(std::span<const float> x, double temperature) {
  check_state_temperature(temperature);
  LseState acc{-kInf, 0.0, 0.0, temperature};
  const auto k = internal::softmax_kernels(false);
  const double inv_tau = internal::decode_temperature(temperature).inv_tau;
  for (std::size_t b = 0; b < x.size(); b += internal::kChunk) {
    const std::size_t n = std::min(internal::kChunk, x.size() - b);
    const internal::ChunkStats st = k.stats(x.data() + b, n, inv_tau, nullptr);
    LseState s;
    if (st.status == internal::kChunkNaN) {
      s = special_state(std::numeric_limits<double>::quiet_NaN(), 0.0, temperature);
    } else if (st.status == internal::kChunkPosInf) {
      double count = 0;
      for (std::size_t i = 0; i < n; ++i) count += (x[b + i] == std::numeric_limits<float>::infinity());
      s = special_state(kInf, count, temperature);
    } else {
      s = LseState{st.max, st.ties, st.rest, temperature};
    }
    acc = acc.merge(s);
  }
  return acc;
}

LseState LseState::of(std::span<const double> x, double temperature) {
  check_state_temperature(temperature);
  LseState s{-kInf, 0.0, 0.0, temperature};
  for (double v : x) {
    if (std::isnan(v)) return special_state(v, 0.0, temperature);
    s.max = std::max(s.max, v);
  }
  if (s.max == -kInf) return s;
  if (s.max == kInf) {
    for (double v : x) s.ties += (v == kInf);
    return s;
  }
  const long double inv_tau = internal::inv_tau_long(temperature);
  long double rest = 0;
  for (double v : x) {
    const long double t = (static_cast<long double>(v) - s.max) * inv_tau;
    if (t == 0) s.ties += 1;
    else rest += std::exp(t);
  }
  s.rest = static_cast<double>(rest);
  return s;
}

LseState LseState::merge(const LseState& o) const {
  if (temperature != o.temperature) {
    internal::fail("LseState::merge", "the states have different temperatures (" +
                                          std::to_string(temperature) + " and " +
                                          std::to_string(o.temperature) + ")");
  }
  if (std::isnan(max) || std::isnan(o.max)) {
    return special_state(std::numeric_limits<double>::quiet_NaN(), 0.0, temperature);
  }
  if (o.max == -kInf) return *this;
  if (max == -kInf) return o;
  if (max == o.max) return LseState{max, ties + o.ties, rest + o.rest, temperature};
  const LseState& hi = max > o.max ? *this : o;
  const LseState& lo = max > o.max ? o : *this;
  if (hi.max == kInf) return hi;
  const double f = std::exp((lo.max - hi.max) / temperature);
  return LseState{hi.max, hi.ties, hi.rest + (lo.ties + lo.rest) * f, temperature};
}

double LseState::log_normalizer() const {
  if (std::isnan(max)) return max;
  if (ties == 0.0 && rest == 0.0) return -kInf;
  if (std::isinf(max)) return std::log(ties);
  return internal::LogNormalizer(ties, rest);
}

double LseState::logsumexp() const {
  if (std::isnan(max) || std::isinf(max)) return max;
  return max / temperature + log_normalizer();
}

}  // namespace logitkit
