// SPDX-License-Identifier: Apache-2.0
// Eigen softmax as its users write it: rowwise max, exp of the broadcast difference, rowwise sum.

#include <Eigen/Core>
#include <cmath>

#include "bench/peers/adapters.h"
#include "bench/peers/fork_join.h"

namespace logitkit::bench {
namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const Matrix>;
using Map = Eigen::Map<Matrix>;

// Eigen has no threading for coefficient-wise expressions, so 2 threads split the rows.
class EigenKernel final : public Kernel {
 public:
  explicit EigenKernel(const Case& c) : c_(c), pool_(c.threads) {}
  void run(std::size_t i) override {
    const Buffers b = c_.buffers[i];
    const Eigen::Index n = static_cast<Eigen::Index>(c_.cols);
    pool_.run(c_.rows, [&](std::size_t r0, std::size_t r1) {
      const Eigen::Index rows = static_cast<Eigen::Index>(r1 - r0);
      const ConstMap x(b.x + r0 * c_.cols, rows, n);
      switch (c_.op) {
        case Op::kSoftmax: {
          Map y(b.y + r0 * c_.cols, rows, n);
          y = (x.colwise() - x.rowwise().maxCoeff()).array().exp();
          y.array().colwise() /= y.array().rowwise().sum();
          break;
        }
        case Op::kLogSoftmax: {
          Map y(b.y + r0 * c_.cols, rows, n);
          const Eigen::VectorXf m = x.rowwise().maxCoeff();
          const Eigen::VectorXf shift =
              m.array() + (x.colwise() - m).array().exp().rowwise().sum().log();
          y = x.colwise() - shift;
          break;
        }
        case Op::kLogSumExp: {
          Eigen::Map<Eigen::VectorXf> out(b.y + r0, rows);
          const Eigen::VectorXf m = x.rowwise().maxCoeff();
          out = m.array() + (x.colwise() - m).array().exp().rowwise().sum().log();
          break;
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
