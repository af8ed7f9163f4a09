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

// ---------------------------------------------------------------------------------------------
// Contrastive (CLIP) loss, B = 4096, D = 512, forward + backward (grad image, text and t), beside
// the BLAS matrix products it needs. One thread: run with OPENBLAS_NUM_THREADS=1 (the BLAS threads
// itself; ContrastiveOptions::threads = 1 keeps the rest on the calling thread).
// Counter "extra_MiB": peak bytes allocated during one call beyond what was live before it,
// counted by the replacement operator new below (the library's buffers are std::vectors).
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> g_live{0}, g_peak{0};
}  // namespace

void* operator new(std::size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (p == nullptr) throw std::bad_alloc();
  const std::size_t live = g_live.fetch_add(malloc_usable_size(p)) + malloc_usable_size(p);
  std::size_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return p;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_sub(malloc_usable_size(p));
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

#ifdef LOGITKIT_BENCH_WITH_BLAS
#include <cblas.h>
#endif

namespace {

// Args: B, D, own kernel (0: the BLAS when the library has one, 1: the library's own kernel),
// block rows (0: the library default), backward (0: forward only, 1: all three gradients).
void BM_ContrastiveFwdBwd(benchmark::State& state) {
  const std::size_t B = state.range(0), D = state.range(1);
  const auto img = random_logits(B * D, 11), txt = random_logits(B * D, 12);
  std::vector<float> gi(B * D), gt(B * D);
  double dt = 0;
  logitkit::ContrastiveOptions o;
  o.own_matmul = state.range(2) != 0;
  o.block = static_cast<std::size_t>(state.range(3));
  o.threads = 1;
  logitkit::ContrastiveOutputs<float> out;
  if (state.range(4)) {
    out = {logitkit::Rows<float>{gi.data(), B, D, D}, logitkit::Rows<float>{gt.data(), B, D, D},
           &dt};
  }
  std::size_t extra = 0;
  for (auto _ : state) {
    const std::size_t before = g_live.load();
    g_peak.store(before);
    benchmark::DoNotOptimize(logitkit::contrastive_loss(
        logitkit::Rows<const float>{img.data(), B, D, D},
        logitkit::Rows<const float>{txt.data(), B, D, D}, logitkit::kClipInitLogScale, o, out));
    benchmark::ClobberMemory();
    extra = std::max(extra, g_peak.load() - before);
  }
  state.counters["extra_MiB"] = static_cast<double>(extra) / (1 << 20);
  state.counters["GFLOP/s(4 products)"] = benchmark::Counter(
      8.0 * B * B * D * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ContrastiveFwdBwd)
    ->Args({4096, 512, 0, 0, 1})->Args({4096, 512, 1, 0, 1})->Args({4096, 512, 0, 0, 0})
    ->Args({4096, 512, 0, 128, 1})->Args({4096, 512, 0, 256, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

#ifdef LOGITKIT_BENCH_WITH_BLAS
// The BLAS products alone. Args: B, D, products, block rows. Products 3: the three a
// materialising implementation needs (S = a b^T, G b, G^T a; block = B: whole B x B matrices);
// 4: the four the blocked pass issues (S twice per block, then G b and G^T a per block).
void BM_ContrastiveBlasProducts(benchmark::State& state) {
  const int B = static_cast<int>(state.range(0)), D = static_cast<int>(state.range(1));
  const int blk = static_cast<int>(state.range(3));
  const auto a = random_logits(std::size_t(B) * D, 11), b = random_logits(std::size_t(B) * D, 12);
  std::vector<float> s(std::size_t(blk) * B), ga(std::size_t(B) * D), gb(std::size_t(B) * D);
  for (auto _ : state) {
    for (int r0 = 0; r0 < B; r0 += blk) {
      const int h = std::min(blk, B - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, h, B, D, 1.0f, &a[std::size_t(r0) * D],
                  D, b.data(), D, 0.0f, s.data(), B);
      if (state.range(2) == 4) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, h, B, D, 1.0f,
                    &a[std::size_t(r0) * D], D, b.data(), D, 0.0f, s.data(), B);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, h, D, B, 1.0f, s.data(), B, b.data(),
                  D, 0.0f, &ga[std::size_t(r0) * D], D);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, B, D, h, 1.0f, s.data(), B,
                  &a[std::size_t(r0) * D], D, r0 == 0 ? 0.0f : 1.0f, gb.data(), D);
    }
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ContrastiveBlasProducts)
    ->Args({4096, 512, 3, 4096})->Args({4096, 512, 4, 128})->Args({4096, 512, 4, 256})
    ->Args({4096, 512, 4, 512})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
#endif

}  // namespace
