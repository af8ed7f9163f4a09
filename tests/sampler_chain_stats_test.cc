// SPDX-License-Identifier: Apache-2.0
// Chi-square goodness of fit of SamplerChain::sample() draws against its distribution(), for
// each stage the chain adds (fixed seeds; >= 10 expected draws per bucket).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/sampler_chain.h"

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

TEST(ChainStatsTest, ChiSquareHelperMatchesKnownQuantiles) {
  EXPECT_NEAR(gamma_q(0.5, 0.5 * 3.841458820694124), 0.05, 1e-9);
  EXPECT_NEAR(gamma_q(5, 0.5 * 18.307038053275146), 0.05, 1e-9);
}

std::vector<float> test_row(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  return x;
}

// Draws `draws` tokens (steps 0..draws-1, state reset to `mu` each step) and tests the counts
// against distribution() at the same step (which is step-independent for these chains).
void check_fit(const std::string& spec, const std::vector<float>& x,
               const std::vector<std::int32_t>& history, int draws, double mu = NAN) {
  SCOPED_TRACE(spec);
  SamplerChain c(spec);
  const ChainContext ctx{.history = history, .seed = 77};
  std::vector<float> probs(x.size());
  MirostatState st{mu};
  c.distribution(x, ctx, probs, 0, 0, &st);
  std::vector<long> count(x.size(), 0);
  for (int s = 0; s < draws; ++s) {
    MirostatState fresh{mu};
    ++count[c.sample(x, ctx, 5, static_cast<std::uint64_t>(s), &fresh).token];
  }
  double stat = 0, exp_acc = 0;
  long obs_acc = 0;
  int buckets = 0, kept = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (probs[i] == 0) {
      ASSERT_EQ(count[i], 0) << "token " << i << " is filtered out but was drawn";
      continue;
    }
    ++kept;
    exp_acc += probs[i] * draws;
    obs_acc += count[i];
    if (exp_acc >= 10) {
      stat += (obs_acc - exp_acc) * (obs_acc - exp_acc) / exp_acc;
      ++buckets;
      exp_acc = 0;
      obs_acc = 0;
    }
  }
  if (exp_acc > 0 && buckets > 0) {  // the tail joins the last bucket's statistic as its own
    stat += (obs_acc - exp_acc) * (obs_acc - exp_acc) / std::max(exp_acc, 1.0);
    ++buckets;
  }
  ASSERT_GE(buckets, 2) << "too few buckets to test";
  const double pv = gamma_q(0.5 * (buckets - 1), 0.5 * stat);
  std::printf("%-40s kept %5d buckets %4d chi2 %9.2f p %.4f\n", spec.c_str(), kept, buckets, stat,
              pv);
  EXPECT_GT(pv, 1e-4);
}

TEST(ChainStatsTest, EachStageDrawsItsDistribution) {
  const auto x = test_row(2000, 1, 2.0f);
  // A history of likely tokens, ending in a repeat (a b c d e a b c d e ... a b): penalties and
  // DRY change the kept tokens' weights.
  std::vector<std::int32_t> order(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  std::partial_sort(order.begin(), order.begin() + 40, order.end(),
                    [&](std::int32_t a, std::int32_t b) { return x[a] > x[b]; });
  std::vector<std::int32_t> hist;
  for (int j = 0; j < 40; ++j) hist.push_back(order[static_cast<std::size_t>((j * 7) % 40)]);
  for (int j = 0; j < 12; ++j) hist.push_back(order[static_cast<std::size_t>(j % 5)]);
  for (const char* spec : {"penalties=64:1.3:0.2:0.4,top_k=100", "dry=0.8:1.75:2:-1,top_k=100"}) {
    std::vector<float> with(x.size()), without(x.size());
    SamplerChain(spec).distribution(x, {.history = hist}, with);
    SamplerChain("top_k=100").distribution(x, {}, without);
    EXPECT_NE(with, without) << spec << " changed nothing: the test would not test it";
  }
  const int draws = 20000;
  check_fit("top_k=200,typical=0.8", x, hist, draws);
  check_fit("typical=0.9", x, hist, draws);
  check_fit("top_n_sigma=1.5", x, hist, draws);
  check_fit("top_k=300,xtc=1:0.02", x, hist, draws);
  check_fit("penalties=64:1.3:0.2:0.4,top_k=100", x, hist, draws);
  check_fit("dry=0.8:1.75:2:-1,top_k=100", x, hist, draws);
  check_fit("epsilon=0.0005", x, hist, draws);
  check_fit("eta=0.002", x, hist, draws);
  check_fit("dynatemp=1:0.5:1,top_k=400", x, hist, draws);
  check_fit("top_k=500,mirostat=5:0.1:100", x, hist, draws, 8.0);
  check_fit("mirostat_v2=5:0.1", x, hist, draws, 9.0);
  check_fit("min_p=0.01,temp=0.7", x, hist, draws);
  check_fit("temp=1.5,top_p=0.8", x, hist, draws);
}

}  // namespace
}  // namespace logitkit
