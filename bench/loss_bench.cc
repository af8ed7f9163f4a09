// SPDX-License-Identifier: Apache-2.0
// Cross-entropy and distillation forward+backward, 1 thread, ns per logit (counters "ns/elem").
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "logitkit/loss.h"

namespace {

using logitkit::Precision;

std::vector<float> random_logits(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  return x;
}

void set_counters(benchmark::State& state, std::size_t elems) {
  state.counters["ns/elem"] = benchmark::Counter(
      static_cast<double>(elems), benchmark::Counter::kIsIterationInvariantRate |
                                      benchmark::Counter::kInvert);
}

// Args: rows, cols, fast (0/1). The gradient buffer is reused across iterations.
void BM_CrossEntropyFwdBwd(benchmark::State& state) {
  const std::size_t n = state.range(0), c = state.range(1);
  const auto x = random_logits(n * c, 1);
  std::vector<std::int64_t> t(n);
  for (std::size_t r = 0; r < n; ++r) t[r] = static_cast<std::int64_t>((r * 7919) % c);
  std::vector<float> g(n * c);
  logitkit::CrossEntropyOptions o;
  o.threads = 1;
  o.precision = state.range(2) ? Precision::kFast : Precision::kAccurate;
  for (auto _ : state) {
    benchmark::DoNotOptimize(logitkit::cross_entropy(
        logitkit::Rows<const float>{x.data(), n, c, c}, t, o,
        logitkit::LossOutputs<float>{logitkit::Rows<float>{g.data(), n, c, c}, {}, {}}));
    benchmark::ClobberMemory();
  }
  set_counters(state, n * c);
}
BENCHMARK(BM_CrossEntropyFwdBwd)
    ->Args({512, 128256, 0})->Args({512, 128256, 1})
    ->Args({4096, 32000, 0})->Args({4096, 32000, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DistillationFwdBwd(benchmark::State& state) {
  const std::size_t n = state.range(0), c = state.range(1);
  const auto s = random_logits(n * c, 2), t = random_logits(n * c, 3);
  std::vector<float> g(n * c);
  logitkit::DistillationOptions o;
  o.threads = 1;
  o.temperature = 2.0;
  o.precision = state.range(2) ? Precision::kFast : Precision::kAccurate;
  for (auto _ : state) {
    benchmark::DoNotOptimize(logitkit::distillation_loss(
        logitkit::Rows<const float>{s.data(), n, c, c}, logitkit::Rows<const float>{t.data(), n, c, c},
        o, logitkit::LossOutputs<float>{logitkit::Rows<float>{g.data(), n, c, c}, {}, {}}));
    benchmark::ClobberMemory();
  }
  set_counters(state, n * c);
}
BENCHMARK(BM_DistillationFwdBwd)
    ->Args({512, 128256, 0})->Args({512, 128256, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
