// SPDX-License-Identifier: Apache-2.0
// Chi-square goodness of fit of sample() against the sort-based reference distribution, for
// every filter alone and combined, with fixed seeds (abseil's rule: >= 10 expected per bucket).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/sampling.h"
#include "tests/sampling_reference.h"

namespace logitkit {
namespace {

// Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above).
double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_front = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int k = 1; k < 10000 && std::abs(term) > 1e-17 * std::abs(sum); ++k) {
      term *= x / (a + k);
      sum += term;
    }
    return 1.0 - sum * std::exp(log_front);
  }
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;  // Lentz's method
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (std::abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-15) break;
  }
  return std::exp(log_front) * h;
}

// P(chi^2_df >= stat).
double chi_square_p_value(double stat, int df) { return gamma_q(0.5 * df, 0.5 * stat); }

TEST(SamplingStatsTest, ChiSquareHelperMatchesKnownQuantiles) {
  EXPECT_NEAR(chi_square_p_value(3.841458820694124, 1), 0.05, 1e-9);
  EXPECT_NEAR(chi_square_p_value(18.307038053275146, 10), 0.05, 1e-9);
  EXPECT_NEAR(chi_square_p_value(124.34211340400407, 100), 0.05, 1e-9);
  EXPECT_NEAR(chi_square_p_value(100.0, 100), 0.48119, 1e-4);
}

// Draws `draws` tokens (steps 0..draws-1) and tests the counts against the reference.
void check_fit(const std::vector<float>& x, SamplingParams p, int draws, const char* name) {
  SCOPED_TRACE(name);
  const std::vector<double> want = ref::distribution(x, p);
  std::vector<int> count(x.size(), 0);
  for (int s = 0; s < draws; ++s) ++count[sample(x, p, 0, static_cast<std::uint64_t>(s)).token];
  // Buckets of consecutive kept tokens with at least 10 expected draws each.
  double stat = 0, exp_acc = 0;
  long obs_acc = 0;
  int buckets = 0;
  std::vector<std::pair<double, long>> bins;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (want[i] == 0) {
      ASSERT_EQ(count[i], 0) << "token " << i << " is filtered out but was drawn";
      continue;
    }
    exp_acc += want[i] * draws;
    obs_acc += count[i];
    if (exp_acc >= 10) {
      bins.push_back({exp_acc, obs_acc});
      exp_acc = 0;
      obs_acc = 0;
    }
  }
  if (exp_acc > 0 || obs_acc > 0) {
    if (bins.empty()) bins.push_back({0, 0});
    bins.back().first += exp_acc;
    bins.back().second += obs_acc;
  }
  for (const auto& [e, o] : bins) {
    stat += (o - e) * (o - e) / e;
    ++buckets;
  }
  if (buckets < 2) {  // a single kept bucket: every draw must be in it
    long total = 0;
    for (const auto& b : bins) total += b.second;
    EXPECT_EQ(total, draws);
    return;
  }
  const double pv = chi_square_p_value(stat, buckets - 1);
  std::printf("%-28s buckets %4d  chi2 %9.2f  p %.4f\n", name, buckets, stat, pv);
  EXPECT_GT(pv, 1e-6) << "chi2 " << stat << " with " << buckets - 1 << " degrees of freedom";
}

TEST(SamplingStatsTest, EveryFilterAloneAndCombinedSmallVocabulary) {
  const auto x = ref::test_logits(40, 77, 1.5, 0);
  const std::vector<std::int32_t> history = {3, 3, 7, 11, 30};
  const std::vector<TokenBias> bias = {{0, 1.5f}, {5, -2.0f}, {9, -std::numeric_limits<float>::infinity()}};
  constexpr int kDraws = 40000;
  check_fit(x, {.seed = 1}, kDraws, "temperature 1");
  check_fit(x, {.temperature = 0.7, .seed = 2}, kDraws, "temperature 0.7");
  check_fit(x, {.temperature = 3.0, .seed = 3}, kDraws, "temperature 3");
  check_fit(x, {.top_k = 10, .seed = 4}, kDraws, "top-k 10");
  check_fit(x, {.top_p = 0.8, .seed = 5}, kDraws, "top-p 0.8");
  check_fit(x, {.min_p = 0.1, .seed = 6}, kDraws, "min-p 0.1");
  check_fit(x, {.temperature = 0.8, .top_k = 20, .top_p = 0.9, .min_p = 0.02, .seed = 7}, kDraws,
            "k20 p0.9 minp0.02 tau0.8");
  check_fit(x, {.top_p = 0.5, .min_p = 0.05, .seed = 8}, kDraws, "top-p 0.5 + min-p");
  check_fit(x, {.top_p = 0.3, .min_tokens_to_keep = 6, .seed = 9}, kDraws, "top-p + keep 6");
  check_fit(x, {.repetition_penalty = 1.3, .presence_penalty = 0.4, .frequency_penalty = 0.2,
                .history = history, .logit_bias = bias, .seed = 10},
            kDraws, "penalties + bias");
  check_fit(x, {.temperature = std::numeric_limits<double>::infinity(), .seed = 11}, kDraws,
            "tau = inf");
  check_fit(x, {.temperature = 0.9, .top_p = 0.95, .seed = 12, .precision = Precision::kFast},
            kDraws, "kFast tau 0.9 top-p 0.95");
}

// Large rows take the row paths (exp pass, nucleus select, cut block sums).
TEST(SamplingStatsTest, RowPathsLargeVocabulary) {
  const auto x = ref::test_logits(20000, 78, 2.0, 3, 1500, 5.0f);
  constexpr int kDraws = 8000;
  check_fit(x, {.seed = 21}, kDraws, "row: temperature 1");
  check_fit(x, {.top_p = 0.9, .seed = 22}, kDraws, "row: top-p 0.9");
  check_fit(x, {.temperature = 4.0, .min_p = 1e-6, .seed = 23}, kDraws, "row: min-p cut");
  check_fit(x, {.temperature = 1.5, .top_p = 0.9, .min_p = 1e-3, .seed = 24}, kDraws,
            "row: min-p + top-p");
  check_fit(x, {.min_p = 0.05, .seed = 25}, kDraws, "row: min-p list");
  check_fit(x, {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05, .seed = 26},
            kDraws, "row: chain");
  check_fit(x, {.seed = 27, .precision = Precision::kFast}, kDraws, "row: kFast temperature 1");
}

}  // namespace
}  // namespace logitkit
