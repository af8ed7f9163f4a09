// SPDX-License-Identifier: Apache-2.0
// One logitkit call inside counted_call(), for instruction counts with valgrind --tool=callgrind.
//
// Usage: softmax_count <op>/<target>/<accurate|fast>/<rows>x<cols>/<normal|spread>
// Run as valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_call*' ...
// (scripts/callgrind.sh). Linked with logitkit only, so it starts quickly under valgrind.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "logitkit/logitkit.h"

namespace {

// The inputs of bench/softmax_bench.cc: N(0, 3^2) or uniform over [-1e3, 1e3], fixed seeds.
std::vector<float> logits(std::size_t n, bool spread) {
  std::mt19937_64 rng(spread ? 43 : 42);
  auto uniform = [&rng] { return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53; };
  std::vector<float> x(n);
  for (float& v : x) {
    v = spread ? static_cast<float>(2000.0 * uniform() - 1000.0)
               : static_cast<float>(3.0 * std::sqrt(-2.0 * std::log(uniform())) *
                                    std::cos(6.283185307179586 * uniform()));
  }
  return x;
}

struct Call {
  std::string op;
  logitkit::Rows<const float> x;
  logitkit::Rows<float> y;
  logitkit::SoftmaxOptions options;

  void operator()() const {
    if (op == "softmax") {
      logitkit::softmax(x, y, options);
    } else if (op == "log_softmax") {
      logitkit::log_softmax(x, y, options);
    } else {
      logitkit::logsumexp(x, std::span<float>(y.data, x.rows), options);
    }
  }
};

// The only code callgrind counts.
[[gnu::noinline]] void counted_call(const Call& call) { call(); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> f;
  if (argc == 2) {
    const std::string what = argv[1];
    std::size_t start = 0;
    for (std::size_t slash; (slash = what.find('/', start)) != std::string::npos;
         start = slash + 1) {
      f.push_back(what.substr(start, slash - start));
    }
    f.push_back(what.substr(start));
  }
  if (f.size() != 5 || f[3].find('x') == std::string::npos ||
      (f[0] != "softmax" && f[0] != "log_softmax" && f[0] != "logsumexp")) {
    std::fprintf(stderr, "usage: %s <op>/<target>/<accurate|fast>/<rows>x<cols>/<normal|spread>\n",
                 argv[0]);
    return 2;
  }
  if (!logitkit::force_target(f[1])) {
    std::fprintf(stderr, "target %s not supported here\n", f[1].c_str());
    return 3;
  }
  const std::size_t rows = std::stoul(f[3]);
  const std::size_t cols = std::stoul(f[3].substr(f[3].find('x') + 1));
  const std::vector<float> x = logits(rows * cols, f[4] == "spread");
  std::vector<float> y(rows * cols);
  Call call{f[0], {x.data(), rows, cols, cols}, {y.data(), rows, cols, cols}, {}};
  call.options.precision = f[2] == "fast" ? logitkit::Precision::kFast
                                          : logitkit::Precision::kAccurate;
  call.options.threads = 1;
  call();  // warm-up outside the counted function (lazy initialisation)
  counted_call(call);
  std::printf("%s target=%s elements=%zu\n", argv[1], logitkit::targets().chosen.c_str(),
              rows * cols);
  return 0;
}
