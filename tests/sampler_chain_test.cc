// SPDX-License-Identifier: Apache-2.0
// SamplerChain conformance: llama.cpp's tests/test-sampling.cpp cases (every sampler, every
// chain order of its queue tests) and Hugging Face transformers'
// tests/generation/test_logits_process.py cases, with their expected values; chains against the
// fixed-order SamplingParams; errors; reproducibility across batches, threads and SIMD targets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/sampler_chain.h"
#include "logitkit/sampling.h"
#include "logitkit/targets.h"

namespace logitkit {
namespace {

std::vector<float> logs(const std::vector<float>& p) {
  std::vector<float> x;
  for (float v : p) x.push_back(std::log(v));
  return x;
}

std::vector<double> chain_dist(const SamplerChain& c, const std::vector<float>& x,
                               std::vector<std::int32_t> history = {},
                               std::uint64_t step = 0) {
  std::vector<float> probs(x.size());
  ChainContext ctx{.history = history};
  c.distribution(x, ctx, probs, 0, step);
  return std::vector<double>(probs.begin(), probs.end());
}

void expect_probs(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (want[i] == 0) {
      EXPECT_EQ(got[i], 0.0) << "token " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
    }
  }
}

// ---- llama.cpp tests/test-sampling.cpp: each case's input probabilities p give logits log p;
// the expected probabilities are listed by token id (the reference lists them in its array's
// order after the sampler).

TEST(ChainLlamaCpp, Temp) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(chain_dist(SamplerChain("temp=1"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
  expect_probs(chain_dist(SamplerChain("temp=0"), x), {0, 0, 0, 1}, 1e-5);
}

TEST(ChainLlamaCpp, TempExt) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(chain_dist(SamplerChain("dynatemp=1:0:1"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
  expect_probs(chain_dist(SamplerChain("dynatemp=0:0:1"), x), {0, 0, 0, 1}, 1e-5);
}

TEST(ChainLlamaCpp, TopK) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(chain_dist(SamplerChain("top_k=1"), x), {0, 0, 0, 1}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_k=3"), x), {0, 0.22222, 0.33333, 0.44444}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_k=4"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_k=0"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
}

TEST(ChainLlamaCpp, TopP) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(chain_dist(SamplerChain("top_p=0:0"), x), {0, 0, 0, 1}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_p=0.7:0"), x), {0, 0, 0.428571, 0.571429}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_p=0.8:0"), x), {0, 0.22222, 0.33333, 0.44444}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_p=1:0"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
}

TEST(ChainLlamaCpp, MinP) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  const std::vector<std::pair<double, std::vector<double>>> cases = {
      {0.00, {0.1, 0.2, 0.3, 0.4}},
      {0.24, {0.1, 0.2, 0.3, 0.4}},
      {0.26, {0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9}},
      {0.49, {0, 0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9}},
      {0.51, {0, 0, 0.3 / 0.7, 0.4 / 0.7}},
      {0.74, {0, 0, 0.3 / 0.7, 0.4 / 0.7}},
      {0.76, {0, 0, 0, 1}},
      {1.00, {0, 0, 0, 1}},
  };
  for (const auto& [p, want] : cases) {
    SCOPED_TRACE(p);
    SamplerChain c({{"min_p", {{"p", p}, {"min_keep", 0}}}});
    expect_probs(chain_dist(c, x), want, 1e-5);
  }
  // The reference also runs p = 1.05 (keeping the maximum); here min_p must lie in [0, 1].
  EXPECT_THROW(SamplerChain("min_p=1.05"), std::invalid_argument);
}

TEST(ChainLlamaCpp, Xtc) {
  // probability 0.99: the coin (below 0.99 for this seed/stream/step) removes every token above
  // the threshold but the least likely of them. The reference leaves the survivors'
  // probabilities as they were; the chain renormalises them (its distribution sums to 1).
  const auto x = logs({0.4f, 0.3f, 0.2f, 0.1f});
  ChainContext ctx{};
  std::vector<float> probs(4);
  auto run = [&](const char* spec, std::vector<double> want) {
    SCOPED_TRACE(spec);
    SamplerChain c(spec);
    c.distribution(x, ctx, probs);
    std::vector<double> got(probs.begin(), probs.end());
    const double s = std::accumulate(want.begin(), want.end(), 0.0);
    for (double& w : want) w /= s;
    expect_probs(got, want, 1e-5);
  };
  // XTC's coin: words 2 and 3 of the Philox block of (seed 0, stream 0, step 0).
  const auto w = philox4x32_10({0, 0, 0, 0}, {0, 0});
  const double coin =
      static_cast<double>((static_cast<std::uint64_t>(w[2]) << 32 | w[3]) >> 11) * 0x1p-53;
  ASSERT_LE(coin, 0.99) << "this seed's coin would skip the stage";
  run("xtc=0.99:0.09:0", {0, 0, 0, 0.1});
  run("xtc=0.99:0.19:0", {0, 0, 0.2, 0.1});
  run("xtc=0.99:0.29:0", {0, 0.3, 0.2, 0.1});
  run("xtc=0.99:0.39:0", {0.4, 0.3, 0.2, 0.1});  // only one token above: nothing removed
  // probability 0: never; threshold above 0.5: off.
  run("xtc=0:0.09:0", {0.4, 0.3, 0.2, 0.1});
  run("xtc=1:0.6:0", {0.4, 0.3, 0.2, 0.1});
}

TEST(ChainLlamaCpp, XtcCoinFollowsProbability) {
  // The stage applies on a fraction `probability` of the steps.
  const auto x = logs({0.4f, 0.3f, 0.2f, 0.1f});
  SamplerChain c("xtc=0.3:0.09:0");
  std::vector<float> probs(4);
  int applied = 0;
  const int steps = 4000;
  for (int s = 0; s < steps; ++s) {
    c.distribution(x, {}, probs, 0, static_cast<std::uint64_t>(s));
    applied += probs[0] == 0.0f;
  }
  const double sd = std::sqrt(0.3 * 0.7 * steps);
  EXPECT_NEAR(applied, 0.3 * steps, 5 * sd);
}

TEST(ChainLlamaCpp, Typical) {
  expect_probs(chain_dist(SamplerChain("typical=0.5:0"), logs({0.97f, 0.01f, 0.01f, 0.01f})),
               {1, 0, 0, 0}, 1e-5);
  expect_probs(chain_dist(SamplerChain("typical=0.5:0"), logs({0.4f, 0.2f, 0.2f, 0.2f})),
               {0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-5);
}

TEST(ChainLlamaCpp, Penalties) {
  const auto x = logs({0.2f, 0.2f, 0.2f, 0.2f, 0.2f});
  auto pen = [&](std::vector<std::int32_t> hist, double repeat, double freq, double present,
                 std::vector<double> want) {
    SamplerChain c({{"penalties",
                     {{"last_n", static_cast<double>(hist.size())}, {"repeat", repeat},
                      {"frequency", freq}, {"presence", present}}}});
    const auto got = chain_dist(c, x, hist);
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  };
  pen({0}, 1, 5, 5, {0.000011, 0.249997, 0.249997, 0.249997, 0.249997});
  pen({0, 1, 2}, 1, 5, 5, {0.000023, 0.000023, 0.000023, 0.499966, 0.499966});
  pen({0, 1, 2, 0, 0}, 1, 5, 5, {0.000000, 0.000023, 0.000023, 0.499977, 0.499977});
}

TEST(ChainLlamaCpp, PenaltiesRepeatFifty) {
  // The first three cases of the reference with repeat 50: a repeated token's logit
  // log 0.2 * 50 ~ -80 leaves a probability below 1e-30 (the reference lists 0).
  const auto x = logs({0.2f, 0.2f, 0.2f, 0.2f, 0.2f});
  SamplerChain c("penalties=-1:50:0:0");
  const auto a = chain_dist(c, x, {0});
  EXPECT_LT(a[0], 1e-30);
  for (int i = 1; i < 5; ++i) EXPECT_NEAR(a[i], 0.25, 1e-6);
  const auto b = chain_dist(c, x, {0, 1, 2, 0, 0});
  for (int i = 0; i < 3; ++i) EXPECT_LT(b[i], 1e-30);
  EXPECT_NEAR(b[3], 0.5, 1e-6);
  EXPECT_NEAR(b[4], 0.5, 1e-6);
}

TEST(ChainLlamaCpp, Dry) {
  auto dry = [](std::vector<float> p, std::vector<std::int32_t> hist, std::vector<double> want,
                double mult, double base, int allowed, int last_n,
                std::vector<std::vector<std::int32_t>> breakers) {
    ChainStage st{"dry",
                  {{"multiplier", mult},
                   {"base", base},
                   {"allowed_length", static_cast<double>(allowed)},
                   {"last_n", static_cast<double>(last_n)}},
                  breakers};
    SamplerChain c({st});
    expect_probs(chain_dist(c, logs(p), hist), want, 1e-5);
  };
  dry({0.25f, 0.25f, 0.25f, 0.25f}, {0, 1}, {0.25, 0.25, 0.25, 0.25}, 1.0, 1.1, 2, 4, {});
  dry({0.25f, 0.25f, 0.25f, 0.25f}, {0, 1, 2, 0, 1}, {0.296923, 0.296923, 0.109232, 0.296923},
      1.0, 1.1, 2, 5, {});
  dry({0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, {0, 1, 3, 4, 0, 1}, {0.2, 0.2, 0.2, 0.2, 0.2}, 1.0, 1.1, 2,
      6, {{3}});
  dry({0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, {0, 1, 2, 0, 1},
      {0.241818, 0.241818, 0.032727, 0.241818, 0.241818}, 2.0, 1.1, 2, 5, {});
  dry({0.2f, 0.2f, 0.2f, 0.2f, 0.2f}, {0, 1, 2, 3, 4, 0, 1}, {0.2, 0.2, 0.2, 0.2, 0.2}, 1.0, 1.1,
      4, 7, {});
}

TEST(ChainLlamaCpp, TopNSigma) {
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(chain_dist(SamplerChain("top_n_sigma=1"), x), {0, 0, 0.428571, 0.571429}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_n_sigma=0"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
  expect_probs(chain_dist(SamplerChain("top_n_sigma=3"), x), {0.1, 0.2, 0.3, 0.4}, 1e-5);
}

// test_sampler_queue: logits log(i) over 10000 tokens (token 0 is -inf), stages k, p and m in
// every order, checking the survivors' count and their first and last token after each stage.
// The reference keeps token 0 (probability 0) in its array until a stage cuts it; the chain
// drops it before the first stage, so the reference's array size is the chain's survivors plus
// one while token 0 would still be there.
void sampler_queue(std::size_t n_vocab, const std::string& seq, int top_k, float top_p,
                   float min_p) {
  SCOPED_TRACE(seq + " k=" + std::to_string(top_k) + " p=" + std::to_string(top_p) +
               " m=" + std::to_string(min_p));
  std::vector<float> x(n_vocab);
  for (std::size_t i = 0; i < n_vocab; ++i) x[i] = std::log(static_cast<float>(i));
  std::int32_t min_token_id = 0;
  const std::int32_t max_token_id = static_cast<std::int32_t>(n_vocab) - 1;
  std::vector<ChainStage> stages;
  bool has_zero = true;
  for (char s : seq) {
    if (s == 'k') stages.push_back({"top_k", {{"k", static_cast<double>(top_k)}}});
    if (s == 'p') stages.push_back({"top_p", {{"p", top_p}, {"min_keep", 1}}});
    if (s == 'm') stages.push_back({"min_p", {{"p", min_p}, {"min_keep", 1}}});
    SamplerChain c(stages);
    std::vector<float> probs(n_vocab);
    c.distribution(x, {}, probs);
    std::vector<std::int32_t> kept;
    for (std::size_t i = 0; i < n_vocab; ++i) {
      if (probs[i] > 0) kept.push_back(static_cast<std::int32_t>(i));
    }
    if (s == 'k') has_zero = has_zero && static_cast<std::size_t>(top_k) >= n_vocab;
    if (s == 'm') has_zero = false;  // min_p's logit test drops -inf
    int expected_size = 0;
    if (s == 'p') {
      const int softmax_divisor = static_cast<int>(n_vocab * (n_vocab - 1) / 2 -
                                                   min_token_id * (min_token_id - 1) / 2);
      const int target = static_cast<int>(std::ceil(top_p * softmax_divisor));
      min_token_id = static_cast<std::int32_t>(n_vocab);
      int cumsum = 0;
      do {
        min_token_id--;
        expected_size++;
        cumsum += min_token_id;
      } while (cumsum < target);
      if (min_token_id == 1) {
        min_token_id--;
        expected_size += 1;
      }
      has_zero = has_zero && min_token_id == 0;
    }
    const int size = static_cast<int>(kept.size()) + (has_zero ? 1 : 0);
    if (s == 'k') {
      expected_size = std::min(size, top_k);
      min_token_id = std::max(min_token_id, static_cast<std::int32_t>(n_vocab - top_k));
    } else if (s == 'm') {
      expected_size = static_cast<int>(std::ceil((1.0f - min_p) * n_vocab));
      expected_size = std::max(expected_size, 1);
      expected_size = std::min(expected_size, size);
      min_token_id = static_cast<std::int32_t>(std::floor(min_p * n_vocab));
      min_token_id = std::max(min_token_id, 1);
      min_token_id = std::max(min_token_id, static_cast<std::int32_t>(n_vocab - size));
      min_token_id = std::min(min_token_id, static_cast<std::int32_t>(n_vocab - 1));
    }
    ASSERT_EQ(size, expected_size) << "after stage " << s;
    EXPECT_EQ(kept.back(), max_token_id);
    EXPECT_EQ(kept.front(), std::max(min_token_id, 1));
  }
}

TEST(ChainLlamaCpp, SamplerQueue) {
  sampler_queue(10000, "k", 10000, 1.0f, 1.0f);
  sampler_queue(10000, "k", 1, 1.0f, 1.0f);
  sampler_queue(10000, "p", 10000, 1.0f, 1.0f);
  sampler_queue(10000, "p", 10000, 0.0f, 1.0f);
  sampler_queue(10000, "m", 10000, 1.0f, 1.0f);
  sampler_queue(10000, "m", 10000, 1.0f, 1e-12f);
  sampler_queue(10000, "k", 100, 1.0000f, 1.0f);
  sampler_queue(10000, "p", 10000, 0.0003f, 1.0f);
  sampler_queue(10000, "p", 10000, 0.8000f, 1.0f);
  sampler_queue(10000, "m", 10000, 1.0000f, 9997.9f / 9999.0f);
  sampler_queue(10000, "m", 10000, 1.0000f, 0.1f);
  for (const char* seq : {"kp", "km", "pk", "pm", "mk", "mp", "kpm", "kmp", "pkm", "pmk", "mkp",
                          "mpk"}) {
    sampler_queue(10000, seq, 100, 0.8f, 0.1f);
  }
  sampler_queue(10000, "mp", 100, 0.8f, 9997.9f / 9999.0f);
}

// ---- Hugging Face tests/generation/test_logits_process.py.

TEST(ChainHuggingFace, TopKMinTokensToKeep) {
  // ramp 0..9: top-3 keeps tokens 7, 8, 9; the second row adds 10 to tokens 0..4.
  std::vector<float> ramp(10), ramp2(10);
  for (int i = 0; i < 10; ++i) ramp[i] = ramp2[i] = static_cast<float>(i);
  for (int i = 0; i < 5; ++i) ramp2[i] += 10;
  auto kept = [](const std::vector<double>& p) {
    std::vector<bool> v;
    for (double q : p) v.push_back(q > 0);
    return v;
  };
  SamplerChain k3("top_k=3");
  EXPECT_EQ(kept(chain_dist(k3, ramp)),
            (std::vector<bool>{0, 0, 0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(kept(chain_dist(k3, ramp2)),
            (std::vector<bool>{0, 0, 1, 1, 1, 0, 0, 0, 0, 0}));
  // top_k=1 with min_tokens_to_keep=3 keeps 3. On uniform logits the reference keeps every
  // token tied with the third; the chain keeps exactly k, the lowest indices among ties
  // (docs/sampling.md, differences).
  SamplerChain k1("top_k=1:3");
  const auto u = chain_dist(k1, std::vector<float>(5, 0.2f));
  EXPECT_EQ(std::count(u.begin(), u.end(), 0.0), 2);
  EXPECT_GT(u[0] * u[1] * u[2], 0.0);
  const auto r = chain_dist(k1, {0, 1, 2, 3, 4});
  EXPECT_EQ(std::count(r.begin(), r.end(), 0.0), 2);
}

TEST(ChainHuggingFace, TopP) {
  SamplerChain c("top_p=0.8");
  expect_probs(chain_dist(c, logs({0.3f, 0.1f, 0.1f, 0.5f})), {0.3 / 0.8, 0, 0, 0.5 / 0.8}, 1e-3);
  expect_probs(chain_dist(c, logs({0.15f, 0.3f, 0.3f, 0.25f})),
               {0, 0.3 / 0.85, 0.3 / 0.85, 0.25 / 0.85}, 1e-3);
  std::vector<float> ramp(10), extreme(10);
  for (int i = 0; i < 10; ++i) {
    ramp[i] = static_cast<float>(i - 5);
    extreme[i] = ramp[i] * 100;
  }
  SamplerChain c2("top_p=0.9:2");
  auto count = [](const std::vector<double>& p) {
    return std::count_if(p.begin(), p.end(), [](double q) { return q > 0; });
  };
  EXPECT_EQ(count(chain_dist(c2, ramp)), 3);
  EXPECT_EQ(count(chain_dist(c2, extreme)), 2);
}

TEST(ChainHuggingFace, Typical) {
  SamplerChain c("typical=0.5");
  expect_probs(chain_dist(c, logs({0.97f, 0.01f, 0.01f, 0.01f})), {1, 0, 0, 0}, 1e-3);
  expect_probs(chain_dist(c, logs({0.4f, 0.2f, 0.2f, 0.2f})), {0, 1.0 / 3, 1.0 / 3, 1.0 / 3},
               1e-3);
  // min_tokens_to_keep 3 on uniform logits: nothing removed.
  const auto u = chain_dist(SamplerChain("typical=0.5:3"), std::vector<float>(5, 0.2f));
  EXPECT_EQ(std::count(u.begin(), u.end(), 0.0), 0);
  std::vector<float> ramp(10), extreme(10);
  for (int i = 0; i < 10; ++i) {
    ramp[i] = static_cast<float>(i - 5);
    extreme[i] = ramp[i] * 100;
  }
  SamplerChain c2("typical=0.7:2");
  auto count = [](const std::vector<double>& p) {
    return std::count_if(p.begin(), p.end(), [](double q) { return q > 0; });
  };
  EXPECT_EQ(count(chain_dist(c2, ramp)), 2);
  EXPECT_EQ(count(chain_dist(c2, extreme)), 2);
}

TEST(ChainHuggingFace, Epsilon) {
  SamplerChain c("epsilon=0.1");
  expect_probs(chain_dist(c, logs({0.87f, 0.099f, 0.001f, 0.03f})), {1, 0, 0, 0}, 1e-3);
  expect_probs(chain_dist(c, logs({0.4f, 0.299f, 0.101f, 0.2f})), {0.4, 0.299, 0.101, 0.2}, 1e-3);
  std::vector<float> ramp(10), extreme(10);
  for (int i = 0; i < 10; ++i) {
    ramp[i] = static_cast<float>(i - 5);
    extreme[i] = ramp[i] * 100;
  }
  SamplerChain c2("epsilon=0.05:2");
  auto count = [](const std::vector<double>& p) {
    return std::count_if(p.begin(), p.end(), [](double q) { return q > 0; });
  };
  EXPECT_EQ(count(chain_dist(c2, ramp)), 3);
  EXPECT_EQ(count(chain_dist(c2, extreme)), 2);
}

TEST(ChainHuggingFace, Eta) {
  SamplerChain c("eta=0.0625");
  // Row 1 holds a zero probability (logit -inf): it stays 0.
  expect_probs(chain_dist(c, logs({0.0f, 0.1f, 0.8f, 0.1f})), {0, 0.1, 0.8, 0.1}, 1e-3);
  expect_probs(chain_dist(c, logs({0.01f, 0.04f, 0.9f, 0.05f})), {0, 0, 1, 0}, 1e-3);
  std::vector<float> ramp(10), extreme(10);
  for (int i = 0; i < 10; ++i) {
    ramp[i] = static_cast<float>(i - 5);
    extreme[i] = ramp[i] * 100;
  }
  SamplerChain c2("eta=0.1:2");
  auto count = [](const std::vector<double>& p) {
    return std::count_if(p.begin(), p.end(), [](double q) { return q > 0; });
  };
  EXPECT_EQ(count(chain_dist(c2, ramp)), 2);
  EXPECT_EQ(count(chain_dist(c2, extreme)), 2);
}

TEST(ChainHuggingFace, MinP) {
  SamplerChain c("min_p=0.05");
  expect_probs(chain_dist(c, logs({0.9f, 0.0274f, 0.047f, 0.0274f})),
               {0.9 / 0.947, 0, 0.047 / 0.947, 0}, 1e-3);
  expect_probs(chain_dist(c, logs({0.15f, 0.3f, 0.3f, 0.25f})), {0.15, 0.3, 0.3, 0.25}, 1e-3);
  expect_probs(chain_dist(c, logs({0.97f, 0.01f, 0.01f, 0.01f})), {1, 0, 0, 0}, 1e-3);
  std::vector<float> ramp(10), extreme(10);
  for (int i = 0; i < 10; ++i) {
    ramp[i] = static_cast<float>(i - 5);
    extreme[i] = ramp[i] * 100;
  }
  SamplerChain c2("min_p=0.9:2");
  auto count = [](const std::vector<double>& p) {
    return std::count_if(p.begin(), p.end(), [](double q) { return q > 0; });
  };
  EXPECT_EQ(count(chain_dist(c2, ramp)), 2);
  EXPECT_EQ(count(chain_dist(c2, extreme)), 2);
}

TEST(ChainHuggingFace, RepetitionPenalty) {
  // Uniform logits 1/V, V = 10; row 0 history {0, 1} with scores[0] = -1/V; row 1 history {5, 0}
  // with scores[5] = 4/V; penalty 2: negative logits are multiplied, positive ones divided.
  const float v = 0.1f;
  std::vector<float> a(10, v), b(10, v);
  a[0] = -v;
  b[5] = 4 * v;
  SamplerChain c("penalties=-1:2:0:0");
  auto logits_after = [&](const std::vector<float>& x, std::vector<std::int32_t> h) {
    // The chain's distribution gives the logits up to a constant: log p_i - log p_j.
    const auto p = chain_dist(c, x, h);
    return p;
  };
  const auto pa = logits_after(a, {0, 1});
  EXPECT_NEAR(std::log(pa[0] / pa[2]), -v * 2 - v, 1e-6);
  EXPECT_NEAR(std::log(pa[1] / pa[2]), v / 2 - v, 1e-6);
  const auto pb = logits_after(b, {5, 0});
  EXPECT_NEAR(std::log(pb[0] / pb[2]), v / 2 - v, 1e-6);
  EXPECT_NEAR(std::log(pb[5] / pb[2]), 4 * v / 2 - v, 1e-6);
}

// ---- Chains and SamplingParams.

TEST(ChainTest, MatchesSamplingParamsInTheDefaultOrder) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(5000);
  for (float& v : x) v = nd(rng);
  struct Case {
    const char* spec;
    SamplingParams p;
  };
  const std::vector<Case> cases = {
      {"temp=0.8,top_k=40,top_p=0.95,min_p=0.05",
       {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05}},
      {"temp=1.3,top_p=0.9", {.temperature = 1.3, .top_p = 0.9}},
      {"temp=0.7,min_p=0.01", {.temperature = 0.7, .min_p = 0.01}},
      {"temp=1", {}},
      {"temp=0", {.temperature = 0.0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    std::vector<float> want(x.size()), got(x.size());
    sampling_distribution(x, c.p, want);
    SamplerChain(c.spec).distribution(x, {}, got);
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(want[i] == 0, got[i] == 0) << "token " << i;
      ASSERT_NEAR(got[i], want[i], 2e-6 + 1e-5 * want[i]) << "token " << i;
    }
  }
}

// temp -> top_k -> top_p -> min_p in long double (64-bit mantissa), by sorting the row.
std::vector<long double> long_double_chain(const std::vector<float>& x, long double tau,
                                           std::size_t k, long double top_p, long double min_p) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return x[a] > x[b];
  });
  if (k > 0 && k < order.size()) order.resize(k);
  const long double m = x[order[0]];
  auto w = [&](std::size_t i) { return std::exp((x[i] - m) / tau); };
  long double total = 0;
  for (std::size_t i : order) total += w(i);
  if (top_p < 1) {
    long double cum = 0;
    std::size_t j = 0;
    while (j < order.size()) {
      cum += w(order[j++]) / total;
      if (cum >= top_p - 1e-6L) break;
    }
    order.resize(j);
  }
  if (min_p > 0) {
    std::erase_if(order, [&](std::size_t i) { return (x[i] - m) / tau < std::log(min_p); });
  }
  total = 0;
  for (std::size_t i : order) total += w(i);
  std::vector<long double> p(x.size(), 0.0L);
  for (std::size_t i : order) p[i] = w(i) / total;
  return p;
}

TEST(ChainTest, ProbabilitiesWithinOneFloatUlpOfLongDouble) {
  std::mt19937 rng(21);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  struct Case {
    const char* spec;
    long double tau;
    std::size_t k;
    long double p, mp;
  };
  const Case cases[] = {{"temp=0.8,top_k=200,top_p=0.95,min_p=0.001", 0.8L, 200, 0.95L, 0.001L},
                        {"temp=1.3,top_k=100", 1.3L, 100, 1, 0},
                        {"temp=0.7", 0.7L, 0, 1, 0},
                        {"temp=2,top_p=0.5", 2.0L, 0, 0.5L, 0}};
  double worst = 0;
  for (int row = 0; row < 4; ++row) {
    std::vector<float> x(5000);
    for (float& v : x) v = nd(rng);
    for (const Case& c : cases) {
      SCOPED_TRACE(c.spec);
      const auto want = long_double_chain(x, c.tau, c.k, c.p, c.mp);
      std::vector<float> got(x.size());
      SamplerChain(c.spec).distribution(x, {}, got);
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(got[i] == 0, want[i] == 0) << "token " << i;
        if (want[i] == 0) continue;
        const float w = static_cast<float>(want[i]);
        const double ulp = std::nextafter(w, INFINITY) - w;
        const double err = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
        worst = std::max(worst, err / ulp);
      }
    }
  }
  std::printf("worst error: %.3f float ULP\n", worst);
  EXPECT_LE(worst, 1.0);
}

TEST(ChainTest, TemperatureAnywhere) {
  // temp before top_p tempers the mass top_p sees; after it, top_p sees the raw softmax.
  const auto x = logs({0.1f, 0.2f, 0.3f, 0.4f});
  const auto first = chain_dist(SamplerChain("temp=0.25,top_p=0.7"), x);
  const auto last = chain_dist(SamplerChain("top_p=0.7,temp=0.25"), x);
  // tempered: p ~ x^4: 0.4^4 / sum = 0.656 < 0.7, so top_p keeps two tokens either way here,
  // but the kept weights differ from the untempered ones only by the temperature.
  EXPECT_EQ(first[0], 0.0);
  EXPECT_EQ(last[0], 0.0);
  const auto raw = chain_dist(SamplerChain("top_p=0.7"), x);
  EXPECT_NEAR(raw[3] / raw[2], 4.0 / 3.0, 1e-6);
  EXPECT_NEAR(last[3] / last[2], std::pow(4.0 / 3.0, 4), 1e-5);
  // With a larger p the order decides the kept set: raw mass 0.4 + 0.3 + 0.2 = 0.9 reaches 0.85
  // with three tokens; tempered (0.656, 0.207, 0.041...) reaches it with two.
  const auto a = chain_dist(SamplerChain("temp=0.25,top_p=0.85"), x);
  const auto b = chain_dist(SamplerChain("top_p=0.85,temp=0.25"), x);
  EXPECT_EQ(a[1], 0.0);
  EXPECT_GT(b[1], 0.0);
}

TEST(ChainTest, SpecRoundTripsAndDefaults) {
  SamplerChain c("penalties,dry,top_k=40,typical=0.95,top_p=0.95,min_p=0.05,xtc=0.1:0.5,temp=0.8");
  EXPECT_EQ(c.stages().size(), 8u);
  EXPECT_EQ(c.spec(),
            "penalties=64:1:0:0,dry=0:1.75:2:-1,top_k=40:1,typical=0.95:1,top_p=0.95:1,"
            "min_p=0.05:1,xtc=0.1:0.5:1,temp=0.8");
  EXPECT_EQ(SamplerChain(c.spec()).spec(), c.spec());
  EXPECT_FALSE(c.has_mirostat());
  SamplerChain m("top_k=40,mirostat_v2=4:0.2");
  EXPECT_TRUE(m.has_mirostat());
  EXPECT_EQ(m.initial_mu(), 8.0);
}

std::string error_of(const std::string& spec) {
  try {
    SamplerChain c(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(ChainTest, BadSpecsNameTheStageAndValue) {
  EXPECT_NE(error_of("top_k=40,topp=0.9").find("unknown stage \"topp\" at position 2"),
            std::string::npos);
  EXPECT_NE(error_of("top_p=1.5").find("stage 1 (top_p): p must be in [0, 1], got 1.5"),
            std::string::npos)
      << error_of("top_p=1.5");
  EXPECT_NE(error_of("top_k=4.5").find("k must be an integer, got 4.5"), std::string::npos);
  EXPECT_NE(error_of("temp=-1").find("stage 1 (temp): t must be >= 0"), std::string::npos);
  EXPECT_NE(error_of("top_k=abc").find("\"abc\" in \"top_k=abc\" is not a number"),
            std::string::npos);
  EXPECT_NE(error_of("top_k=40,top_k=20").find("stage 2 (top_k) repeats stage 1"),
            std::string::npos);
  EXPECT_EQ(error_of("temp=0.5,top_k=40,temp=2"), "");  // temp may repeat
  EXPECT_NE(error_of("mirostat,temp=0.8").find("must be the last stage"), std::string::npos);
  EXPECT_NE(error_of("xtc=0.1:0.2:1:4").find("has more than 3 values"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("top_k=40,,temp=1").find("stage 2"), std::string::npos);
  EXPECT_NE(error_of("penalties=64:0").find("repeat must be > 0"), std::string::npos);
  EXPECT_NE(error_of("dry=0.8:0.5").find("base must be >= 1"), std::string::npos);
  try {
    SamplerChain({{"top_p", {{"q", 0.5}}}});
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown parameter \"q\""), std::string::npos);
  }
}

TEST(ChainTest, BadInputsNameTheArgument) {
  SamplerChain c("penalties=64:1.1,top_k=3");
  std::vector<float> x(10, 0.0f);
  std::vector<std::int32_t> hist = {1, 10};
  auto msg = [&](const ChainContext& ctx) {
    try {
      c.sample(x, ctx, 0, 0);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({.history = hist}).find("history[1] (10) is outside [0, 10)"), std::string::npos);
  std::vector<TokenBias> bias = {{-1, 1.0f}};
  EXPECT_NE(msg({.logit_bias = bias}).find("logit_bias[0].token (-1) is outside"),
            std::string::npos);
  x[3] = std::nanf("");
  EXPECT_NE(msg({}).find("logits[3] is NaN"), std::string::npos);
  std::fill(x.begin(), x.end(), -INFINITY);
  EXPECT_NE(msg({}).find("every logit is -inf"), std::string::npos);
  ChainStage dry{"dry", {{"multiplier", 1.0}}, {{2, 12}}};
  SamplerChain d({dry});
  std::vector<float> y(10, 0.0f);
  EXPECT_THROW(d.sample(y, {}, 0, 0), std::invalid_argument);
  try {
    d.sample(y, {}, 0, 0);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sequence_breakers[0][1] (12)"), std::string::npos)
        << e.what();
  }
}

TEST(ChainTest, MirostatStateIsCarriedByTheCaller) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> x(2000);
  for (float& v : x) v = nd(rng);
  for (const char* spec : {"mirostat=3:0.1:100", "mirostat_v2=3:0.1"}) {
    SCOPED_TRACE(spec);
    SamplerChain c(spec);
    MirostatState st;
    std::vector<std::int32_t> toks;
    double surprise = 0;
    const int steps = 400;
    for (int s = 0; s < steps; ++s) {
      const double mu_before = std::isnan(st.mu) ? c.initial_mu() : st.mu;
      const SampleResult r = c.sample(x, {}, 0, static_cast<std::uint64_t>(s), &st);
      // mu moves by eta * (observed surprise - tau) (the surprise under the truncated set).
      EXPECT_NEAR(st.mu, mu_before - 0.1 * (-r.logprob / std::log(2.0) - 3.0), 1e-4);
      if (s >= steps / 2) surprise += -r.logprob / std::log(2.0);
      toks.push_back(r.token);
    }
    // The controller holds the average surprise near tau.
    EXPECT_NEAR(surprise / (steps / 2), 3.0, 0.6);
    // Replaying from the same state gives the same tokens.
    MirostatState again;
    for (int s = 0; s < 20; ++s) {
      EXPECT_EQ(c.sample(x, {}, 0, static_cast<std::uint64_t>(s), &again).token, toks[s]);
    }
  }
}

// ---- Reproducibility: batch, threads, SIMD targets, default streams.

TEST(ChainTest, SameTokensAcrossBatchThreadsAndTargets) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 2.5f);
  const std::size_t V = 9000, R = 7;
  std::vector<float> x(V * R);
  for (float& v : x) v = nd(rng);
  std::vector<std::vector<std::int32_t>> hist(R);
  for (std::size_t r = 0; r < R; ++r) {
    for (int j = 0; j < 30; ++j) hist[r].push_back(static_cast<std::int32_t>(rng() % 50));
  }
  const std::vector<std::string> specs = {
      "penalties=64:1.1:0.1:0.1,dry=0.8:1.75:2:-1,top_k=40,typical=0.95,top_p=0.95,min_p=0.05,"
      "xtc=0.5:0.1,temp=0.8",
      "temp=0.7,top_p=0.9", "top_n_sigma=1.5,temp=1.2", "min_p=0.02,epsilon=0.001,eta=0.003",
      "dynatemp=0.9:0.5:1,top_k=100", "top_k=80,mirostat=5:0.1:100", "mirostat_v2=5:0.1"};
  std::vector<SamplerChain> chains;
  for (const auto& s : specs) chains.emplace_back(s);
  std::vector<ChainContext> ctx(R);
  for (std::size_t r = 0; r < R; ++r) ctx[r] = {.history = hist[r], .seed = 42};
  const std::vector<std::uint64_t> steps = {3};
  std::vector<SampleResult> want(R);
  for (std::size_t r = 0; r < R; ++r) {
    MirostatState st{4.0};
    want[r] = chains[r].sample(std::span<const float>(x.data() + r * V, V), ctx[r], r, 3, &st);
  }
  auto check = [&](const char* what, int threads) {
    SCOPED_TRACE(std::string(what) + " threads " + std::to_string(threads));
    std::vector<SampleResult> out(R);
    std::vector<MirostatState> states(R, MirostatState{4.0});
    sample_chain(Rows<const float>{x.data(), R, V, V}, chains, ctx, {}, steps, out, states,
                 threads);
    for (std::size_t r = 0; r < R; ++r) {
      EXPECT_EQ(out[r].token, want[r].token) << "row " << r;
      EXPECT_EQ(out[r].logprob, want[r].logprob) << "row " << r;
    }
  };
  for (int t : {1, 2, 3, 8}) check("batch", t);
  // Reversed batch order, explicit streams.
  {
    std::vector<float> xr(V * R);
    std::vector<SamplerChain> cr;
    std::vector<ChainContext> ctxr;
    std::vector<std::uint64_t> sr;
    for (std::size_t r = 0; r < R; ++r) {
      const std::size_t o = R - 1 - r;
      std::copy(x.begin() + o * V, x.begin() + (o + 1) * V, xr.begin() + r * V);
      cr.push_back(chains[o]);
      ctxr.push_back(ctx[o]);
      sr.push_back(o);
    }
    std::vector<SampleResult> out(R);
    std::vector<MirostatState> states(R, MirostatState{4.0});
    sample_chain(Rows<const float>{xr.data(), R, V, V}, cr, ctxr, sr, steps, out, states, 2);
    for (std::size_t r = 0; r < R; ++r) EXPECT_EQ(out[r].token, want[R - 1 - r].token);
  }
  for (const std::string& t : targets().supported) {
    ASSERT_TRUE(force_target(t));
    check(t.c_str(), 2);
  }
  reset_target();
}

TEST(ChainTest, IdenticalRowsDrawFromTheirOwnStreams) {
  const std::size_t V = 1000, R = 16;
  std::vector<float> x(V * R, 0.0f);  // uniform rows
  SamplerChain c("temp=1");
  std::vector<SampleResult> out(R);
  const std::vector<std::uint64_t> step = {0};
  const std::vector<ChainContext> ctx(1);
  sample_chain(Rows<const float>{x.data(), R, V, V}, std::span<const SamplerChain>(&c, 1), ctx, {},
               step, out);
  int distinct = 0;
  for (std::size_t r = 0; r < R; ++r) {
    distinct += std::none_of(out.begin(), out.begin() + static_cast<long>(r),
                             [&](const SampleResult& o) { return o.token == out[r].token; });
    EXPECT_EQ(out[r].token,
              c.sample(std::span<const float>(x.data() + r * V, V), {}, r, 0).token);
  }
  EXPECT_GE(distinct, 12);
}

TEST(ChainTest, SamplingParamsBatchDefaultsToRowStreams) {
  // The fixed-order batch form: no streams given, row r draws from stream r; per-row params
  // carry per-row histories.
  const std::size_t V = 1000, R = 16;
  std::vector<float> x(V * R, 0.0f);
  std::vector<std::vector<std::int32_t>> hist(R);
  std::vector<SamplingParams> params(R);
  for (std::size_t r = 0; r < R; ++r) {
    hist[r] = {static_cast<std::int32_t>(r)};
    params[r] = {.presence_penalty = 50.0, .history = hist[r], .seed = 9};
  }
  std::vector<SampleResult> out(R);
  const std::vector<std::uint64_t> step = {4};
  sample(Rows<const float>{x.data(), R, V, V}, params, {}, step, out);
  int distinct = 0;
  for (std::size_t r = 0; r < R; ++r) {
    distinct += std::none_of(out.begin(), out.begin() + static_cast<long>(r),
                             [&](const SampleResult& o) { return o.token == out[r].token; });
    EXPECT_EQ(out[r].token,
              sample(std::span<const float>(x.data() + r * V, V), params[r], r, 4).token);
    EXPECT_NE(out[r].token, static_cast<std::int32_t>(r));  // its own history's penalty
  }
  EXPECT_GE(distinct, 12);
}

TEST(ChainTest, InfiniteLogitsAreTheLimit) {
  // +inf logits: only they remain, with equal weight; a penalty that overflows float to +inf
  // (presence -1e300 on a repeated token) acts the same.
  std::vector<float> x = {1.0f, INFINITY, 0.5f, INFINITY, -INFINITY};
  expect_probs(chain_dist(SamplerChain("top_k=3,temp=0.5"), x), {0, 0.5, 0, 0.5, 0}, 1e-12);
  expect_probs(chain_dist(SamplerChain("typical=0.9"), x), {0, 0.5, 0, 0.5, 0}, 1e-12);
  std::vector<float> y = {1.0f, 2.0f, 0.5f};
  expect_probs(chain_dist(SamplerChain("penalties=-1:1:0:-1e300,top_k=2"), y, {2}), {0, 0, 1},
               1e-12);
  expect_probs(chain_dist(SamplerChain("penalties=-1:1:0:-1e300"), y, {2}), {0, 0, 1}, 1e-12);
}

TEST(ChainTest, BatchSizesAreChecked) {
  const std::size_t V = 10, R = 3;
  std::vector<float> x(V * R, 0.0f);
  SamplerChain c("temp=1");
  std::vector<SampleResult> out(2);
  const std::vector<std::uint64_t> step = {0};
  const std::vector<ChainContext> ctx(1);
  try {
    sample_chain(Rows<const float>{x.data(), R, V, V}, std::span<const SamplerChain>(&c, 1), ctx,
                 {}, step, out);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("out.size() is 2 but logits has 3 rows"),
              std::string::npos)
        << e.what();
  }
  std::vector<SampleResult> out3(R);
  const std::vector<std::uint64_t> streams = {1, 2};
  EXPECT_THROW(sample_chain(Rows<const float>{x.data(), R, V, V},
                            std::span<const SamplerChain>(&c, 1), ctx, streams, step, out3),
               std::invalid_argument);
}

TEST(ChainTest, BatchErrorsNameTheRow) {
  const std::size_t V = 10, R = 3;
  std::vector<float> x(V * R, 0.0f);
  x[2 * V + 4] = std::nanf("");
  SamplerChain c("temp=1");
  std::vector<SampleResult> out(R);
  const std::vector<std::uint64_t> step = {0};
  const std::vector<ChainContext> ctx(1);
  try {
    sample_chain(Rows<const float>{x.data(), R, V, V}, std::span<const SamplerChain>(&c, 1), ctx,
                 {}, step, out);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 2: logits[4] is NaN"), std::string::npos);
  }
}

}  // namespace
}  // namespace logitkit
