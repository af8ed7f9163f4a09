// SPDX-License-Identifier: Apache-2.0
// softmax / log_softmax / logsumexp: logitkit on every SIMD target beside the peers, same inputs.
//
// Benchmark names: <op>/<dtype>/<impl>/<mode>/<rows>x<cols>/<dist>/<cache>/t<threads>, where impl
// is a SIMD target (logitkit, mode accurate|fast) or a peer (mode peer). One extra flag, read
// before Google Benchmark's: --quick (tiny sizes, only proves the bench builds and runs).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/peers/peers.h"
#include "logitkit/logitkit.h"

namespace logitkit::bench {
namespace {

enum class Dist { kNormal, kSpread };  // N(0, 3^2), or uniform over [-1e3, 1e3] (most exps underflow)
enum class DType { kF32, kBF16 };

struct Shape {
  std::size_t rows, cols;
};

struct Spec {
  Op op;
  DType dtype;
  std::string impl;        // SIMD target name (logitkit) or peer name
  bool peer;
  Precision precision;     // logitkit only
  Shape shape;
  Dist dist;
  bool cold;
  int threads;
};

// Cold cases rotate over input/output pairs totalling more than this (past the 32 MiB L3).
std::size_t g_cold_bytes = std::size_t{80} << 20;

const char* op_name(Op op) {
  switch (op) {
    case Op::kSoftmax: return "softmax";
    case Op::kLogSoftmax: return "log_softmax";
    case Op::kLogSumExp: return "logsumexp";
  }
  return "";
}

std::string name_of(const Spec& s) {
  std::string mode = s.peer ? "peer" : (s.precision == Precision::kFast ? "fast" : "accurate");
  return std::string(op_name(s.op)) + "/" + (s.dtype == DType::kF32 ? "f32" : "bf16") + "/" +
         s.impl + "/" + mode + "/" + std::to_string(s.shape.rows) + "x" +
         std::to_string(s.shape.cols) + "/" + (s.dist == Dist::kNormal ? "normal" : "spread") +
         "/" + (s.cold ? "cold" : "hot") + "/t" + std::to_string(s.threads);
}

// Fixed-seed logits, generated once per (size, distribution) and shared by every case.
const std::vector<float>& logits(std::size_t n, Dist dist) {
  static std::map<std::pair<std::size_t, Dist>, std::vector<float>> cache;
  auto [it, fresh] = cache.try_emplace({n, dist});
  if (fresh) {
    std::mt19937_64 rng(dist == Dist::kNormal ? 42 : 43);
    auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
    it->second.resize(n);
    for (float& v : it->second) {
      if (dist == Dist::kNormal) {  // Box-Muller: the same inputs with every standard library
        v = static_cast<float>(3.0 * std::sqrt(-2.0 * std::log(uniform())) *
                               std::cos(6.283185307179586 * uniform()));
      } else {
        v = static_cast<float>(2000.0 * uniform() - 1000.0);
      }
    }
  }
  return it->second;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Block = std::unique_ptr<unsigned char[], FreeDeleter>;

Block alloc_bytes(std::size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) throw std::bad_alloc();
  return Block(static_cast<unsigned char*>(p));
}

std::size_t in_size(DType t) { return t == DType::kF32 ? sizeof(float) : sizeof(bfloat16); }
std::size_t out_count(Op op, Shape s) { return op == Op::kLogSumExp ? s.rows : s.rows * s.cols; }

// The buffers of one case: `pairs` copies of the same input, each with its own output.
struct CaseData {
  std::vector<Block> x, y;
  std::vector<Buffers> buffers;  // float views for the peers
};

CaseData make_data(const Spec& s) {
  const std::size_t n = s.shape.rows * s.shape.cols;
  const std::size_t x_bytes = n * in_size(s.dtype);
  const std::size_t y_bytes = out_count(s.op, s.shape) * sizeof(float);
  const std::size_t pairs =
      s.cold ? std::max<std::size_t>(2, g_cold_bytes / (x_bytes + y_bytes) + 1) : 1;
  const std::vector<float>& src = logits(n, s.dist);
  CaseData d;
  for (std::size_t p = 0; p < pairs; ++p) {
    d.x.push_back(alloc_bytes(x_bytes));
    d.y.push_back(alloc_bytes(y_bytes));
    if (s.dtype == DType::kF32) {
      std::memcpy(d.x.back().get(), src.data(), x_bytes);
    } else {
      auto* xb = reinterpret_cast<bfloat16*>(d.x.back().get());
      for (std::size_t i = 0; i < n; ++i) xb[i] = bfloat16::from_float(src[i]);
    }
    std::memset(d.y.back().get(), 0, y_bytes);  // fault the pages in before timing
    d.buffers.push_back({reinterpret_cast<const float*>(d.x.back().get()),
                         reinterpret_cast<float*>(d.y.back().get())});
  }
  return d;
}

// The logitkit call of a case on buffer pair i.
std::function<void(std::size_t)> logitkit_call(const Spec& s, const CaseData& d) {
  SoftmaxOptions opt;
  opt.precision = s.precision;
  opt.threads = s.threads;
  const Shape sh = s.shape;
  return [&d, opt, sh, op = s.op, dtype = s.dtype](std::size_t i) {
    Rows<float> y{reinterpret_cast<float*>(d.y[i].get()), sh.rows, sh.cols, sh.cols};
    std::span<float> out(y.data, sh.rows);
    if (dtype == DType::kF32) {
      Rows<const float> x{reinterpret_cast<const float*>(d.x[i].get()), sh.rows, sh.cols, sh.cols};
      switch (op) {
        case Op::kSoftmax: softmax(x, y, opt); break;
        case Op::kLogSoftmax: log_softmax(x, y, opt); break;
        case Op::kLogSumExp: logsumexp(x, out, opt); break;
      }
    } else {
      Rows<const bfloat16> x{reinterpret_cast<const bfloat16*>(d.x[i].get()), sh.rows, sh.cols,
                             sh.cols};
      switch (op) {
        case Op::kSoftmax: softmax(x, y, opt); break;
        case Op::kLogSoftmax: log_softmax(x, y, opt); break;
        case Op::kLogSumExp: logsumexp(x, out, opt); break;
      }
    }
  };
}

const Peer* find_peer(const std::string& name) {
  for (const Peer& p : peers()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// Bytes a kernel must move at least once: its input and its output (the memory limits: theirs).
double bytes_of(const Spec& s) {
  const double n = static_cast<double>(s.shape.rows * s.shape.cols);
  if (s.peer && s.impl == "stream_read") return n * sizeof(float);
  return n * static_cast<double>(in_size(s.dtype)) +
         static_cast<double>(out_count(s.op, s.shape) * sizeof(float));
}

// The buffers (and peer kernel) of the case being run, kept across its repetitions so that a
// 500 MB case is allocated and filled once, not once per repetition.
struct Prepared {
  std::string name;
  CaseData data;
  std::unique_ptr<Kernel> kernel;
};

Prepared& prepare(const Spec& s) {
  static Prepared p;
  std::string name = name_of(s);
  if (p.name != name) {
    p = Prepared{};  // free the previous case's buffers before allocating these
    p.data = make_data(s);
    if (s.peer) {
      p.kernel = find_peer(s.impl)->make(
          Case{s.op, s.shape.rows, s.shape.cols, s.threads, p.data.buffers});
    }
    p.name = std::move(name);
  }
  return p;
}

void run_case(benchmark::State& state, const Spec& s) {
  Prepared& prepared = prepare(s);
  const CaseData& d = prepared.data;
  std::function<void(std::size_t)> call;
  std::string label;
  if (s.peer) {
    Kernel* kernel = prepared.kernel.get();
    call = [kernel](std::size_t i) { kernel->run(i); };
    label = s.impl;
  } else {
    if (!force_target(s.impl)) {
      state.SkipWithError("target not supported");
      return;
    }
    call = logitkit_call(s, d);
    label = "logitkit " + s.impl;
  }
  const std::size_t pairs = d.buffers.size();
  call(0);  // warm-up: first-touch, lazy initialisation, thread start
  std::size_t i = pairs > 1 ? 1 : 0;
  for (auto _ : state) {
    call(i);
    benchmark::DoNotOptimize(d.buffers[i].y);
    benchmark::ClobberMemory();
    if (++i == pairs) i = 0;
  }
  if (!s.peer) reset_target();
  const auto iters = static_cast<double>(state.iterations());
  state.SetItemsProcessed(static_cast<std::int64_t>(iters * s.shape.rows * s.shape.cols));
  state.SetBytesProcessed(static_cast<std::int64_t>(iters * bytes_of(s)));
  state.counters["rows"] = static_cast<double>(s.shape.rows);
  state.counters["cols"] = static_cast<double>(s.shape.cols);
  state.counters["pairs"] = static_cast<double>(pairs);
  state.SetLabel(label);
}

// Whether a peer implements an op (asked once, on a tiny case).
bool peer_supports(const Peer& p, Op op) {
  static std::map<std::pair<std::string, Op>, bool> known;
  auto [it, fresh] = known.try_emplace({p.name, op}, false);
  if (fresh) {
    std::vector<float> x(16, 0.0f), y(16, 0.0f);
    const Buffers b{x.data(), y.data()};
    it->second = p.make(Case{op, 2, 8, 1, std::span<const Buffers>(&b, 1)}) != nullptr;
  }
  return it->second;
}

std::set<std::string> g_registered;

void add(const Spec& s) {
  const std::string name = name_of(s);
  if (!g_registered.insert(name).second) return;
  benchmark::RegisterBenchmark(name.c_str(), [s](benchmark::State& st) { run_case(st, s); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

struct Who {
  bool logitkit = true;        // logitkit at the given targets, accurate and fast
  bool softmax_peers = true;   // torch, onednn, xnnpack, eigen, plain
  bool memory_peers = true;    // memcpy, stream_copy, stream_read
};

// logitkit (on `targets`, both precisions) and the chosen peers on one case.
void add_all(Op op, DType dtype, Shape shape, Dist dist, bool cold, int threads,
             const std::vector<std::string>& targets, Who who = {}) {
  Spec s{op, dtype, "", false, Precision::kAccurate, shape, dist, cold, threads};
  if (who.logitkit) {
    for (const std::string& t : targets) {
      for (Precision p : {Precision::kAccurate, Precision::kFast}) {
        s.impl = t;
        s.precision = p;
        add(s);
      }
    }
  }
  if (dtype != DType::kF32) return;  // the peers take float input only
  s.peer = true;
  s.precision = Precision::kAccurate;
  for (const Peer& p : peers()) {
    if (!(p.memory_limit ? who.memory_peers : who.softmax_peers) || !peer_supports(p, op)) continue;
    s.impl = p.name;
    add(s);
  }
}

void register_all(bool quick) {
  const TargetInfo info = targets();
  const std::vector<std::string> best{info.chosen};
  // docs/design.md §4 shapes (tiny stand-ins in quick mode).
  const std::vector<Shape> shapes =
      quick ? std::vector<Shape>{{1, 1000}, {64, 10}}
            : std::vector<Shape>{{1, 32000},    {64, 32000},  {4096, 1000},
                                 {512, 128256}, {65536, 10},  {8, 1048576}};
  const std::vector<Shape> in_cache = quick ? std::vector<Shape>{{1, 1000}}
                                            : std::vector<Shape>{{1, 32000}, {64, 32000},
                                                                 {4096, 1000}, {65536, 10}};
  const Shape long_row = quick ? Shape{1, 4096} : Shape{1, 1048576};
  const std::size_t sweep_total = quick ? (1u << 10) : (1u << 22);
  const std::size_t sweep_max_log2 = quick ? 10 : 22;
  const std::size_t sweep_step = quick ? 7 : 1;
  const std::vector<Shape> few = quick ? std::vector<Shape>{shapes[0]} : shapes;

  // Every op on every shape, 1 thread, data reused (hot), N(0, 3^2): logitkit and every peer.
  for (Op op : {Op::kSoftmax, Op::kLogSoftmax, Op::kLogSumExp}) {
    for (Shape sh : shapes) add_all(op, DType::kF32, sh, Dist::kNormal, false, 1, best);
  }
  // Every supported SIMD target, softmax, on the cache-resident shapes.
  for (Shape sh : quick ? few : in_cache) {
    add_all(Op::kSoftmax, DType::kF32, sh, Dist::kNormal, false, 1, info.supported,
            Who{true, false, false});
  }
  // Cold cache: buffers rotated past the last-level cache.
  for (Shape sh : in_cache) add_all(Op::kSoftmax, DType::kF32, sh, Dist::kNormal, true, 1, best);
  // The underflow-heavy spread: softmax on every shape, the other ops on the cache-resident ones.
  for (Op op : {Op::kSoftmax, Op::kLogSoftmax, Op::kLogSumExp}) {
    for (Shape sh : quick ? few : (op == Op::kSoftmax ? shapes : in_cache)) {
      add_all(op, DType::kF32, sh, Dist::kSpread, false, 1, best, Who{true, true, false});
    }
  }
  // 1 and 2 threads for everyone, one long row included.
  for (int t : {1, 2}) {
    for (Shape sh : few) add_all(Op::kSoftmax, DType::kF32, sh, Dist::kNormal, false, t, best);
    add_all(Op::kSoftmax, DType::kF32, long_row, Dist::kNormal, false, t, best);
  }
  // bf16 input, float output.
  for (Op op : {Op::kSoftmax, Op::kLogSoftmax, Op::kLogSumExp}) {
    for (Shape sh : few) add_all(op, DType::kBF16, sh, Dist::kNormal, false, 1, best);
  }
  // Row length swept at a fixed total size.
  for (std::size_t lg = 3; lg <= sweep_max_log2; lg += sweep_step) {
    const std::size_t cols = std::size_t{1} << lg;
    add_all(Op::kSoftmax, DType::kF32, Shape{sweep_total / cols, cols}, Dist::kNormal, false, 1,
            best, Who{true, true, false});
    Spec memcpy_spec{Op::kSoftmax, DType::kF32, "memcpy", true, Precision::kAccurate,
                     Shape{sweep_total / cols, cols}, Dist::kNormal, false, 1};
    add(memcpy_spec);
  }
}

}  // namespace
}  // namespace logitkit::bench

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
  if (quick) logitkit::bench::g_cold_bytes = std::size_t{1} << 20;
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  for (const std::string& v : logitkit::bench::peer_versions()) {
    benchmark::AddCustomContext("peer " + v.substr(0, v.find(' ')), v);
  }
  const logitkit::TargetInfo info = logitkit::targets();
  std::string supported;
  for (const std::string& t : info.supported) supported += (supported.empty() ? "" : " ") + t;
  benchmark::AddCustomContext("logitkit_targets", supported);
  benchmark::AddCustomContext("logitkit_chosen", info.chosen);
  logitkit::bench::register_all(quick);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
