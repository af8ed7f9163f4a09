// SPDX-License-Identifier: Apache-2.0
// What two threads can give on this machine, without memory: the throughput of 2 threads over 1
// for two pure compute loops that fit in registers (8 independent chains of floating-point
// multiply-adds; 4 chains of integer multiply-adds), each thread doing the same work. Where the
// CPUs the OS sees are two hardware threads of one core (or the hypervisor shares a core), this
// stays well below 2: it bounds what any compute-bound kernel gains from a second thread.
// scripts/bench.sh runs it; docs/performance.md prints the figures beside the 2-thread goals.
//   scaling_probe [--iters N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

volatile double g_sink = 0;

// 8 independent chains a = a * m + c: bound by the floating-point pipes, not by latency.
__attribute__((noinline)) double fp_work(long iters) {
  double a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const double m = 0.9999999, c = 1e-7;
  for (long i = 0; i < iters; ++i) {
    for (double& v : a) v = v * m + c;
  }
  double s = 0;
  for (double v : a) s += v;
  return s;
}

__attribute__((noinline)) double int_work(long iters) {
  unsigned long x = 1, y = 2, z = 3, w = 4;
  for (long i = 0; i < iters; ++i) {
    x = x * 3 + 1;
    y = y * 5 + 2;
    z = z * 7 + 3;
    w = w * 9 + 4;
  }
  return static_cast<double>(x ^ y ^ z ^ w);
}

template <class F>
double seconds(int threads, F f) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back([&] { g_sink = g_sink + f(); });
  g_sink = g_sink + f();
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  long iters = 100000000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = std::atol(argv[++i]);
  }
  std::printf("scaling_probe: %u CPUs seen, %ld iterations per thread, 1 and 2 threads "
              "interleaved, 5 rounds\n", std::thread::hardware_concurrency(), iters);
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<double> r;
    for (int round = 0; round < 5; ++round) {
      auto f = [&] { return kind == 0 ? fp_work(iters) : int_work(iters); };
      const double t1 = seconds(1, f), t2 = seconds(2, f);
      r.push_back(2 * t1 / t2);  // 2 threads do twice the work in t2
    }
    std::sort(r.begin(), r.end());
    std::printf("scaling_probe %s=%.3f (2-thread throughput / 1-thread, median; range %.3f-%.3f)\n",
                kind == 0 ? "fp" : "int", r[2], r[0], r[4]);
  }
  return 0;
}
