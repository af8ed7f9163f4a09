// SPDX-License-Identifier: Apache-2.0
// Fused linear + cross-entropy (logitkit::linear_cross_entropy) against the materialised path:
// BLAS sgemm for the [N, V] logits, logitkit::cross_entropy on them (gradient in place), and the
// two gradient sgemms. Loss and both gradients (d/dhidden, d/dweight) in both.
//
// Paths: materialised; fused row mode (BM_FusedLinearCE/<chunk_rows>, bf16 too); fused
// vocabulary mode (BM_FusedLinearCE_vocab/<chunk_rows>/<chunk_vocab>, bf16 too). The GFLOP/s
// counter counts three products (the useful work) for every path, so the vocabulary mode's
// recomputed logits show as a lower rate.
//
// Sizes: default N = 1024, D = 1024, V = 32000 (about 0.2 TFLOP of products per iteration);
// LOGITKIT_FUSED_FULL=1 selects the N = 4096, D = 2048, V = 128256 (6.5 TFLOP; run it
// with --benchmark_min_time=0 or a single repetition); --quick: tiny sizes for the test suite
// (proves the bench builds and runs; never judges speed).
//
// Memory: this executable replaces the global operator new / delete with a counting version
// (malloc_usable_size of each live block), so "peak_extra_MiB" is the peak of bytes live on the
// C++ heap during the iteration above what was live before it: everything the library allocates
// (the chunk buffers) and, for the materialised path, the [N, V] logits vector it creates. The
// inputs and outputs are allocated before and not counted; OpenBLAS's own work buffers (its
// malloc/mmap, the same for both paths) are not counted either.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "logitkit/linear_cross_entropy.h"
#include "logitkit/loss.h"

#ifdef LOGITKIT_BENCH_WITH_BLAS
#include <cblas.h>
#endif

// ---- counting allocator ---------------------------------------------------------------------
namespace {
std::atomic<std::int64_t> g_live{0}, g_peak{0};
void note_alloc(void* p) {
  const std::int64_t now = g_live.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p))) +
                           static_cast<std::int64_t>(malloc_usable_size(p));
  std::int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  note_alloc(p);
  return p;
}
void counted_free(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)));
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }

namespace {

using logitkit::bfloat16;
using logitkit::Rows;

struct Size {
  std::size_t N, D, V;
};
Size g_size{1024, 1024, 32000};

struct Inputs {
  std::vector<float> h, w;
  std::vector<bfloat16> hb, wb;
  std::vector<std::int64_t> t;
  std::vector<float> dh, dw;
};

// Hidden states ~ U(-1, 1), weight ~ U(-a, a) with a = 2 / sqrt(D): logits of order 1.
Inputs& inputs() {
  static Inputs in = [] {
    Inputs x;
    const auto [N, D, V] = g_size;
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const float a = 2.0f / std::sqrt(static_cast<float>(D));
    x.h.resize(N * D);
    x.w.resize(V * D);
    for (float& v : x.h) v = u(rng);
    for (float& v : x.w) v = a * u(rng);
    x.t.resize(N);
    for (std::size_t r = 0; r < N; ++r) x.t[r] = static_cast<std::int64_t>(rng() % V);
    x.dh.resize(N * D);
    x.dw.resize(V * D);
    return x;
  }();
  return in;
}

void set_counters(benchmark::State& state, std::int64_t peak_extra) {
  const auto [N, D, V] = g_size;
  state.counters["peak_extra_MiB"] = static_cast<double>(peak_extra) / (1 << 20);
  state.counters["logits_MiB"] = static_cast<double>(N * V * 4) / (1 << 20);
  // Three products of 2 N D V flops each.
  state.counters["GFLOP/s"] = benchmark::Counter(6.0 * N * D * V * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Arg: chunk_rows (0: automatic).
void BM_FusedLinearCE(benchmark::State& state) {
  const auto [N, D, V] = g_size;
  Inputs& in = inputs();
  logitkit::LinearCrossEntropyOptions o;
  o.chunk_rows = static_cast<std::size_t>(state.range(0));
  const logitkit::LinearCrossEntropyOutputs out{Rows<float>{in.dh.data(), N, D, D},
                                                Rows<float>{in.dw.data(), V, D, D}};
  std::int64_t peak = 0;
  for (auto _ : state) {
    const std::int64_t base = g_live.load();
    g_peak.store(base);
    benchmark::DoNotOptimize(linear_cross_entropy(Rows<const float>{in.h.data(), N, D, D},
                                                  Rows<const float>{in.w.data(), V, D, D}, in.t,
                                                  o, out));
    benchmark::ClobberMemory();
    peak = std::max(peak, g_peak.load() - base);
  }
  set_counters(state, peak);
}

// bf16 hidden states and weight (converted block by block), f32 gradients.
void BM_FusedLinearCE_bf16(benchmark::State& state) {
  const auto [N, D, V] = g_size;
  Inputs& in = inputs();
  if (in.hb.empty()) {
    in.hb.resize(in.h.size());
    in.wb.resize(in.w.size());
    for (std::size_t i = 0; i < in.h.size(); ++i) in.hb[i] = bfloat16::from_float(in.h[i]);
    for (std::size_t i = 0; i < in.w.size(); ++i) in.wb[i] = bfloat16::from_float(in.w[i]);
  }
  logitkit::LinearCrossEntropyOptions o;
  o.chunk_rows = static_cast<std::size_t>(state.range(0));
  const logitkit::LinearCrossEntropyOutputs out{Rows<float>{in.dh.data(), N, D, D},
                                                Rows<float>{in.dw.data(), V, D, D}};
  std::int64_t peak = 0;
  for (auto _ : state) {
    const std::int64_t base = g_live.load();
    g_peak.store(base);
    benchmark::DoNotOptimize(linear_cross_entropy(Rows<const bfloat16>{in.hb.data(), N, D, D},
                                                  Rows<const bfloat16>{in.wb.data(), V, D, D},
                                                  in.t, o, out));
    benchmark::ClobberMemory();
    peak = std::max(peak, g_peak.load() - base);
  }
  set_counters(state, peak);
}

// The vocabulary-chunk mode. Args: chunk_rows (0: automatic), chunk_vocab.
void BM_FusedLinearCE_vocab(benchmark::State& state) {
  const auto [N, D, V] = g_size;
  Inputs& in = inputs();
  logitkit::LinearCrossEntropyOptions o;
  o.chunk_rows = static_cast<std::size_t>(state.range(0));
  o.chunk_vocab = static_cast<std::size_t>(state.range(1));
  const logitkit::LinearCrossEntropyOutputs out{Rows<float>{in.dh.data(), N, D, D},
                                                Rows<float>{in.dw.data(), V, D, D}};
  std::int64_t peak = 0;
  for (auto _ : state) {
    const std::int64_t base = g_live.load();
    g_peak.store(base);
    benchmark::DoNotOptimize(linear_cross_entropy(Rows<const float>{in.h.data(), N, D, D},
                                                  Rows<const float>{in.w.data(), V, D, D}, in.t,
                                                  o, out));
    benchmark::ClobberMemory();
    peak = std::max(peak, g_peak.load() - base);
  }
  set_counters(state, peak);
}

// The vocabulary-chunk mode with bf16 hidden states and weight. Args as above.
void BM_FusedLinearCE_bf16_vocab(benchmark::State& state) {
  const auto [N, D, V] = g_size;
  Inputs& in = inputs();
  if (in.hb.empty()) {
    in.hb.resize(in.h.size());
    in.wb.resize(in.w.size());
    for (std::size_t i = 0; i < in.h.size(); ++i) in.hb[i] = bfloat16::from_float(in.h[i]);
    for (std::size_t i = 0; i < in.w.size(); ++i) in.wb[i] = bfloat16::from_float(in.w[i]);
  }
  logitkit::LinearCrossEntropyOptions o;
  o.chunk_rows = static_cast<std::size_t>(state.range(0));
  o.chunk_vocab = static_cast<std::size_t>(state.range(1));
  const logitkit::LinearCrossEntropyOutputs out{Rows<float>{in.dh.data(), N, D, D},
                                                Rows<float>{in.dw.data(), V, D, D}};
  std::int64_t peak = 0;
  for (auto _ : state) {
    const std::int64_t base = g_live.load();
    g_peak.store(base);
    benchmark::DoNotOptimize(linear_cross_entropy(Rows<const bfloat16>{in.hb.data(), N, D, D},
                                                  Rows<const bfloat16>{in.wb.data(), V, D, D},
                                                  in.t, o, out));
    benchmark::ClobberMemory();
    peak = std::max(peak, g_peak.load() - base);
  }
  set_counters(state, peak);
}

#ifdef LOGITKIT_BENCH_WITH_BLAS
// What a user does without the fused op: the whole [N, V] logits (a fresh vector each step, as
// a training loop gets them), cross_entropy with its gradient in place, then G W and G^T H.
void BM_MaterialisedLinearCE(benchmark::State& state) {
  const auto [N, D, V] = g_size;
  Inputs& in = inputs();
  const int n = static_cast<int>(N), d = static_cast<int>(D), v = static_cast<int>(V);
  std::int64_t peak = 0;
  for (auto _ : state) {
    const std::int64_t base = g_live.load();
    g_peak.store(base);
    std::vector<float> x(N * V);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, v, d, 1.0f, in.h.data(), d,
                in.w.data(), d, 0.0f, x.data(), v);
    benchmark::DoNotOptimize(logitkit::cross_entropy(
        Rows<const float>{x.data(), N, V, V}, in.t, {},
        logitkit::LossOutputs<float>{Rows<float>{x.data(), N, V, V}, {}, {}}));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, v, 1.0f, x.data(), v,
                in.w.data(), d, 0.0f, in.dh.data(), d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, v, d, n, 1.0f, x.data(), v,
                in.h.data(), d, 0.0f, in.dw.data(), d);
    benchmark::ClobberMemory();
    peak = std::max(peak, g_peak.load() - base);
  }
  set_counters(state, peak);
}
#endif

void register_all(bool quick) {
  const bool full = std::getenv("LOGITKIT_FUSED_FULL") != nullptr &&
                    std::string(std::getenv("LOGITKIT_FUSED_FULL")) == "1";
  if (quick) {
    g_size = {64, 32, 1000};
  } else if (full) {
    g_size = {4096, 2048, 128256};
  }
  const auto [N, D, V] = g_size;
  benchmark::AddCustomContext("fused_size", "N=" + std::to_string(N) + " D=" +
                                                std::to_string(D) + " V=" + std::to_string(V));
  auto setup = [&](benchmark::internal::Benchmark* b) {
    b->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
    if (full) b->Iterations(1);
  };
#ifdef LOGITKIT_BENCH_WITH_BLAS
  setup(benchmark::RegisterBenchmark("BM_MaterialisedLinearCE", BM_MaterialisedLinearCE));
#endif
  auto* f = benchmark::RegisterBenchmark("BM_FusedLinearCE", BM_FusedLinearCE);
  setup(f);
  f->Arg(0);
  if (!quick && !full) f->Arg(64)->Arg(256)->Arg(512);
  if (full) f->Arg(128)->Arg(256)->Arg(512);  // pick with --benchmark_filter
  if (quick) f->Arg(7);
  auto* fb = benchmark::RegisterBenchmark("BM_FusedLinearCE_bf16", BM_FusedLinearCE_bf16);
  setup(fb);
  fb->Arg(0);
  // Vocabulary mode: {chunk_rows, chunk_vocab}.
  auto* fv = benchmark::RegisterBenchmark("BM_FusedLinearCE_vocab", BM_FusedLinearCE_vocab);
  setup(fv);
  if (quick) fv->Args({7, 100});
  if (!quick && !full) {
    fv->Args({0, 4096})->Args({1024, 4096})->Args({1024, 8192})->Args({256, 8192});
    fv->Args({1024, 1024})->Args({1024, 256});
  }
  if (full) fv->Args({4096, 8192})->Args({1024, 8192})->Args({2048, 8192});
  auto* fbv =
      benchmark::RegisterBenchmark("BM_FusedLinearCE_bf16_vocab", BM_FusedLinearCE_bf16_vocab);
  setup(fbv);
  if (quick) fbv->Args({7, 100});
  if (!quick) fbv->Args({1024, 8192});
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  register_all(quick);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
