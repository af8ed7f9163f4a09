// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: sample() and sampling_distribution() with arbitrary logits and parameters.
//
// Decodes logits (small numbers, ties, +-inf, subnormals, +-3e38, NaN) and every SamplingParams
// field (in and out of range), the seed, stream and step. Checked, besides ASan/UBSan:
//   - invalid parameters or logits throw std::invalid_argument, valid ones never do;
//   - the token is in range and its effective logit (bias and penalties applied as documented in
//     sampling.h) is not -inf: a masked or banned token is never returned; with +inf effective
//     logits the token is one of them; greedy settings return the first maximum with logprob 0;
//   - sampling_distribution() sums to 1 within 1e-6, is 0 on masked tokens, keeps at most top_k
//     tokens, gives the drawn token positive mass, and logprob = log(p[token]) (within the
//     documented error of p);
//   - top holds min(top_logprobs, survivors) entries, most likely first;
//   - the same call twice, the batch call (threads 1 and 2, the row at several positions) and
//     the bfloat16 call on the same values all give the same result.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "logitkit/sampling.h"

namespace {

using logitkit::SamplingParams;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "contract violated: %s\n", what.c_str());
  std::abort();
}
void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

template <std::size_t N, class T>
T pick(FuzzedDataProvider& p, const T (&table)[N]) {
  return table[p.ConsumeIntegralInRange<std::size_t>(0, N - 1)];
}

float next_logit(FuzzedDataProvider& p, float prev) {
  static const float kSpecial[] = {-INFINITY, INFINITY, std::numeric_limits<float>::quiet_NaN(),
                                   0.0f, -0.0f, std::numeric_limits<float>::denorm_min(),
                                   3e38f, -3e38f, FLT_MAX, -FLT_MAX};
  const std::uint8_t k = p.ConsumeIntegral<std::uint8_t>();
  if (k < 24) return kSpecial[k % 10];
  if (k < 64) return prev;
  return static_cast<float>(p.ConsumeIntegral<std::int16_t>()) / 1024.0f;
}

bool same(const logitkit::SampleResult& a, const logitkit::SampleResult& b) {
  if (a.token != b.token || std::memcmp(&a.logprob, &b.logprob, sizeof(float)) != 0 ||
      a.top.size() != b.top.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.top.size(); ++i) {
    if (a.top[i].token != b.top[i].token ||
        std::memcmp(&a.top[i].logprob, &b.top[i].logprob, sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  const std::size_t n = p.ConsumeIntegralInRange<std::size_t>(0, 300);
  std::vector<float> x(n);
  float prev = 0;
  for (float& v : x) prev = v = next_logit(p, prev);

  static const double kTau[] = {1.0, 0.0, INFINITY, 0.8, 1e-3, 50.0, -1.0, NAN, 1e-300};
  static const double kTopP[] = {1.0, 0.0, 0.5, 0.9, 1e-9, 0.999999, -0.1, 1.1, NAN};
  static const double kMinP[] = {0.0, 0.05, 0.5, 1.0, 1e-12, -0.1, 1.1, NAN};
  static const double kRep[] = {1.0, 1.3, 0.5, 1e-30, 0.0, -1.0, INFINITY, NAN};
  static const double kPen[] = {0.0, 0.5, -1.0, 1e30, INFINITY, NAN};
  static const float kBias[] = {5.0f, -5.0f, -INFINITY, INFINITY, 100.0f, 3e38f, NAN};
  SamplingParams sp;
  sp.temperature = pick(p, kTau);
  sp.top_k = p.ConsumeIntegralInRange<int>(-2, static_cast<int>(n) + 2);
  sp.top_p = pick(p, kTopP);
  sp.min_p = pick(p, kMinP);
  sp.min_tokens_to_keep = p.ConsumeIntegralInRange<int>(0, 4);
  sp.repetition_penalty = pick(p, kRep);
  sp.presence_penalty = pick(p, kPen);
  sp.frequency_penalty = pick(p, kPen);
  std::vector<std::int32_t> history(p.ConsumeIntegralInRange<std::size_t>(0, 8));
  for (auto& t : history) t = p.ConsumeIntegralInRange<std::int32_t>(-1, static_cast<int>(n));
  std::vector<logitkit::TokenBias> bias(p.ConsumeIntegralInRange<std::size_t>(0, 4));
  for (auto& b : bias) {
    b.token = p.ConsumeIntegralInRange<std::int32_t>(-1, static_cast<int>(n));
    b.bias = pick(p, kBias);
  }
  sp.history = history;
  sp.logit_bias = bias;
  sp.seed = p.ConsumeIntegral<std::uint64_t>();
  sp.top_logprobs = p.ConsumeIntegralInRange<int>(-1, 5);
  const std::uint64_t stream = p.ConsumeIntegral<std::uint64_t>();
  const std::uint64_t step = p.ConsumeIntegral<std::uint64_t>();

  // The documented preconditions, and the effective logits (steps 1-3 of sampling.h).
  const bool penalties = !history.empty() && (sp.repetition_penalty != 1.0 ||
                                              sp.presence_penalty != 0.0 ||
                                              sp.frequency_penalty != 0.0);
  bool valid = n > 0 && !std::isnan(sp.temperature) && sp.temperature >= 0 &&
               sp.top_p >= 0 && sp.top_p <= 1 && sp.min_p >= 0 && sp.min_p <= 1 &&
               sp.min_tokens_to_keep >= 1 && sp.repetition_penalty > 0 &&
               std::isfinite(sp.repetition_penalty) && std::isfinite(sp.presence_penalty) &&
               std::isfinite(sp.frequency_penalty) && sp.top_logprobs >= 0;
  for (float v : x) valid &= !std::isnan(v);
  for (const auto& b : bias) valid &= b.token >= 0 && b.token < static_cast<int>(n) && !std::isnan(b.bias);
  if (penalties) {
    for (auto t : history) valid &= t >= 0 && t < static_cast<int>(n);
  }
  std::vector<float> eff = x;
  if (valid) {
    std::vector<double> v(x.begin(), x.end());
    std::vector<std::size_t> count(n, 0);
    std::vector<bool> touched(n, false);
    for (const auto& b : bias) {
      v[b.token] += b.bias;
      touched[b.token] = true;
    }
    if (penalties) {
      for (auto t : history) ++count[t];
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (count[i] > 0) {
        touched[i] = true;
        if (sp.repetition_penalty != 1.0) {
          v[i] = v[i] > 0 ? v[i] / sp.repetition_penalty : v[i] * sp.repetition_penalty;
        }
        v[i] -= sp.presence_penalty + sp.frequency_penalty * static_cast<double>(count[i]);
      }
      if (touched[i]) eff[i] = static_cast<float>(v[i]);
      valid &= !std::isnan(eff[i]);
    }
    bool any = false;
    for (float e : eff) any |= e > -INFINITY;
    valid &= any;
  }

  logitkit::SampleResult r;
  try {
    r = logitkit::sample(std::span<const float>(x), sp, stream, step);
    check(valid, "invalid logits or parameters accepted");
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("std::invalid_argument on valid input: ") + e.what());
    return 0;
  }
  check(r.token >= 0 && static_cast<std::size_t>(r.token) < n, "token out of range");
  const float et = eff[r.token];
  check(et > -INFINITY, "sampled a masked token " + std::to_string(r.token));
  float emax = -INFINITY;
  std::size_t first_max = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (eff[i] > emax) {
      emax = eff[i];
      first_max = i;
    }
  }
  if (emax == INFINITY) check(et == INFINITY, "+inf logits present but token is finite");
  const bool greedy = sp.temperature == 0 || sp.top_p == 0 || sp.top_k == 1;
  if (greedy) {
    check(static_cast<std::size_t>(r.token) == first_max, "greedy did not pick the first maximum");
    check(r.logprob == 0, "greedy logprob is not 0");
  }
  check(!std::isnan(r.logprob) && r.logprob <= 0, "logprob NaN or > 0");

  std::vector<float> probs(n);
  logitkit::sampling_distribution(x, sp, probs);
  double sum = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    check(probs[i] >= 0 && probs[i] <= 1, "probability outside [0, 1]");
    if (eff[i] == -INFINITY) check(probs[i] == 0, "masked token has mass");
    sum += probs[i];
    kept += probs[i] > 0;
  }
  check(std::fabs(sum - 1) <= 1e-6, "distribution sums to 1 + " + std::to_string(sum - 1));
  check(probs[r.token] > 0, "drawn token has no mass in sampling_distribution");
  if (sp.top_k > 0) check(kept <= static_cast<std::size_t>(sp.top_k), "more than top_k tokens kept");
  if (probs[r.token] > 1e-30f) {
    // The bound of Precision::kFast (the default kAccurate is within it): p_i has a relative error up to
    // (3 |t_i| + 6) 2^-24, t_i = (x_i - max)/tau (sampling.h); logprob uses the exact shift.
    // (Greedy, tau = 0 included: logprob is 0 and p is 1, checked above; 0/0 must not make the
    // tolerance NaN.)
    const double t = greedy || emax == INFINITY || std::isinf(sp.temperature)
                         ? 0.0
                         : (static_cast<double>(et) - emax) / sp.temperature;
    const double tol = 2e-6 + (3 * std::fabs(t) + 6) * 0x1p-24;
    check(std::fabs(r.logprob - std::log(static_cast<double>(probs[r.token]))) <= tol,
          [&] {
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          "logprob %.9g vs log p %.9g (p %.9g, token %d, t %.9g, tol %.3g)",
                          r.logprob, std::log(static_cast<double>(probs[r.token])),
                          probs[r.token], r.token, t, tol);
            return std::string(buf);
          }());
  }
  // Survivors whose probability underflows to 0 in float still count, hence the range.
  const std::size_t want_top = std::min<std::size_t>(sp.top_logprobs, greedy ? 1 : kept);
  check(r.top.size() >= want_top && r.top.size() <= static_cast<std::size_t>(sp.top_logprobs),
        "top has " + std::to_string(r.top.size()) + " entries, expected " + std::to_string(want_top));
  for (std::size_t i = 0; i < r.top.size(); ++i) {
    check(eff[r.top[i].token] > -INFINITY, "top lists a masked token");
    if (i > 0) check(r.top[i].logprob <= r.top[i - 1].logprob, "top not sorted");
  }

  // Determinism: again, in a batch (threads 1 and 2, the row at positions 0 and 2), bfloat16.
  check(same(r, logitkit::sample(std::span<const float>(x), sp, stream, step)), "repeat differs");
  std::vector<float> batch(3 * n);
  std::copy(x.begin(), x.end(), batch.begin());
  for (std::size_t i = 0; i < n; ++i) batch[n + i] = -x[i];  // another row between
  std::copy(x.begin(), x.end(), batch.begin() + 2 * n);
  SamplingParams other = sp;
  other.logit_bias = {};
  other.history = {};
  const SamplingParams params[] = {sp, other, sp};
  const std::uint64_t streams[] = {stream, stream + 1, stream};
  const std::uint64_t steps[] = {step, step, step};
  // The middle row (negated logits, no bias or penalties) is invalid only if every x is +inf.
  bool middle_valid = false;
  for (float v : x) middle_valid |= -v > -INFINITY;
  for (int threads : {1, 2}) {
    std::vector<logitkit::SampleResult> out(3);
    try {
      logitkit::sample(logitkit::Rows<const float>{batch.data(), 3, n, n}, params, streams, steps,
                       out, threads);
      check(middle_valid, "batch with an all -inf row accepted");
    } catch (const std::invalid_argument&) {
      check(!middle_valid, "batch of valid rows rejected");
      continue;
    }
    check(same(out[0], r) && same(out[2], r), "batch result differs from the single-row call");
  }
  std::vector<logitkit::bfloat16> xb(n);
  std::vector<float> xr(n);
  for (std::size_t i = 0; i < n; ++i) {
    xb[i] = logitkit::bfloat16::from_float(x[i]);
    xr[i] = xb[i].to_float();
  }
  try {
    const auto rf = logitkit::sample(std::span<const float>(xr), sp, stream, step);
    check(same(rf, logitkit::sample(std::span<const logitkit::bfloat16>(xb), sp, stream, step)),
          "bfloat16 call differs from the f32 call on the same values");
  } catch (const std::invalid_argument&) {
    // Rounding to bfloat16 can make an effective logit NaN (3e38 rounds to inf): both must agree.
    bool threw = false;
    try {
      logitkit::sample(std::span<const logitkit::bfloat16>(xb), sp, stream, step);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    check(threw, "bfloat16 call accepted what the f32 call on the same values rejected");
  }
  return 0;
}
