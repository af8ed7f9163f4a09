// SPDX-License-Identifier: Apache-2.0
// Cross-entropy and distillation forward+backward beside libtorch (same inputs, same run), and
// the contrastive loss beside the BLAS products it needs. ns per logit: counter "ns/elem".
//
// Bounded time: every case runs 3 repetitions of at least kMinTime seconds (medians are the
// "_median" rows; --benchmark_report_aggregates_only=true prints only the aggregates); inputs
// are generated once per shape and shared by every case of that shape. The whole bench takes
// about 2 minutes on the 2-core development machine. --quick: tiny shapes, to prove it runs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/peers/loss_peers.h"
#include "logitkit/loss.h"
#include "logitkit/softmax.h"

namespace {

using logitkit::Precision;
constexpr double kMinTime = 0.25;
constexpr int kRepetitions = 3;
bool g_quick = false;

// N(0, 3^2) logits from a fixed seed (a fast generator: the inputs are hundreds of MB).
void fill_logits(float* x, std::size_t n, std::uint64_t seed) {
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (std::size_t i = 0; i < n; ++i) x[i] = nd(rng);
}

std::vector<float> random_logits(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  fill_logits(x.data(), n, seed);
  return x;
}

// The buffers of one shape, kept while consecutive cases use that shape (the cases are
// registered shape by shape), so each shape's inputs are generated once.
struct Shape {
  std::size_t n = 0, c = 0;
  int inputs = 0;
  std::vector<float> a, b, g;
  std::vector<std::int64_t> target;
};
Shape& shape(std::size_t n, std::size_t c, int inputs) {
  static Shape s;
  if (s.n != n || s.c != c || s.inputs < inputs) {
    s = Shape{};
    s.n = n;
    s.c = c;
    s.inputs = inputs;
    s.a = random_logits(n * c, 1);
    if (inputs > 1) s.b = random_logits(n * c, 3);
    s.g.assign(n * c, 0.0f);  // touched: no page faults inside the timing
    s.target.resize(n);
    for (std::size_t r = 0; r < n; ++r) s.target[r] = static_cast<std::int64_t>((r * 7919) % c);
  }
  return s;
}

// Every case: milliseconds, real time, kRepetitions repetitions of at least kMinTime seconds.
benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b) {
  return b->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(g_quick ? 0.01 : kMinTime)
      ->Repetitions(g_quick ? 1 : kRepetitions);
}

void set_counters(benchmark::State& state, std::size_t elems) {
  state.counters["ns/elem"] = benchmark::Counter(
      static_cast<double>(elems), benchmark::Counter::kIsIterationInvariantRate |
                                      benchmark::Counter::kInvert);
}

std::size_t rows_of(benchmark::State& state) { return g_quick ? 4 : state.range(0); }
std::size_t cols_of(benchmark::State& state) { return g_quick ? 1000 : state.range(1); }

// ---- cross-entropy ---------------------------------------------------------------------------

double ours_ce(Shape& s, Precision prec, int threads) {
  logitkit::CrossEntropyOptions o;
  o.threads = threads;
  o.precision = prec;
  return logitkit::cross_entropy(
      logitkit::Rows<const float>{s.a.data(), s.n, s.c, s.c}, s.target, o,
      logitkit::LossOutputs<float>{logitkit::Rows<float>{s.g.data(), s.n, s.c, s.c}, {}, {}});
}

// Args: rows, cols, precision (0 accurate, 1 fast), threads.
void BM_CrossEntropyFwdBwd(benchmark::State& state) {
  Shape& s = shape(rows_of(state), cols_of(state), 1);
  const Precision prec = state.range(2) ? Precision::kFast : Precision::kAccurate;
  const int threads = static_cast<int>(state.range(3));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ours_ce(s, prec, threads));
    benchmark::ClobberMemory();
  }
  set_counters(state, s.n * s.c);
}

// The yardstick of the losses' goals: logitkit::softmax of the same logits into the same output
// buffer, same precision and threads, run beside each loss case.
// Args: rows, cols, precision (0 accurate, 1 fast), threads, the loss it runs beside (0
// cross-entropy, 1 distillation: only names the run).
void BM_SoftmaxSameShape(benchmark::State& state) {
  Shape& s = shape(rows_of(state), cols_of(state), 1);
  logitkit::SoftmaxOptions o;
  o.precision = state.range(2) ? Precision::kFast : Precision::kAccurate;
  o.threads = static_cast<int>(state.range(3));
  for (auto _ : state) {
    logitkit::softmax(logitkit::Rows<const float>{s.a.data(), s.n, s.c, s.c},
                      logitkit::Rows<float>{s.g.data(), s.n, s.c, s.c}, o);
    benchmark::ClobberMemory();
  }
  set_counters(state, s.n * s.c);
}

// The largest |difference| between a peer's gradient (in s.g) and ours (recomputed).
double max_diff_vs_ours(Shape& s, const std::vector<float>& peer) {
  double m = 0;
  for (std::size_t i = 0; i < peer.size(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(peer[i]) - s.g[i]));
  }
  return m;
}

// Args: rows, cols, mode (0 reused, 1 autograd), threads.
void BM_TorchCrossEntropyFwdBwd(benchmark::State& state) {
  Shape& s = shape(rows_of(state), cols_of(state), 1);
  const auto mode = state.range(2) ? logitkit::bench::TorchMode::kAutograd
                                   : logitkit::bench::TorchMode::kReused;
  auto k = logitkit::bench::make_torch_cross_entropy(s.a.data(), s.target.data(), s.g.data(), s.n,
                                                     s.c, static_cast<int>(state.range(3)), mode);
  if (!k) {
    state.SkipWithError("libtorch not built in (LOGITKIT_BENCH_PEERS=OFF or no libtorch-dev)");
    for (auto _ : state) {
    }
    return;
  }
  double loss = k->run();  // warm-up: libtorch initialises lazily on the first call
  for (auto _ : state) {
    loss = k->run();
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_counters(state, s.n * s.c);
  // Same answer as ours (checked once, outside the timing).
  const double ours = ours_ce(s, Precision::kAccurate, 1);
  state.counters["|loss-ours|"] = std::fabs(loss - ours);
  if (mode == logitkit::bench::TorchMode::kReused) {
    std::vector<float> peer = s.g;
    k->run();
    peer = s.g;
    ours_ce(s, Precision::kAccurate, 1);
    state.counters["max|grad-ours|"] = max_diff_vs_ours(s, peer);
  }
}

// ---- distillation ------------------------------------------------------------------------------

constexpr double kTau = 2.0;

double ours_kd(Shape& s, Precision prec, int threads) {
  logitkit::DistillationOptions o;
  o.threads = threads;
  o.temperature = kTau;
  o.precision = prec;
  return logitkit::distillation_loss(
      logitkit::Rows<const float>{s.a.data(), s.n, s.c, s.c},
      logitkit::Rows<const float>{s.b.data(), s.n, s.c, s.c}, o,
      logitkit::LossOutputs<float>{logitkit::Rows<float>{s.g.data(), s.n, s.c, s.c}, {}, {}});
}

// Args: rows, cols, precision, threads. Forward KL, tau = 2, tau^2 on, batchmean (the defaults).
void BM_DistillationFwdBwd(benchmark::State& state) {
  Shape& s = shape(rows_of(state), cols_of(state), 2);
  const Precision prec = state.range(2) ? Precision::kFast : Precision::kAccurate;
  const int threads = static_cast<int>(state.range(3));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ours_kd(s, prec, threads));
    benchmark::ClobberMemory();
  }
  set_counters(state, s.n * s.c);
}

// Args: rows, cols, mode (0 reused, 1 autograd), threads.
void BM_TorchKlDivFwdBwd(benchmark::State& state) {
  Shape& s = shape(rows_of(state), cols_of(state), 2);
  const auto mode = state.range(2) ? logitkit::bench::TorchMode::kAutograd
                                   : logitkit::bench::TorchMode::kReused;
  auto k = logitkit::bench::make_torch_kl_div(s.a.data(), s.b.data(), s.g.data(), s.n, s.c, kTau,
                                              static_cast<int>(state.range(3)), mode);
  if (!k) {
    state.SkipWithError("libtorch not built in (LOGITKIT_BENCH_PEERS=OFF or no libtorch-dev)");
    for (auto _ : state) {
    }
    return;
  }
  double loss = k->run();  // warm-up: libtorch initialises lazily on the first call
  for (auto _ : state) {
    loss = k->run();
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  }
  set_counters(state, s.n * s.c);
  const double ours = ours_kd(s, Precision::kAccurate, 1);
  state.counters["|loss-ours|"] = std::fabs(loss - ours);
  if (mode == logitkit::bench::TorchMode::kReused) {
    k->run();
    std::vector<float> peer = s.g;
    ours_kd(s, Precision::kAccurate, 1);
    state.counters["max|grad-ours|"] = max_diff_vs_ours(s, peer);
  }
}

// Registration, shape by shape (the Shape cache keeps one shape's buffers at a time).
void register_losses() {
  const std::vector<std::pair<long, long>> ce_shapes = {{512, 128256}, {4096, 32000}};
  for (auto [n, c] : ce_shapes) {
    for (long threads : {1, 2}) {
      for (long prec : {0, 1}) {
        configure(benchmark::RegisterBenchmark("BM_SoftmaxSameShape", BM_SoftmaxSameShape))
            ->Args({n, c, prec, threads, 0});
        configure(benchmark::RegisterBenchmark("BM_CrossEntropyFwdBwd", BM_CrossEntropyFwdBwd))
            ->Args({n, c, prec, threads});
      }
      configure(benchmark::RegisterBenchmark("BM_TorchCrossEntropyFwdBwd", BM_TorchCrossEntropyFwdBwd))
          ->Args({n, c, 0, threads});
    }
    if (n == 512) {  // as users call it (allocating): one shape, 1 thread (it is slow)
      configure(benchmark::RegisterBenchmark("BM_TorchCrossEntropyFwdBwd", BM_TorchCrossEntropyFwdBwd))
          ->Args({n, c, 1, 1});
    }
  }
  for (long threads : {1, 2}) {
    for (long prec : {0, 1}) {
      configure(benchmark::RegisterBenchmark("BM_SoftmaxSameShape", BM_SoftmaxSameShape))
          ->Args({512, 128256, prec, threads, 1});
      configure(benchmark::RegisterBenchmark("BM_DistillationFwdBwd", BM_DistillationFwdBwd))
          ->Args({512, 128256, prec, threads});
    }
    configure(benchmark::RegisterBenchmark("BM_TorchKlDivFwdBwd", BM_TorchKlDivFwdBwd))
        ->Args({512, 128256, 0, threads});
  }
  // kl_div through autograd (mode 1) takes ~4 s per call here: not registered by default; run
  // it with --benchmark_filter after adding ->Args({512, 128256, 1, 1}).
}

}  // namespace

void register_contrastive();

int main(int argc, char** argv) {
  // --quick: tiny shapes and one short repetition, only to prove the bench builds and runs.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) g_quick = true;
    else args.push_back(argv[i]);
  }
  register_losses();
  register_contrastive();
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}


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
  const std::size_t B = g_quick ? 64 : state.range(0), D = g_quick ? 32 : state.range(1);
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

#ifdef LOGITKIT_BENCH_WITH_BLAS
// The BLAS products alone. Args: B, D, products, block rows. Products 3: the three a
// materialising implementation needs (S = a b^T, G b, G^T a; block = B: whole B x B matrices);
// 4: the four the blocked pass issues (S twice per block, then G b and G^T a per block).
void BM_ContrastiveBlasProducts(benchmark::State& state) {
  const int B = g_quick ? 64 : static_cast<int>(state.range(0));
  const int D = g_quick ? 32 : static_cast<int>(state.range(1));
  const int blk = std::min(B, static_cast<int>(state.range(3)));
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
#endif

}  // namespace

// Contrastive cases: the library (BLAS and own kernel, with and without backward) and the BLAS
// products alone (the 3 whole-matrix products, and the 4 blocked ones at the default block).
void register_contrastive() {
  for (auto args : std::vector<std::vector<std::int64_t>>{
           {4096, 512, 0, 0, 1}, {4096, 512, 1, 0, 1}, {4096, 512, 0, 0, 0}}) {
    configure(benchmark::RegisterBenchmark("BM_ContrastiveFwdBwd", BM_ContrastiveFwdBwd))->Args(args);
  }
#ifdef LOGITKIT_BENCH_WITH_BLAS
  for (auto args : std::vector<std::vector<std::int64_t>>{{4096, 512, 3, 4096}, {4096, 512, 4, 512}}) {
    configure(benchmark::RegisterBenchmark("BM_ContrastiveBlasProducts", BM_ContrastiveBlasProducts))
        ->Args(args);
  }
#endif
}
