// SPDX-License-Identifier: Apache-2.0
// The native side of web/bench/bench.mjs: softmax on one thread with dispatch pinned to a target
// (default AVX2), and one sampled token; prints the median time of each in ns, one JSON line.
//   native_bench TARGET ROWS COLS REPS        softmax [ROWS, COLS]
//   native_bench TARGET sample V REPS         one token at temperature 0.8, V logits
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "logitkit/logitkit.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: native_bench TARGET ROWS COLS REPS | TARGET sample V REPS\n");
    return 2;
  }
  if (!logitkit::force_target(argv[1])) {
    std::fprintf(stderr, "native_bench: target %s is not supported here\n", argv[1]);
    return 2;
  }
  const bool sample = std::string(argv[2]) == "sample";
  const std::size_t rows = sample ? 1 : std::strtoull(argv[2], nullptr, 10);
  const std::size_t cols = std::strtoull(argv[3], nullptr, 10);
  const int reps = std::atoi(argv[4]);
  std::vector<float> x(rows * cols), y(rows * cols);
  std::uint32_t s = 2463534242u;  // N(0, 1)-like: Irwin-Hall of 4 xorshift32 uniforms, as bench.mjs
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s / 4294967296.0;
  };
  for (float& v : x) v = static_cast<float>((next() + next() + next() + next() - 2.0) * std::sqrt(3.0));
  logitkit::SoftmaxOptions o;
  o.threads = 1;
  logitkit::SamplingParams p;
  p.temperature = 0.8;
  std::vector<double> t;
  volatile int sink = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (sample) {
      sink = sink + logitkit::sample(x, p, 0, static_cast<std::uint64_t>(r)).token;
    } else {
      logitkit::softmax(logitkit::Rows<const float>{x.data(), rows, cols, cols},
                        logitkit::Rows<float>{y.data(), rows, cols, cols}, o);
    }
    t.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  std::printf("{\"target\":\"%s\",\"median_ns\":%.0f}\n", logitkit::targets().chosen.c_str(), t[t.size() / 2]);
  return 0;
}
