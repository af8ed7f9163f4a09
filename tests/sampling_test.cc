// SPDX-License-Identifier: Apache-2.0
// Sampler semantics: hand-computed cases, edge cases, errors, the reference distribution, and
// reproducibility across batches, thread counts and SIMD targets.
#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/sampling.h"
#include "logitkit/targets.h"
#include "tests/sampling_reference.h"

namespace logitkit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<double> dist(const std::vector<float>& x, const SamplingParams& p) {
  std::vector<float> probs(x.size());
  sampling_distribution(x, p, probs);
  return std::vector<double>(probs.begin(), probs.end());
}

std::vector<float> logs(const std::vector<double>& p) {
  std::vector<float> x;
  for (double v : p) x.push_back(static_cast<float>(std::log(v)));
  return x;
}

void expect_dist(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (want[i] == 0) {
      EXPECT_EQ(got[i], 0.0) << "token " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
    }
  }
}

// The param sets every reproducibility test runs: each path of the driver.
std::vector<SamplingParams> param_sets() {
  std::vector<SamplingParams> v;
  v.push_back({});                                                          // temperature only
  v.push_back({.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05});  // chain
  v.push_back({.top_p = 0.95});                                             // nucleus on the row
  v.push_back({.top_p = 0.5, .min_p = 0.001});                              // nucleus on a list
  v.push_back({.min_p = 0.05});                                             // min-p list
  v.push_back({.temperature = 4.0, .min_p = 1e-6});                         // min-p cut of the row
  v.push_back({.temperature = 1.5, .top_p = 0.9, .min_p = 1e-4});          // min-p cut + nucleus
  v.push_back({.temperature = 0.0});                                        // greedy
  v.push_back({.top_k = 5, .min_tokens_to_keep = 3});
  v.push_back({.temperature = 3.0, .top_p = 0.9, .min_p = 1e-5});      // big min-p cut, nucleus
  v.push_back({.temperature = 2.0, .top_p = 0.99999, .min_p = 1e-3});  // big min-p cut wins
  v.push_back({.temperature = 0.9, .precision = Precision::kFast});  // the float shift
  v.push_back({.top_p = 0.9, .precision = Precision::kFast});
  v.push_back({.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05,
               .precision = Precision::kFast});
  return v;
}

// ------------------------------------------------------------------------------------------
TEST(SamplingTest, PhiloxKnownAnswers) {
  // Random123's kat_vectors for philox4x32-10.
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<std::uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  // And Random123's own implementation on many counters and keys.
  r123::Philox4x32 g;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::array<std::uint32_t, 4> c{i * 2654435761u, i, ~i, i << 7};
    const std::array<std::uint32_t, 2> k{i * 40503u, ~(i * 9u)};
    const auto want = g({{c[0], c[1], c[2], c[3]}}, {{k[0], k[1]}});
    const auto got = philox4x32_10(c, k);
    for (int j = 0; j < 4; ++j) ASSERT_EQ(got[j], want[j]) << i;
  }
}

TEST(SamplingTest, UniformHas53BitsAndDependsOnEveryKey) {
  const double u = philox_uniform(1, 2, 3);
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
  EXPECT_NE(u, philox_uniform(0, 2, 3));
  EXPECT_NE(u, philox_uniform(1, 3, 3));
  EXPECT_NE(u, philox_uniform(1, 2, 4));
  EXPECT_NE(u, philox_uniform(1, 2, 3 + (1ull << 32)));  // high word of step
  EXPECT_NE(u, philox_uniform(1, 2 + (1ull << 32), 3));  // high word of stream
  // Some draw uses bits below 2^-32 (a 32-bit uniform would leave them 0).
  bool low_bits = false;
  for (std::uint64_t s = 0; s < 16; ++s) {
    const double v = philox_uniform(7, 0, s) * 0x1p32;
    low_bits |= v != std::floor(v);
  }
  EXPECT_TRUE(low_bits);
  double mean = 0;
  for (std::uint64_t s = 0; s < 100000; ++s) mean += philox_uniform(9, 1, s);
  EXPECT_NEAR(mean / 100000, 0.5, 0.005);
}

// ------------------------------------------------------------------------------------------
// Hand-computed cases (llama.cpp's test-sampling.cpp where it has them).
TEST(SamplingTest, TopPHandCase) {
  const auto x = logs({0.1, 0.2, 0.3, 0.4});
  expect_dist(dist(x, {.top_p = 0.7}), {0, 0, 3.0 / 7, 4.0 / 7}, 1e-6);
  expect_dist(dist(x, {.top_p = 0.8}), {0, 2.0 / 9, 3.0 / 9, 4.0 / 9}, 1e-6);
  expect_dist(dist(x, {.top_p = 1.0}), {0.1, 0.2, 0.3, 0.4}, 1e-6);
  expect_dist(dist(x, {.top_p = 0.3}), {0, 0, 0, 1}, 0);
}

TEST(SamplingTest, TopKHandCase) {
  const auto x = logs({0.1, 0.2, 0.3, 0.4});
  expect_dist(dist(x, {.top_k = 1}), {0, 0, 0, 1}, 0);
  expect_dist(dist(x, {.top_k = 3}), {0, 2.0 / 9, 3.0 / 9, 4.0 / 9}, 1e-6);
  expect_dist(dist(x, {.top_k = 4}), {0.1, 0.2, 0.3, 0.4}, 1e-6);
  expect_dist(dist(x, {.top_k = 100}), {0.1, 0.2, 0.3, 0.4}, 1e-6);  // k > V: off
  expect_dist(dist(x, {.top_k = 0}), {0.1, 0.2, 0.3, 0.4}, 1e-6);
  expect_dist(dist(x, {.top_k = -3}), {0.1, 0.2, 0.3, 0.4}, 1e-6);
}

TEST(SamplingTest, MinPHandCase) {
  const auto x = logs({0.1, 0.2, 0.3, 0.4});
  expect_dist(dist(x, {.min_p = 0.6}), {0, 0, 3.0 / 7, 4.0 / 7}, 1e-6);  // keeps p >= 0.24
  expect_dist(dist(x, {.min_p = 0.3}), {0, 2.0 / 9, 3.0 / 9, 4.0 / 9}, 1e-6);
  expect_dist(dist(x, {.min_p = 1.0}), {0, 0, 0, 1}, 0);
  // min-p is relative to the tempered distribution: at tau = 2, p ~ sqrt(p0).
  const double s[] = {std::sqrt(0.1), std::sqrt(0.2), std::sqrt(0.3), std::sqrt(0.4)};
  const double z = s[1] + s[2] + s[3];
  expect_dist(dist(x, {.temperature = 2.0, .min_p = 0.6}), {0, s[1] / z, s[2] / z, s[3] / z},
              1e-6);
}

TEST(SamplingTest, TemperatureInsideTheExponent) {
  const std::vector<float> x = {0.0f, static_cast<float>(std::log(2.0))};
  expect_dist(dist(x, {.temperature = 0.5}), {0.2, 0.8}, 1e-6);
  expect_dist(dist(x, {.temperature = 1.0}), {1.0 / 3, 2.0 / 3}, 1e-6);
  // Shift invariance: adding 1000 to every logit changes nothing.
  const std::vector<float> y = {1000.0f, 1000.0f + static_cast<float>(std::log(2.0))};
  expect_dist(dist(y, {.temperature = 0.5}), dist(x, {.temperature = 0.5}), 1e-4);
}

TEST(SamplingTest, FilterOrderIsTopKThenTopPThenMinP) {
  // top-p is computed on the renormalised top-k: within the top 3 of {.1,.2,.3,.4} the masses
  // are {2,3,4}/9; 0.7 of that needs two tokens (7/9 >= 0.7).
  const auto x = logs({0.1, 0.2, 0.3, 0.4});
  expect_dist(dist(x, {.top_k = 3, .top_p = 0.7}), {0, 0, 3.0 / 7, 4.0 / 7}, 1e-6);
  // The same top-p on the whole row also keeps two (0.7 >= 0.7 within the slack).
  // Temperature comes first: at tau = 0.5 the masses are {1,4,9,16}/30, and 0.6 needs two.
  expect_dist(dist(x, {.temperature = 0.5, .top_p = 0.6}), {0, 0, 9.0 / 25, 16.0 / 25}, 1e-6);
  // min_tokens_to_keep floors top-p and min-p but not top-k.
  expect_dist(dist(x, {.top_p = 0.3, .min_tokens_to_keep = 2}), {0, 0, 3.0 / 7, 4.0 / 7}, 1e-6);
  expect_dist(dist(x, {.min_p = 1.0, .min_tokens_to_keep = 3}), {0, 2.0 / 9, 3.0 / 9, 4.0 / 9},
              1e-6);
  expect_dist(dist(x, {.top_k = 2, .min_tokens_to_keep = 3}), {0, 0, 3.0 / 7, 4.0 / 7}, 1e-6);
}

TEST(SamplingTest, PenaltiesAndBias) {
  const std::vector<float> x = {1.0f, 2.0f, -1.0f, 0.5f};
  const std::vector<std::int32_t> history = {1, 1, 2};
  // Repetition 2: token 1: 2/2 = 1, token 2: -1*2 = -2. Presence 0.5, frequency 0.25:
  // token 1: 1 - 0.5 - 0.5 = 0, token 2: -2 - 0.5 - 0.25 = -2.75.
  const SamplingParams p{.repetition_penalty = 2.0, .presence_penalty = 0.5,
                         .frequency_penalty = 0.25, .history = history};
  const double e[] = {std::exp(1.0), std::exp(0.0), std::exp(-2.75), std::exp(0.5)};
  const double z = e[0] + e[1] + e[2] + e[3];
  expect_dist(dist(x, p), {e[0] / z, e[1] / z, e[2] / z, e[3] / z}, 1e-6);
  // Logit bias: -inf bans, a finite bias adds, duplicates add up.
  const std::vector<TokenBias> bias = {{0, -kInf}, {3, 0.25f}, {3, 0.25f}};
  const double f[] = {0, std::exp(2.0), std::exp(-1.0), std::exp(1.0)};
  const double zf = f[1] + f[2] + f[3];
  expect_dist(dist(x, {.logit_bias = bias}), {0, f[1] / zf, f[2] / zf, f[3] / zf}, 1e-6);
  // A +inf bias forces the token.
  const std::vector<TokenBias> force = {{2, kInf}};
  for (std::uint64_t s = 0; s < 20; ++s) EXPECT_EQ(sample(x, {.logit_bias = force}, 0, s).token, 2);
}

TEST(SamplingTest, PenaltiesOnAnEmptyHistoryChangeNothing) {
  const auto x = ref::test_logits(1000, 5);
  const SamplingParams plain{.top_p = 0.9};
  const SamplingParams pen{.top_p = 0.9, .repetition_penalty = 1.3, .presence_penalty = 0.7,
                           .frequency_penalty = 0.2};
  EXPECT_EQ(dist(x, plain), dist(x, pen));
  for (std::uint64_t s = 0; s < 50; ++s) {
    EXPECT_EQ(sample(x, plain, 3, s).token, sample(x, pen, 3, s).token);
  }
}

// ------------------------------------------------------------------------------------------
TEST(SamplingTest, GreedyPicksTheLowestIndexAmongMaxima) {
  const std::vector<float> x = {1.0f, 3.0f, -2.0f, 3.0f, 0.0f};
  for (const SamplingParams& p : {SamplingParams{.temperature = 0.0}, SamplingParams{.top_p = 0.0},
                                  SamplingParams{.top_k = 1},
                                  SamplingParams{.temperature = 0.0, .top_k = 3, .top_p = 0.5}}) {
    for (std::uint64_t s = 0; s < 10; ++s) {
      const SampleResult r = sample(x, p, 0, s);
      EXPECT_EQ(r.token, 1);
      EXPECT_EQ(r.logprob, 0.0f);
    }
    expect_dist(dist(x, p), {0, 1, 0, 0, 0}, 0);
  }
  // Long rows (the max is found per 1024-entry block): maxima in later blocks, at block edges,
  // a -0 / +0 maximum, +inf maxima.
  for (const std::vector<std::size_t>& at : std::vector<std::vector<std::size_t>>{
           {4500, 3000}, {1024, 1023}, {2047, 4999}, {0, 4999}, {4999}}) {
    for (float top : {9.0f, 0.0f, kInf}) {
      auto x = ref::test_logits(5000, 42, 1.0, 0);
      for (float& v : x) v = std::min(v, -1.0f);
      for (std::size_t i : at) x[i] = top;
      if (top == 0.0f) x[at[0]] = -0.0f;
      const std::size_t first = *std::min_element(at.begin(), at.end());
      for (const SamplingParams& p : {SamplingParams{.temperature = 0.0}, SamplingParams{.top_k = 1}}) {
        EXPECT_EQ(sample(x, p, 0, 0).token, static_cast<std::int32_t>(first)) << top;
      }
    }
  }
}

TEST(SamplingTest, TiesAtTheKthValueKeepLowerIndices) {
  const std::vector<float> x = {1.0f, 3.0f, 2.0f, 3.0f, 2.0f, 2.0f};
  const double a = std::exp(0.0), b = std::exp(-1.0), z = 2 * a + b;
  expect_dist(dist(x, {.top_k = 3}), {0, a / z, b / z, a / z, 0, 0}, 1e-6);
  const double z4 = 2 * a + 2 * b;
  expect_dist(dist(x, {.top_k = 4}), {0, a / z4, b / z4, a / z4, b / z4, 0}, 1e-6);
  // A long row (the sampled-threshold filter path): 10 leaders, then ties at 0 by index.
  std::vector<float> y(20000, 0.0f);
  for (std::size_t i = 100; i < 110; ++i) y[i] = 1.0f;
  const auto d = dist(y, {.top_k = 50});
  for (std::size_t i = 0; i < y.size(); ++i) {
    ASSERT_EQ(d[i] > 0, i < 40 || (i >= 100 && i < 110)) << i;
  }
}

TEST(SamplingTest, TiesAtTheTopPBoundaryKeepLowerIndices) {
  const std::vector<float> x(8, 0.5f);
  expect_dist(dist(x, {.top_p = 0.5}), {0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0}, 1e-7);
  expect_dist(dist(x, {.top_p = 0.6}), {0.2, 0.2, 0.2, 0.2, 0.2, 0, 0, 0}, 1e-7);
  // A large flat row exercises the select kernels' tie handling.
  const std::vector<float> flat(50000, -1.0f);
  const auto d = dist(flat, {.top_p = 0.3});
  for (std::size_t i = 0; i < flat.size(); ++i) {
    ASSERT_EQ(d[i] > 0, i < 15000) << i;
  }
}

TEST(SamplingTest, OneFiniteLogitAmongMinusInf) {
  std::vector<float> x(1000, -kInf);
  x[617] = -3.0f;
  for (const SamplingParams& p : param_sets()) {
    for (std::uint64_t s = 0; s < 5; ++s) {
      const SampleResult r = sample(x, p, 1, s);
      EXPECT_EQ(r.token, 617);
      EXPECT_EQ(r.logprob, 0.0f);
    }
  }
}

TEST(SamplingTest, PlusInfLogitsShareTheMass) {
  std::vector<float> x = {0.0f, kInf, 5.0f, kInf, -kInf};
  expect_dist(dist(x, {}), {0, 0.5, 0, 0.5, 0}, 0);
  expect_dist(dist(x, {.top_k = 1}), {0, 1, 0, 0, 0}, 0);
}

TEST(SamplingTest, TinyTopPIsTheMaximum) {
  const auto x = ref::test_logits(5000, 11, 3.0, 0);
  const std::size_t argmax = std::max_element(x.begin(), x.end()) - x.begin();
  for (std::uint64_t s = 0; s < 20; ++s) {
    EXPECT_EQ(sample(x, {.top_p = 1e-9}, 0, s).token, static_cast<std::int32_t>(argmax));
  }
}

TEST(SamplingTest, TinyTemperatureIsGreedyWhenTheMaxIsUnique) {
  const auto x = ref::test_logits(32000, 12);
  const std::size_t argmax = std::max_element(x.begin(), x.end()) - x.begin();
  for (std::uint64_t s = 0; s < 50; ++s) {
    const SampleResult r = sample(x, {.temperature = 1e-6}, 0, s);
    EXPECT_EQ(r.token, static_cast<std::int32_t>(argmax));
    EXPECT_EQ(r.logprob, 0.0f);
  }
}

TEST(SamplingTest, HugeTemperatureIsNearlyUniform) {
  const auto x = ref::test_logits(3000, 13);
  const auto d = dist(x, {.temperature = 1e6});
  for (double v : d) EXPECT_NEAR(v * 3000, 1.0, 1e-3);
  const auto u = dist(x, {.temperature = std::numeric_limits<double>::infinity()});
  for (double v : u) EXPECT_NEAR(v * 3000, 1.0, 1e-6);
}

// ------------------------------------------------------------------------------------------
TEST(SamplingTest, InvalidArgumentsNameTheArgument) {
  const std::vector<float> x = {0.0f, 1.0f, 2.0f};
  auto expect_error = [&](const std::vector<float>& v, const SamplingParams& p, const char* what) {
    try {
      sample(v, p, 0, 0);
      ADD_FAILURE() << "no exception for " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error({0.0f, std::nanf(""), 1.0f}, {}, "logits[1] is NaN");
  expect_error({-kInf, -kInf}, {}, "every logit is -inf");
  expect_error({}, {}, "logits is empty");
  expect_error(x, {.temperature = -1}, "params.temperature");
  expect_error(x, {.temperature = std::nan("")}, "params.temperature");
  expect_error(x, {.top_p = 1.5}, "params.top_p");
  expect_error(x, {.min_p = -0.1}, "params.min_p");
  expect_error(x, {.min_tokens_to_keep = 0}, "params.min_tokens_to_keep");
  expect_error(x, {.repetition_penalty = 0}, "params.repetition_penalty");
  expect_error(x, {.presence_penalty = kInf}, "params.presence_penalty");
  expect_error(x, {.top_logprobs = -1}, "params.top_logprobs");
  const std::vector<std::int32_t> bad_history = {0, 3};
  expect_error(x, {.presence_penalty = 1, .history = bad_history}, "params.history[1]");
  const std::vector<TokenBias> bad_bias = {{-1, 1.0f}};
  expect_error(x, {.logit_bias = bad_bias}, "params.logit_bias[0].token");
  const std::vector<TokenBias> nan_bias = {{1, std::nanf("")}};
  expect_error(x, {.logit_bias = nan_bias}, "params.logit_bias[0].bias");
  const std::vector<TokenBias> ban_all = {{0, -kInf}, {1, -kInf}, {2, -kInf}};
  expect_error(x, {.logit_bias = ban_all}, "every logit is -inf");
  std::vector<float> probs(2);
  EXPECT_THROW(sampling_distribution(x, {}, probs), std::invalid_argument);
}

TEST(SamplingTest, BatchErrorsNameTheRow) {
  std::vector<float> x(3 * 4, 0.0f);
  x[2 * 4 + 1] = std::nanf("");
  std::vector<SampleResult> out(3);
  const SamplingParams p{};
  const std::uint64_t zero = 0;
  try {
    sample(Rows<const float>{x.data(), 3, 4, 4}, {&p, 1}, {&zero, 1}, {&zero, 1}, out);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 2: logits[1] is NaN"), std::string::npos)
        << e.what();
  }
  // Broadcast params, streams and steps equal the per-row call.
  std::vector<float> y = ref::test_logits(3 * 500, 3);
  const SamplingParams q{.top_p = 0.9, .seed = 5};
  const std::uint64_t stream = 4, step = 6;
  sample(Rows<const float>{y.data(), 3, 500, 500}, {&q, 1}, {&stream, 1}, {&step, 1}, out);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(out[r].token, sample(std::span<const float>(y.data() + r * 500, 500), q, 4, 6).token);
  }
  std::vector<SampleResult> short_out(2);
  EXPECT_THROW(sample(Rows<const float>{x.data(), 3, 4, 4}, {&p, 1}, {&zero, 1}, {&zero, 1},
                      short_out),
               std::invalid_argument);
}

// ------------------------------------------------------------------------------------------
// The distribution equals the sort-based double reference on every path.
TEST(SamplingTest, DistributionMatchesTheSortBasedReference) {
  const std::vector<std::int32_t> history = {5, 17, 5, 900, 2999, 17, 5};
  const std::vector<TokenBias> bias = {{3, 2.5f}, {17, -1.0f}, {1200, -kInf}};
  for (std::size_t n : {1u, 7u, 100u, 3000u, 40000u}) {
    for (std::size_t flat : {0u, 2000u}) {
      const auto x = ref::test_logits(n, 100 + n, 3.0, 3, std::min(flat, n / 2));
      auto sets = param_sets();
      if (n >= 3000) {
        sets.push_back({.top_p = 0.9, .repetition_penalty = 1.5, .presence_penalty = 0.3,
                        .frequency_penalty = 0.1, .history = history, .logit_bias = bias});
      }
      for (const SamplingParams& p : sets) {
        SCOPED_TRACE(testing::Message() << "n=" << n << " flat=" << flat << " tau="
                                        << p.temperature << " k=" << p.top_k << " p=" << p.top_p
                                        << " min_p=" << p.min_p);
        const auto want = ref::distribution(x, p);
        const auto got = dist(x, p);
        const float m = *std::max_element(x.begin(), x.end());
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
          ASSERT_EQ(got[i] > 0, want[i] > 0) << "token " << i;
          // kFast: the float shift and exp add up to (3 |x - max|/tau + 6) 2^-24
          // per probability and as much again through the normaliser; kAccurate: 1.5 ULP.
          const double rel = p.precision == Precision::kFast && p.temperature > 0
                                 ? 2 * (3 * (m - x[i]) / p.temperature + 6) * 0x1p-24 + 1e-6
                                 : 1e-6;
          ASSERT_NEAR(got[i], want[i], rel * want[i] + 1e-12) << "token " << i;
          sum += got[i];
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
  }
}

// The kept set equals the reference's and each probability is within the documented error.
void expect_matches_reference(const std::vector<float>& x, const SamplingParams& p) {
  const auto want = ref::distribution(x, p);
  const auto got = dist(x, p);
  float m = -kInf;
  for (float v : x) m = std::max(m, v);
  for (std::size_t i = 0; i < x.size(); ++i) {
    // Below FLT_MIN the weights are subnormal floats (docs/sampling.md): zero exactly where the
    // float value of the exact probability is, but for the last subnormal bits.
    if (want[i] < 0x1p-120) {
      ASSERT_NEAR(got[i], want[i], 0x1p-140) << "token " << i;
      if (want[i] > 0x1p-148) ASSERT_GT(got[i], 0) << "token " << i;
      if (want[i] < 0x1p-151) ASSERT_EQ(got[i], 0) << "token " << i;
      continue;
    }
    ASSERT_GT(got[i], 0) << "token " << i;
    const double rel = p.precision == Precision::kFast && p.temperature > 0
                           ? 2 * (3 * (m - x[i]) / p.temperature + 6) * 0x1p-24 + 1e-6
                           : 1e-6;
    ASSERT_NEAR(got[i], want[i], rel * want[i] + 1e-12) << "token " << i;
  }
}

// The fused pass of temperature alone and top-p alone (per-block maxima and scales) and the
// top-p bracket estimated from a sample: blocks of -inf, NaN anywhere, an estimate that misses
// above or below, and the tau range of the float exp.
TEST(SamplingTest, FusedPassAndTopPBracketEdgeCases) {
  const std::vector<SamplingParams> chains = {
      {}, {.top_p = 0.9}, {.top_p = 0.5}, {.temperature = 0.7, .top_p = 0.99},
      {.top_p = 0.9, .precision = Precision::kFast}};
  // Whole blocks of -inf (the first four and one in the middle).
  {
    auto x = ref::test_logits(12000, 31, 3.0, 3, 1500);
    for (std::size_t i = 0; i < 4096; ++i) x[i] = -kInf;
    for (std::size_t i = 7168; i < 8192; ++i) x[i] = -kInf;
    for (const SamplingParams& p : chains) {
      SCOPED_TRACE(testing::Message() << "-inf blocks, p=" << p.top_p);
      expect_matches_reference(x, p);
    }
  }
  // A few spikes off the sample grid carry almost all the mass: the nucleus is above the
  // estimated bracket.
  {
    auto x = ref::test_logits(20000, 32, 1.0, 0);
    x[1] = 20.0f;
    x[2] = 19.5f;
    x[19999] = 19.0f;
    for (const SamplingParams& p : chains) {
      SCOPED_TRACE(testing::Message() << "spikes, p=" << p.top_p);
      expect_matches_reference(x, p);
    }
  }
  // Nearly flat logits: the nucleus holds most of the row; all-equal logits: index order.
  {
    auto x = ref::test_logits(30000, 33, 0.01, 0);
    for (const SamplingParams& p : chains) {
      SCOPED_TRACE(testing::Message() << "flat, p=" << p.top_p);
      expect_matches_reference(x, p);
    }
    const std::vector<float> same(9000, 1.5f);
    const auto d = dist(same, {.top_p = 0.5});
    for (std::size_t i = 0; i < same.size(); ++i) {
      ASSERT_EQ(d[i] > 0, i < 4500) << i;
    }
  }
  // Two clusters far apart, the boundary inside the lower one (below a bracket placed from a
  // sample that sees mostly the upper one), and a wide spread (logits over hundreds).
  {
    auto x = ref::test_logits(16384, 34, 0.5, 0);
    for (std::size_t i = 0; i < x.size(); i += 2) x[i] -= 8.0f;
    for (const SamplingParams& p : chains) {
      SCOPED_TRACE(testing::Message() << "clusters, tau=" << p.temperature << " p=" << p.top_p);
      expect_matches_reference(x, p);
    }
    const auto wide = ref::test_logits(10000, 35, 100.0, 3);
    for (const SamplingParams& p : chains) {
      SCOPED_TRACE(testing::Message() << "wide, tau=" << p.temperature << " p=" << p.top_p);
      expect_matches_reference(wide, p);
    }
  }
  // tau at the ends of the float exp's range and beyond it (the double exp).
  {
    const auto x = ref::test_logits(9000, 36, 3.0, 3, 500);
    for (double tau : {1e-29, 2e-29, 3e29, 1e31, 1e-31}) {
      for (double top_p : {1.0, 0.9}) {
        SCOPED_TRACE(testing::Message() << "tau=" << tau << " p=" << top_p);
        expect_matches_reference(x, {.temperature = tau, .top_p = top_p});
      }
    }
  }
  // NaN in a block with finite entries, in a block of -inf, next to +inf: named, on every chain.
  for (std::size_t at : {3000u, 1500u, 4095u}) {
    auto x = ref::test_logits(5000, 37);
    for (std::size_t i = 1024; i < 2048; ++i) x[i] = -kInf;
    x[at] = std::nanf("");
    if (at == 4095) x[4000] = kInf;
    for (const SamplingParams& p : chains) {
      try {
        sample(x, p, 0, 0);
        ADD_FAILURE() << "no exception, NaN at " << at;
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("logits[" + std::to_string(at) + "] is NaN"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  // The same on the chains with a max pass (greedy, top-k, min-p), negative NaN included.
  for (std::size_t at : {0u, 1500u, 4999u, 2048u}) {
    auto x = ref::test_logits(5000, 39);
    for (std::size_t i = 1024; i < 2048; ++i) x[i] = -kInf;
    x[at] = at == 2048 ? -std::nanf("") : std::nanf("");
    for (const SamplingParams& p :
         {SamplingParams{.temperature = 0.0}, SamplingParams{.top_k = 40},
          SamplingParams{.min_p = 0.05}, SamplingParams{.top_p = 0.9, .min_p = 1e-4}}) {
      try {
        sample(x, p, 0, 0);
        ADD_FAILURE() << "no exception, NaN at " << at;
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("logits[" + std::to_string(at) + "] is NaN"),
                  std::string::npos)
            << e.what();
      }
    }
  }
  // +inf on the fused chains: only the +inf entries remain.
  {
    auto x = ref::test_logits(5000, 38);
    x[10] = kInf;
    x[4999] = kInf;
    for (const SamplingParams& p : chains) {
      const auto d = dist(x, p);
      // top-p 0.5: the first of the two halves already reaches it.
      const double first = p.top_p <= 0.5 ? 1.0 : 0.5;
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(d[i], i == 10 ? first : i == 4999 ? 1.0 - first : 0.0) << i;
      }
    }
  }
}

// sample() on the same row: each drawn token is kept by the reference, sits where the reference's
// inverse CDF (kept tokens in index order) puts u, and its log-probability is the reference's.
void expect_draws_match_reference(const std::vector<float>& x, const SamplingParams& p,
                                  std::uint64_t steps = 6) {
  const auto want = ref::distribution(x, p);
  float m = -kInf;
  for (float v : x) m = std::max(m, v);
  const bool fast = p.precision == Precision::kFast;
  for (std::uint64_t s = 0; s < steps; ++s) {
    const SampleResult r = sample(x, p, 9, s);
    ASSERT_GE(r.token, 0);
    ASSERT_LT(static_cast<std::size_t>(r.token), x.size());
    ASSERT_GT(want[r.token], 0.0) << "step " << s << ": token " << r.token << " is not kept";
    const double t = (static_cast<double>(m) - x[r.token]) / p.temperature;
    const double tol = fast ? (3 * t + 6) * 0x1p-23 + 2e-6 : 2e-6;
    EXPECT_NEAR(r.logprob, std::log(want[r.token]), tol) << "step " << s;
    const double u = philox_uniform(p.seed, 9, s);
    double before = 0;
    for (std::int32_t i = 0; i < r.token; ++i) before += want[i];
    const double cdf_tol = fast ? 1e-5 : 2e-6;
    EXPECT_LE(before, u + cdf_tol) << "step " << s << ": token " << r.token;
    EXPECT_GE(before + want[r.token], u - cdf_tol) << "step " << s << ": token " << r.token;
  }
}

// The top-p cut of a long row (a bracket estimated from a sample, one pass over the row): every
// way the estimate can fail and the special shapes of the boundary, for the distribution and for
// the drawn tokens and their log-probabilities, against the sort-based reference.
TEST(SamplingTest, TopPRowBracketFallbacksMatchTheReference) {
  std::vector<SamplingParams> chains;
  for (Precision pr : {Precision::kAccurate, Precision::kFast}) {
    for (double tp : {0.5, 0.9, 0.95}) {
      chains.push_back({.temperature = 1.0, .top_p = tp, .precision = pr});
    }
    chains.push_back({.temperature = 0.7, .top_p = 0.99, .precision = pr});
  }
  auto check = [&](const char* what, const std::vector<float>& x,
                   const std::vector<SamplingParams>& ps) {
    for (const SamplingParams& p : ps) {
      SCOPED_TRACE(testing::Message() << what << ", n=" << x.size() << ", tau=" << p.temperature
                                      << ", top_p=" << p.top_p << ", fast="
                                      << (p.precision == Precision::kFast));
      expect_matches_reference(x, p);
      expect_draws_match_reference(x, p);
    }
  };
  // Miss high: a few spikes between the sample's points hold nearly all the mass, so the
  // boundary is above the bracket placed from the sample's tail.
  {
    auto x = ref::test_logits(20000, 41, 1.0, 0);
    x[1] = 20.0f;
    x[2] = 19.5f;
    x[19999] = 19.0f;
    check("miss high", x, chains);
  }
  // Miss low: half the row in a cluster 8 nats below the other half.
  {
    auto x = ref::test_logits(24576, 42, 0.5, 0);
    for (std::size_t i = 0; i < x.size(); i += 2) x[i] -= 8.0f;
    check("miss low", x, chains);
  }
  // The boundary inside a run of 6000 tied logits that holds most of the mass: the cut keeps
  // the run's lower indices.
  {
    auto x = ref::test_logits(30000, 43, 1.0, 0);
    for (std::size_t f = 0; f < 6000; ++f) x[(f * 7919) % x.size()] = 5.0f;
    check("ties at the boundary", x, chains);
  }
  // A nucleus of one token (far above the rest).
  {
    auto x = ref::test_logits(16384, 44, 1.0, 0);
    x[8191] = 40.0f;
    check("one token", x, chains);
    const auto want = ref::distribution(x, chains[1]);
    EXPECT_EQ(want[8191], 1.0);
  }
  // top_p very close to 1: all but the far tail is kept. There the boundary token's probability
  // (1e-9 here) is far below the error of the weights (docs/sampling.md), so the cut may differ
  // from the exact one by tokens of that size: the distribution is checked by its total
  // variation from the reference, the draws against the sampler's own distribution.
  {
    const auto x = ref::test_logits(32000, 45, 3.0, 3, 1000);
    for (Precision pr : {Precision::kAccurate, Precision::kFast}) {
      for (double tp : {0.999999, 1 - 1e-7, 0.99999}) {
        const SamplingParams p{.top_p = tp, .precision = pr};
        SCOPED_TRACE(testing::Message() << "top_p near 1: " << tp << " fast="
                                        << (pr == Precision::kFast));
        const auto want = ref::distribution(x, p);
        const auto got = dist(x, p);
        double tv = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          tv += std::abs(got[i] - want[i]);
          // Only tokens far below the weights' error may change sides.
          if (want[i] > 1e-7) ASSERT_GT(got[i], 0.0) << "token " << i;
          if (got[i] > 1e-7) ASSERT_GT(want[i], 0.0) << "token " << i;
        }
        // docs/sampling.md: kAccurate 1.5e-6; kFast 2^-23 (3 ln V + 6).
        EXPECT_LE(tv / 2, pr == Precision::kFast ? 0x1p-23 * (3 * std::log(32000.0) + 6) : 1.5e-6);
        for (std::uint64_t s = 0; s < 6; ++s) {
          const SampleResult r = sample(x, p, 9, s);
          ASSERT_GT(got[r.token], 0.0);
          EXPECT_NEAR(r.logprob, std::log(got[r.token]), 1e-5 * std::abs(r.logprob) + 1e-6);
        }
      }
    }
  }
  // Peaked rows: 64 tokens 8 to 18 above N(0, 2^2) hold nearly all the mass and the sample
  // misses them: the bracket is widened downwards (1, 4, 16 nats, then the whole row).
  for (std::size_t n : {20000u, 70000u}) {
    auto x = ref::test_logits(n, 49 + n, 2.0, 0);
    for (std::size_t s = 0; s < 64; ++s) {
      x[static_cast<std::size_t>(philox_uniform(50, 2, s) * n)] =
          static_cast<float>(8.0 + 10.0 * philox_uniform(50, 3, s));
    }
    check("peaked", x, chains);
  }
  // -inf entries: scattered and in whole blocks.
  {
    auto x = ref::test_logits(20000, 46, 3.0, 3, 600);
    for (std::size_t i = 0; i < x.size(); i += 3) x[i] = -kInf;
    for (std::size_t i = 2048; i < 5120; ++i) x[i] = -kInf;
    check("-inf entries", x, chains);
  }
  // The whole row in the bracket: nearly flat logits, and exactly flat ones.
  {
    check("nearly flat", ref::test_logits(12000, 47, 0.001, 0), chains);
    check("flat", std::vector<float>(10000, -2.5f), chains);
  }
  // Tiny rows (the candidate-list select, no bracket).
  for (std::size_t n : {1u, 2u, 3u, 17u}) {
    check("tiny", ref::test_logits(n, 48 + n, 2.0, 0), chains);
  }
}

// The per-weight bound of docs/sampling.md, checked on ratios p_i / p_max (no normaliser):
// kFast (3 |t_i| + 6) 2^-24, kAccurate 6 * 2^-24, plus 2 * 2^-24 for the float outputs.
// Rows: N(0, 12^2) (t down to about -100); the same shifted to negative logits (every block's
// x - m then takes TwoSum: |x| > |m|); and blocks whose max lies in [8, 16) with entries down
// to just above -16, the edge of the Fast2Sum condition of the accurate exp (|x| < 2^(e_m + 1)),
// with blocks holding an entry at -16 exactly (TwoSum again).
TEST(SamplingTest, WeightsWithinTheDocumentedBound) {
  const auto normal = ref::test_logits(40000, 41, 12.0, 3, 2000);
  std::vector<float> shifted = normal;
  for (float& v : shifted) v -= 200.0f;
  std::vector<float> edge(40000);
  for (std::size_t i = 0; i < edge.size(); ++i) {
    const double u = philox_uniform(52, 1, i);
    edge[i] = static_cast<float>(-15.999 + 27.0 * u * u);  // in (-16, 11]
  }
  for (std::size_t i = 0; i < edge.size(); i += 1024) edge[i] = std::nextafter(-16.0f, 0.0f);
  for (std::size_t i = 5 * 1024 + 7; i < edge.size(); i += 3 * 1024) edge[i] = -16.0f;
  for (const std::vector<float>* row : std::initializer_list<const std::vector<float>*>{&normal, &shifted, &edge}) {
  const auto& x = *row;
  for (Precision prec : {Precision::kFast, Precision::kAccurate}) {
    for (double tau : {1.0, 0.8, 3.0}) {
      for (double top_p : {1.0, 0.99}) {
        const SamplingParams p{.temperature = tau, .top_p = top_p, .precision = prec};
        SCOPED_TRACE(testing::Message() << "tau=" << tau << " p=" << top_p << " accurate="
                                        << (prec == Precision::kAccurate));
        const auto want = ref::distribution(x, p);
        const auto got = dist(x, p);
        const std::size_t a = std::max_element(want.begin(), want.end()) - want.begin();
        const float m = x[a];
        double worst = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (want[i] < 1e-30) continue;
          const double t = (static_cast<double>(x[i]) - m) / tau;
          const double err = std::abs((got[i] / got[a]) / (want[i] / want[a]) - 1);
          const double bound =
              ((prec == Precision::kFast ? 3 * std::abs(t) : 0.0) + 6 + 2) * 0x1p-24;
          ASSERT_LE(err, bound) << "token " << i << " t=" << t;
          worst = std::max(worst, err / bound);
        }
        RecordProperty("worst_fraction_of_bound", std::to_string(worst));
      }
    }
  }
  }
}

TEST(SamplingTest, LogprobsAreThoseOfTheFinalDistribution) {
  const auto x = ref::test_logits(32000, 21, 3.0, 3, 3000);
  for (SamplingParams p : param_sets()) {
    p.top_logprobs = 5;
    const auto d = dist(x, p);
    std::size_t support = 0;
    for (double v : d) support += v > 0;
    for (std::uint64_t s = 0; s < 5; ++s) {
      const SampleResult r = sample(x, p, 4, s);
      ASSERT_GT(d[r.token], 0.0);
      EXPECT_NEAR(r.logprob, std::log(d[r.token]), 2e-6);
      ASSERT_EQ(r.top.size(), std::min<std::size_t>(5, support));
      for (std::size_t j = 0; j < r.top.size(); ++j) {
        EXPECT_NEAR(r.top[j].logprob, std::log(d[r.top[j].token]), 2e-6);
        if (j > 0) {
          const auto& a = r.top[j - 1];
          const auto& b = r.top[j];
          EXPECT_TRUE(x[a.token] > x[b.token] || (x[a.token] == x[b.token] && a.token < b.token));
        }
      }
      // No kept token outside the list beats its last entry.
      const float last = x[r.top.back().token];
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (d[i] > 0 && x[i] > last) {
          EXPECT_TRUE(std::any_of(r.top.begin(), r.top.end(),
                                  [&](const TokenLogprob& t) { return t.token == int(i); }));
        }
      }
    }
  }
}

// Round to nearest even (bfloat16::from_float is not exported from the shared library yet).
bfloat16 to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7fff + ((u >> 16) & 1);
  return bfloat16{static_cast<std::uint16_t>(u >> 16)};
}

TEST(SamplingTest, Bf16MatchesF32OnTheConvertedValues) {
  const auto x = ref::test_logits(20000, 31);
  std::vector<bfloat16> h(x.size());
  std::vector<float> back(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    h[i] = to_bf16(x[i]);
    back[i] = h[i].to_float();
  }
  for (const SamplingParams& p : param_sets()) {
    for (std::uint64_t s = 0; s < 10; ++s) {
      const SampleResult a = sample(std::span<const bfloat16>(h), p, 2, s);
      const SampleResult b = sample(back, p, 2, s);
      EXPECT_EQ(a.token, b.token);
      EXPECT_EQ(a.logprob, b.logprob);
    }
  }
}

// ------------------------------------------------------------------------------------------
// The same request gives the same token alone, in a shuffled batch, with any thread count and
// on every SIMD target.
TEST(SamplingTest, SameTokenAloneInBatchesThreadsAndTargets) {
  constexpr std::size_t kRows = 12, kCols = 32000;
  std::vector<float> data(kRows * kCols);
  for (std::size_t r = 0; r < kRows; ++r) {
    const auto x = ref::test_logits(kCols, 40 + r, 3.0, 3, r % 2 ? 3000 : 0);
    std::copy(x.begin(), x.end(), data.begin() + r * kCols);
  }
  const auto sets = param_sets();
  std::vector<SamplingParams> params(kRows);
  std::vector<std::uint64_t> streams(kRows), steps(kRows);
  for (std::size_t r = 0; r < kRows; ++r) {
    params[r] = sets[r % sets.size()];
    params[r].seed = 1000 + r;
    streams[r] = 7 * r;
    steps[r] = 3 + r;
  }
  std::vector<SampleResult> alone(kRows);
  for (std::size_t r = 0; r < kRows; ++r) {
    alone[r] = sample(std::span<const float>(data.data() + r * kCols, kCols), params[r],
                      streams[r], steps[r]);
  }
  // Shuffled batch with a padded stride, at several thread counts.
  std::vector<std::size_t> perm(kRows);
  std::iota(perm.begin(), perm.end(), 0);
  std::reverse(perm.begin(), perm.end());
  std::swap(perm[1], perm[5]);
  constexpr std::size_t kStride = kCols + 13;
  std::vector<float> shuffled(kRows * kStride, 0.0f);
  std::vector<SamplingParams> sp(kRows);
  std::vector<std::uint64_t> ss(kRows), st(kRows);
  for (std::size_t j = 0; j < kRows; ++j) {
    std::copy_n(data.begin() + perm[j] * kCols, kCols, shuffled.begin() + j * kStride);
    sp[j] = params[perm[j]];
    ss[j] = streams[perm[j]];
    st[j] = steps[perm[j]];
  }
  for (int threads : {1, 2, 3, 8}) {
    std::vector<SampleResult> out(kRows);
    sample(Rows<const float>{shuffled.data(), kRows, kCols, kStride}, sp, ss, st, out, threads);
    for (std::size_t j = 0; j < kRows; ++j) {
      EXPECT_EQ(out[j].token, alone[perm[j]].token) << "threads " << threads << " row " << j;
      EXPECT_EQ(out[j].logprob, alone[perm[j]].logprob);
    }
  }
  // Every SIMD target: same tokens and bitwise the same distribution.
  std::vector<std::vector<float>> dists(kRows, std::vector<float>(kCols));
  for (std::size_t r = 0; r < kRows; ++r) {
    sampling_distribution(std::span<const float>(data.data() + r * kCols, kCols), params[r],
                          dists[r]);
  }
  const auto targets = logitkit::targets().supported;
  for (const std::string& t : targets) {
    ASSERT_TRUE(force_target(t)) << t;
    for (std::size_t r = 0; r < kRows; ++r) {
      const std::span<const float> row(data.data() + r * kCols, kCols);
      const SampleResult got = sample(row, params[r], streams[r], steps[r]);
      EXPECT_EQ(got.token, alone[r].token) << t << " row " << r;
      EXPECT_EQ(got.logprob, alone[r].logprob) << t << " row " << r;
      std::vector<float> d(kCols);
      sampling_distribution(row, params[r], d);
      EXPECT_EQ(d, dists[r]) << t << " row " << r;
    }
  }
  reset_target();
  std::printf("targets compared: %zu\n", targets.size());
}

// Callers on their own threads (per-thread scratch) get the tokens a single caller gets.
TEST(SamplingTest, ConcurrentCallersMatchTheSequentialResults) {
  const auto x = ref::test_logits(32000, 55, 3.0, 3, 1000);
  const auto sets = param_sets();
  constexpr int kThreads = 4, kDraws = 30;
  std::vector<std::vector<std::int32_t>> want(kThreads), got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int d = 0; d < kDraws; ++d) {
      want[t].push_back(sample(x, sets[(t + d) % sets.size()], t, d).token);
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int d = 0; d < kDraws; ++d) {
        got[t].push_back(sample(x, sets[(t + d) % sets.size()], t, d).token);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace logitkit
