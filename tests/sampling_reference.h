// SPDX-License-Identifier: Apache-2.0
// Test helpers for the sampler: a sort-based double-precision reference of the final distribution
// (docs/sampling.md, written independently of src/sampling) and reproducible test logits.
#ifndef LOGITKIT_TESTS_SAMPLING_REFERENCE_H_
#define LOGITKIT_TESTS_SAMPLING_REFERENCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "logitkit/sampling.h"

namespace logitkit::ref {

// The effective logits: bias, repetition penalty, presence/frequency, in double, rounded once.
inline std::vector<float> effective_logits(const std::vector<float>& x, const SamplingParams& p) {
  std::vector<double> v(x.begin(), x.end());
  std::vector<bool> touched(x.size(), false);
  for (const TokenBias& b : p.logit_bias) {
    v[b.token] += b.bias;
    touched[b.token] = true;
  }
  std::map<std::int32_t, int> count;
  for (std::int32_t t : p.history) ++count[t];
  const bool penalties = p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 ||
                         p.frequency_penalty != 0.0;
  if (penalties) {
    for (const auto& [t, c] : count) {
      if (p.repetition_penalty != 1.0) {
        v[t] = v[t] > 0 ? v[t] / p.repetition_penalty : v[t] * p.repetition_penalty;
      }
      v[t] -= p.presence_penalty + p.frequency_penalty * c;
      touched[t] = true;
    }
  }
  std::vector<float> out(x);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (touched[i]) out[i] = static_cast<float>(v[i]);
  }
  return out;
}

// The final distribution sample() draws from, by sorting the whole row (the "common way").
inline std::vector<double> distribution(const std::vector<float>& logits, const SamplingParams& p) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<float> x = effective_logits(logits, p);
  const std::size_t n = x.size();
  double m = -kInf;
  for (float v : x) m = std::max(m, static_cast<double>(v));
  if (m == kInf) {
    for (float& v : x) v = v == static_cast<float>(kInf) ? 0.0f : -static_cast<float>(kInf);
    m = 0;
  }
  std::vector<double> probs(n, 0.0);
  const double tau = p.temperature;
  if (tau == 0 || p.top_p == 0 || p.top_k == 1) {
    probs[std::find(x.begin(), x.end(), static_cast<float>(m)) - x.begin()] = 1.0;
    return probs;
  }
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != -std::numeric_limits<float>::infinity()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return x[a] > x[b]; });
  auto weight = [&](std::size_t i) { return std::isinf(tau) ? 1.0 : std::exp((x[i] - m) / tau); };
  const std::size_t keep = static_cast<std::size_t>(p.min_tokens_to_keep);
  std::size_t L = order.size();
  if (p.top_k > 0) L = std::min(L, static_cast<std::size_t>(p.top_k));
  if (p.top_p < 1) {
    double total = 0;
    for (std::size_t j = 0; j < L; ++j) total += weight(order[j]);
    const double t = std::max(p.top_p - 1e-6, 0.0) * total;
    std::size_t lp = 1;
    if (t > 0) {
      double cum = 0;
      for (lp = 0; lp < L;) {
        cum += weight(order[lp++]);
        if (cum >= t) break;
      }
    }
    L = std::min(L, std::max(lp, std::min(keep, L)));
  }
  if (p.min_p > 0) {
    std::size_t lm = 0;
    while (lm < L && (std::isinf(tau) || (x[order[lm]] - m) / tau >= std::log(p.min_p))) ++lm;
    L = std::min(L, std::max(lm, std::min(keep, L)));
  }
  double total = 0;
  for (std::size_t j = 0; j < L; ++j) total += weight(order[j]);
  for (std::size_t j = 0; j < L; ++j) probs[order[j]] = weight(order[j]) / total;
  return probs;
}

// Test logits from the library's own counter-based uniform (identical on every platform):
// N(0, sigma^2) by Box-Muller, a few spikes, and a flat tail of tokens sharing one logit.
inline std::vector<float> test_logits(std::size_t n, std::uint64_t seed, double sigma = 3.0,
                                      std::size_t spikes = 3, std::size_t flat = 0,
                                      float flat_value = 4.0f) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u1 = 1.0 - philox_uniform(seed, 1, 2 * i);
    const double u2 = philox_uniform(seed, 1, 2 * i + 1);
    x[i] = static_cast<float>(sigma * std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(6.283185307179586 * u2));
  }
  for (std::size_t s = 0; s < spikes && s < n; ++s) {
    const std::size_t at = static_cast<std::size_t>(philox_uniform(seed, 2, s) * n);
    x[at] = static_cast<float>(4.0 * sigma + s);
  }
  for (std::size_t f = 0; f < flat && f < n; ++f) x[(f * 7919) % n] = flat_value;
  return x;
}

}  // namespace logitkit::ref

#endif  // LOGITKIT_TESTS_SAMPLING_REFERENCE_H_
