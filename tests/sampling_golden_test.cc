// SPDX-License-Identifier: Apache-2.0
// Golden token sequences per seed: the same on every OS, compiler, SIMD target and thread count.
// The inputs use only the library's Philox uniform and float arithmetic (no libm), so a change
// in any token means the sampler's semantics or its arithmetic changed.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/sampling.h"
#include "logitkit/targets.h"

namespace logitkit {
namespace {

// Logits in [-4, 4) from the uniform, a few spikes, and a flat run: no libm involved.
std::vector<float> golden_logits(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(8.0 * philox_uniform(seed, 0, i) - 4.0);
  }
  for (std::size_t s = 0; s < 4; ++s) x[(s * 104729 + 17) % n] = 7.0f + static_cast<float>(s) / 4;
  for (std::size_t f = 0; f < n / 8; ++f) x[(f * 31 + 5) % n] = 3.5f;
  return x;
}

struct Golden {
  const char* name;
  SamplingParams params;
  std::vector<std::int32_t> tokens;  // steps 0, 1, 2, ...
};

std::vector<Golden> goldens() {
  return {
      {"temperature 1", {.seed = 42},
       {13761, 32804, 49853, 3517, 5685, 35854, 48458, 48102, 30703, 3205, 32601, 27041, 7761, 36543, 23196, 42404}},
      {"tau 0.8 k40 p0.95 minp0.05",
       {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05, .seed = 43},
       {14204, 14204, 9475, 14204, 14204, 14204, 14204, 14204, 9475, 9475, 4746, 4746, 9475, 17, 17, 14204}},
      {"top-p 0.95", {.top_p = 0.95, .seed = 44},
       {35916, 15018, 32533, 4746, 43859, 25449, 27015, 26545, 1775, 22439, 41874, 19856, 40159, 32906, 36556, 47010}},
      {"min-p 0.05", {.min_p = 0.05, .seed = 45},
       {14204, 9475, 14204, 4746, 9475, 9475, 14204, 14204, 14204, 9475, 4746, 14204, 9475, 17, 4746, 14204}},
      {"tau 1.5 p0.9 minp1e-4",
       {.temperature = 1.5, .top_p = 0.9, .min_p = 1e-4, .seed = 46},
       {20108, 19380, 49961, 15073, 46358, 38322, 7950, 25643, 1612, 11316, 33569, 40407, 25533, 969, 29309, 5183}},
  };
}

TEST(SamplingGoldenTest, TokenSequencesPerSeed) {
  const auto x = golden_logits(50000, 2024);
  for (const std::string& target : targets().supported) {
    ASSERT_TRUE(force_target(target));
    for (const Golden& g : goldens()) {
      std::vector<float> probs(x.size());
      sampling_distribution(x, g.params, probs);
      std::vector<std::int32_t> got;
      for (std::size_t s = 0; s < 16; ++s) {
        const SampleResult r = sample(x, g.params, 9, s);
        ASSERT_GT(probs[r.token], 0.0f) << g.name;
        got.push_back(r.token);
      }
      EXPECT_EQ(got, g.tokens) << g.name << " on " << target;
      if (got != g.tokens) {
        for (auto t : got) std::printf("%d, ", t);
        std::printf("\n");
      }
    }
  }
  reset_target();
}

}  // namespace
}  // namespace logitkit
