// SPDX-License-Identifier: Apache-2.0
// Eigen softmax as its users write it for a logits vector: (x - x.maxCoeff()).exp(), then / sum().

#include <Eigen/Core>
#include <cmath>

#include "bench/peers/adapters.h"
#include "bench/peers/fork_join.h"

namespace logitkit::bench {
namespace {

using RowVector = Eigen::Array<float, 1, Eigen::Dynamic>;
using ConstRow = Eigen::Map<const RowVector>;
using Row = Eigen::Map<RowVector>;

// Per row, the vector form Eigen's users write for a logits vector. (The whole-matrix broadcast
// form, x.colwise() - x.rowwise().maxCoeff(), does not vectorize exp on row-major data and ran
// 4-8x slower here, so it would flatter us.)
void softmax_row(const float* x, float* y, Eigen::Index n) {
  const ConstRow xr(x, n);
  Row yr(y, n);
  yr = (xr - xr.maxCoeff()).exp();
  yr /= yr.sum();
}

float lse_row(const float* x, Eigen::Index n) {
  const ConstRow xr(x, n);
  const float m = xr.maxCoeff();
  return m + std::log((xr - m).exp().sum());
}

void log_softmax_row(const float* x, float* y, Eigen::Index n) {
  const ConstRow xr(x, n);
  Row yr(y, n);
  const float m = xr.maxCoeff();
  yr = xr - (m + std::log((xr - m).exp().sum()));
}

// Eigen has no threading for coefficient-wise expressions, so 2 threads split the rows.
class EigenKernel final : public Kernel {
 public:
  explicit EigenKernel(const Case& c) : c_(c), pool_(c.threads) {}
  void run(std::size_t i) override {
    const Buffers b = c_.buffers[i];
    const std::size_t n = c_.cols;
    const auto en = static_cast<Eigen::Index>(n);
    pool_.run(c_.rows, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        switch (c_.op) {
          case Op::kSoftmax: softmax_row(b.x + r * n, b.y + r * n, en); break;
          case Op::kLogSoftmax: log_softmax_row(b.x + r * n, b.y + r * n, en); break;
          case Op::kLogSumExp: b.y[r] = lse_row(b.x + r * n, en); break;
        }
      }
    });
  }

 private:
  Case c_;
  ForkJoin pool_;
};

}  // namespace

std::unique_ptr<Kernel> make_eigen(const Case& c) { return std::make_unique<EigenKernel>(c); }

}  // namespace logitkit::bench
