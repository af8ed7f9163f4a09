// SPDX-License-Identifier: Apache-2.0
// Next-token sampling: logitkit's sampler beside an in-repo sort-based baseline (std::sort +
// cumulative sum, the common way), per chain and vocabulary size, and the batch form's scaling.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "logitkit/sampler_chain.h"
#include "logitkit/sampling.h"
#include "logitkit/targets.h"

namespace {

using logitkit::SamplingParams;

// N(0, 3^2) logits (Box-Muller on the Philox uniform), a few spikes, and a flat tail of tokens at
// one logit, so that the top-p 0.95 nucleus holds thousands of tokens.
std::vector<float> bench_logits(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u1 = 1.0 - logitkit::philox_uniform(seed, 1, 2 * i);
    const double u2 = logitkit::philox_uniform(seed, 1, 2 * i + 1);
    x[i] = static_cast<float>(3.0 * std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(6.283185307179586 * u2));
  }
  for (std::size_t s = 0; s < 3; ++s) x[(s * 104729 + 11) % n] = 10.0f + static_cast<float>(s);
  for (std::size_t f = 0; f < n / 32; ++f) x[(f * 7919 + 3) % n] = 6.0f;
  return x;
}

// A peaked row, closer to a language model's: N(0, 2^2) logits and 64 tokens 8 to 18 above them
// (the top-p 0.95 nucleus holds a few dozen tokens, and most 1024-entry blocks lie entirely
// below it).
std::vector<float> peaked_logits(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u1 = 1.0 - logitkit::philox_uniform(seed, 1, 2 * i);
    const double u2 = logitkit::philox_uniform(seed, 1, 2 * i + 1);
    x[i] = static_cast<float>(2.0 * std::sqrt(-2.0 * std::log(u1)) *
                              std::cos(6.283185307179586 * u2));
  }
  for (std::size_t s = 0; s < 64; ++s) {
    const std::size_t at = static_cast<std::size_t>(logitkit::philox_uniform(seed, 2, s) * n);
    x[at] = static_cast<float>(8.0 + 10.0 * logitkit::philox_uniform(seed, 3, s));
  }
  return x;
}

struct Chain {
  const char* name;
  SamplingParams params;
};

const Chain kChains[] = {
    {"greedy", {.temperature = 0.0}},
    {"temperature", {.temperature = 0.8}},
    {"k40_p0.95_minp0.05_t0.8", {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05}},
    {"top_p0.95", {.top_p = 0.95}},
    {"min_p0.05", {.min_p = 0.05}},
    // Precision::kFast (the shift rounded in float; the default is kAccurate).
    {"temperature_fast", {.temperature = 0.8, .precision = logitkit::Precision::kFast}},
    {"k40_p0.95_minp0.05_t0.8_fast",
     {.temperature = 0.8, .top_k = 40, .top_p = 0.95, .min_p = 0.05,
      .precision = logitkit::Precision::kFast}},
    {"top_p0.95_fast", {.top_p = 0.95, .precision = logitkit::Precision::kFast}},
};

// The common way: sort every (logit, index) pair, softmax in sorted order, cut, cumulative sum.
std::int32_t sort_based_sample(const std::vector<float>& x, const SamplingParams& p, double u,
                               std::vector<std::pair<float, std::int32_t>>& buf,
                               std::vector<double>& w) {
  const std::size_t n = x.size();
  buf.resize(n);
  for (std::size_t i = 0; i < n; ++i) buf[i] = {x[i], static_cast<std::int32_t>(i)};
  std::sort(buf.begin(), buf.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  if (p.temperature == 0 || p.top_k == 1 || p.top_p == 0) return buf[0].second;
  std::size_t L = n;
  if (p.top_k > 0) L = std::min<std::size_t>(L, p.top_k);
  w.resize(L);
  const double m = buf[0].first;
  double total = 0;
  for (std::size_t j = 0; j < L; ++j) total += w[j] = std::exp((buf[j].first - m) / p.temperature);
  if (p.top_p < 1) {
    double cum = 0;
    std::size_t j = 0;
    while (j < L && cum < p.top_p * total) cum += w[j++];
    L = std::max<std::size_t>(j, 1);
  }
  if (p.min_p > 0) {
    std::size_t j = 0;
    while (j < L && w[j] >= p.min_p) ++j;
    L = std::max<std::size_t>(j, 1);
  }
  total = 0;
  for (std::size_t j = 0; j < L; ++j) total += w[j];
  const double target = u * total;
  double cum = 0;
  for (std::size_t j = 0; j < L; ++j) {
    cum += w[j];
    if (cum > target) return buf[j].second;
  }
  return buf[L - 1].second;
}

void set_counters(benchmark::State& state, const std::vector<float>& x, const SamplingParams& p) {
  std::vector<float> probs(x.size());
  logitkit::sampling_distribution(x, p, probs);
  state.counters["kept"] = static_cast<double>(
      std::count_if(probs.begin(), probs.end(), [](float v) { return v > 0; }));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(logitkit::targets().chosen);
}

void bm_logitkit_on(benchmark::State& state, Chain chain, std::size_t n, std::string target,
                    bool peaked) {
  if (!target.empty() && !logitkit::force_target(target)) {
    state.SkipWithError("target not supported");
    return;
  }
  const auto x = peaked ? peaked_logits(n, 7) : bench_logits(n, 7);
  std::uint64_t step = 0;
  for (auto _ : state) {
    const auto r = logitkit::sample(x, chain.params, 0, step++);
    benchmark::DoNotOptimize(r.token);
  }
  set_counters(state, x, chain.params);
  logitkit::reset_target();
}

void bm_logitkit(benchmark::State& state, Chain chain, std::size_t n, std::string target) {
  bm_logitkit_on(state, chain, n, target, false);
}

void bm_peaked(benchmark::State& state, Chain chain, std::size_t n) {
  bm_logitkit_on(state, chain, n, "", true);
}

void bm_sort_baseline(benchmark::State& state, Chain chain, std::size_t n) {
  const auto x = bench_logits(n, 7);
  std::vector<std::pair<float, std::int32_t>> buf;
  std::vector<double> w;
  std::uint64_t step = 0;
  for (auto _ : state) {
    const double u = logitkit::philox_uniform(0, 0, step++);
    benchmark::DoNotOptimize(sort_based_sample(x, chain.params, u, buf, w));
  }
  set_counters(state, x, chain.params);
}

// The batch form: 32 rows of 128256, each with its own stream, split over `threads` threads.
void bm_batch(benchmark::State& state, Chain chain) {
  constexpr std::size_t kRows = 32, kCols = 128256;
  std::vector<float> data(kRows * kCols);
  for (std::size_t r = 0; r < kRows; ++r) {
    const auto x = bench_logits(kCols, 100 + r);
    std::copy(x.begin(), x.end(), data.begin() + r * kCols);
  }
  std::vector<std::uint64_t> streams(kRows);
  std::iota(streams.begin(), streams.end(), 0);
  std::vector<logitkit::SampleResult> out(kRows);
  std::uint64_t step = 0;
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const std::uint64_t s = step++;
    logitkit::sample(logitkit::Rows<const float>{data.data(), kRows, kCols, kCols},
                     {&chain.params, 1}, streams, {&s, 1}, out, threads);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}

// A SamplerChain on one row, with a 64-token history of likely tokens ending in a repeat (so
// penalties and DRY change logits).
void bm_chain(benchmark::State& state, std::string spec, std::size_t n) {
  const auto x = peaked_logits(n, 7);
  std::vector<std::int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 64, order.end(),
                    [&](std::int32_t a, std::int32_t b) { return x[a] > x[b]; });
  std::vector<std::int32_t> history;
  for (int j = 0; j < 56; ++j) history.push_back(order[static_cast<std::size_t>((j * 7) % 64)]);
  for (int j = 0; j < 8; ++j) history.push_back(order[static_cast<std::size_t>(j % 4)]);
  const logitkit::SamplerChain chain(spec);
  const logitkit::ChainContext ctx{.history = history, .seed = 1};
  std::uint64_t step = 0;
  for (auto _ : state) {
    logitkit::MirostatState st{10.0};
    const auto r = chain.sample(x, ctx, 0, step++, &st);
    benchmark::DoNotOptimize(r.token);
  }
  std::vector<float> probs(n);
  chain.distribution(x, ctx, probs);
  state.counters["kept"] = static_cast<double>(
      std::count_if(probs.begin(), probs.end(), [](float v) { return v > 0; }));
  state.SetItemsProcessed(state.iterations());
}

// The fixed-order sampler on the same peaked row (the chain's baseline).
void bm_fixed_peaked(benchmark::State& state, SamplingParams p, std::size_t n) {
  const auto x = peaked_logits(n, 7);
  std::uint64_t step = 0;
  for (auto _ : state) {
    const auto r = logitkit::sample(x, p, 0, step++);
    benchmark::DoNotOptimize(r.token);
  }
  state.SetItemsProcessed(state.iterations());
}

// With --benchmark_repetitions: the fastest repetition, the figure least disturbed by other
// processes on a shared machine (the median is reported too).
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (std::size_t n : {32000u, 128256u, 256000u}) {
    for (const Chain& c : kChains) {
      const std::string suffix = std::string(c.name) + "/" + std::to_string(n);
      benchmark::RegisterBenchmark(("sample/" + suffix).c_str(), bm_logitkit, c, n, "")
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("min", min_of);
      benchmark::RegisterBenchmark(("sort_baseline/" + suffix).c_str(), bm_sort_baseline, c, n)
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("min", min_of);
    }
  }
  // The peaked rows, for the chains that exponentiate the whole row.
  for (std::size_t n : {32000u, 128256u, 256000u}) {
    for (const Chain& c : kChains) {
      const std::string name = c.name;
      if (name.find("temperature") != 0 && name.find("top_p") != 0) continue;
      benchmark::RegisterBenchmark(("sample_peaked/" + name + "/" + std::to_string(n)).c_str(),
                                   bm_peaked, c, n)
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("min", min_of);
    }
  }
  // Every supported target at the contract's size.
  for (const std::string& t : logitkit::targets().supported) {
    for (const Chain& c : kChains) {
      benchmark::RegisterBenchmark(("sample_target/" + t + "/" + c.name + "/128256").c_str(),
                                   bm_logitkit, c, std::size_t{128256}, t)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (const Chain& c : kChains) {
    if (std::string(c.name) == "greedy") continue;
    benchmark::RegisterBenchmark((std::string("batch32x128256/") + c.name).c_str(), bm_batch, c)
        ->Arg(1)
        ->Arg(2)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->ComputeStatistics("min", min_of);
  }
  // Sampler chains at V = 128256 on the peaked row: llama.cpp's default chain (its default
  // parameters: penalties and DRY off, typical 1, XTC off) and the same with penalties and DRY
  // active, beside the fixed-order SamplingParams chain; then each chain stage alone.
  {
    const std::size_t n = 128256;
    benchmark::RegisterBenchmark("chain_fixed/k40_p0.95_minp0.05_t0.8/128256", bm_fixed_peaked,
                                 SamplingParams{.temperature = 0.8, .top_k = 40, .top_p = 0.95,
                                                .min_p = 0.05},
                                 n)
        ->Unit(benchmark::kMicrosecond)
        ->ComputeStatistics("min", min_of);
    const std::pair<const char*, const char*> chains[] = {
        {"llama_default",
         "penalties,dry,top_k=40,typical=1,top_p=0.95,min_p=0.05,xtc=0:0.1,temp=0.8"},
        {"llama_default_penalties_dry",
         "penalties=64:1.1:0.1:0.1,dry=0.8,top_k=40,typical=1,top_p=0.95,min_p=0.05,xtc=0:0.1,"
         "temp=0.8"},
        {"penalties", "penalties=64:1.1:0.1:0.1"},
        {"dry", "dry=0.8"},
        {"top_k", "top_k=40"},
        {"typical", "typical=0.95"},
        {"top_p", "top_p=0.95"},
        {"min_p", "min_p=0.05"},
        {"xtc", "xtc=1:0.1"},
        {"top_n_sigma", "top_n_sigma=1"},
        {"epsilon", "epsilon=0.0003"},
        {"eta", "eta=0.002"},
        {"temp", "temp=0.8"},
        {"dynatemp", "dynatemp=0.8:0.5:1"},
        {"mirostat", "mirostat=5:0.1:100"},
        {"mirostat_v2", "mirostat_v2=5:0.1"},
    };
    for (const auto& [name, spec] : chains) {
      benchmark::RegisterBenchmark(("chain/" + std::string(name) + "/128256").c_str(), bm_chain,
                                   std::string(spec), n)
          ->Unit(benchmark::kMicrosecond)
          ->ComputeStatistics("min", min_of);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
