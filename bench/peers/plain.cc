// SPDX-License-Identifier: Apache-2.0
// The plain 3-pass loop a user writes without a SIMD library: max, exp and sum, scale.

#include <algorithm>
#include <cmath>
#include <limits>

#include "bench/peers/adapters.h"
#include "bench/peers/fork_join.h"

namespace logitkit::bench {
namespace {

float row_max(const float* x, std::size_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

void softmax_row(const float* x, float* y, std::size_t n) {
  const float m = row_max(x, n);
  float s = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = std::exp(x[i] - m);
    s += y[i];
  }
  const float inv = 1.0f / s;
  for (std::size_t i = 0; i < n; ++i) y[i] *= inv;
}

float lse_row(const float* x, std::size_t n) {
  const float m = row_max(x, n);
  float s = 0.0f;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  return m + std::log(s);
}

void log_softmax_row(const float* x, float* y, std::size_t n) {
  const float m = row_max(x, n);
  float s = 0.0f;
  for (std::size_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
  const float shift = m + std::log(s);
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] - shift;
}

class Plain final : public Kernel {
 public:
  explicit Plain(const Case& c) : c_(c), pool_(c.threads) {}
  void run(std::size_t i) override {
    const Buffers b = c_.buffers[i];
    const std::size_t n = c_.cols;
    pool_.run(c_.rows, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        switch (c_.op) {
          case Op::kSoftmax: softmax_row(b.x + r * n, b.y + r * n, n); break;
          case Op::kLogSoftmax: log_softmax_row(b.x + r * n, b.y + r * n, n); break;
          case Op::kLogSumExp: b.y[r] = lse_row(b.x + r * n, n); break;
        }
      }
    });
  }

 private:
  Case c_;
  ForkJoin pool_;
};

}  // namespace

std::unique_ptr<Kernel> make_plain(const Case& c) { return std::make_unique<Plain>(c); }

}  // namespace logitkit::bench
