// SPDX-License-Identifier: Apache-2.0
// Reproducibility: bitwise identical results for every thread count, SIMD target and batch.
#include <cstddef>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/logitkit.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

enum Op { kSoftmax, kLogSoftmax, kLogSumExp };

// Runs one op over rows x cols with the given options; returns every output.
std::vector<float> run(Op op, const std::vector<float>& x, std::size_t rows, std::size_t cols,
                       const SoftmaxOptions& o) {
  const Rows<const float> xr{x.data(), rows, cols, cols};
  if (op == kLogSumExp) {
    std::vector<float> out(rows);
    logsumexp(xr, out, o);
    return out;
  }
  std::vector<float> y(rows * cols);
  const Rows<float> yr{y.data(), rows, cols, cols};
  if (op == kSoftmax) {
    softmax(xr, yr, o);
  } else {
    log_softmax(xr, yr, o);
  }
  return y;
}

struct Shape {
  std::size_t rows, cols;
};
// Many short rows, rows of a vocabulary, and single long rows that are split across threads.
constexpr Shape kShapes[] = {{257, 7}, {300, 40}, {9, 32000}, {1, 70001}, {1, 1 << 20}, {3, 200000}};

std::vector<float> logits(std::size_t n, test::Rng& rng) {
  // A mix of the accuracy test's families, including masks and an underflowing spread.
  std::vector<float> x = test::make_logits(test::Kind::kMasked, n, rng);
  for (std::size_t i = 0; i < n; i += 3) x[i] = rng.uniform(-300, 40);
  return x;
}

TEST(SoftmaxThreadingTest, ThreadCountsGiveIdenticalBits) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(21);
  for (const Shape& s : kShapes) {
    const std::vector<float> x = logits(s.rows * s.cols, rng);
    for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
      for (Op op : {kSoftmax, kLogSoftmax, kLogSumExp}) {
        const SoftmaxOptions base{.temperature = 0.7, .precision = prec, .threads = 1};
        const std::vector<float> one = run(op, x, s.rows, s.cols, base);
        for (int threads : {2, 3, 8, 0}) {
          SoftmaxOptions o = base;
          o.threads = threads;
          EXPECT_TRUE(test::bitwise_equal(one, run(op, x, s.rows, s.cols, o)))
              << "op " << op << " shape [" << s.rows << ", " << s.cols << "] threads " << threads
              << (prec == Precision::kFast ? " kFast" : "");
        }
      }
    }
  }
}

TEST(SoftmaxThreadingTest, TargetsGiveIdenticalBits) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(22);
  for (const Shape& s : {Shape{300, 40}, Shape{5, 3 * 16 + 1}, Shape{2, 100000}, Shape{64, 5}}) {
    const std::vector<float> x = logits(s.rows * s.cols, rng);
    for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
      for (Op op : {kSoftmax, kLogSoftmax, kLogSumExp}) {
        const SoftmaxOptions o{.temperature = 1.3, .precision = prec, .threads = 2};
        std::vector<float> first;
        std::string first_target;
        test::for_each_target([&](const std::string& target) {
          const std::vector<float> got = run(op, x, s.rows, s.cols, o);
          if (first.empty()) {
            first = got;
            first_target = target;
            return;
          }
          EXPECT_TRUE(test::bitwise_equal(first, got))
              << "op " << op << " shape [" << s.rows << ", " << s.cols << "] " << target << " vs "
              << first_target << (prec == Precision::kFast ? " kFast" : "");
        });
      }
    }
  }
}

TEST(SoftmaxThreadingTest, RowAloneOrInBatchGivesIdenticalBits) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(23);
  for (std::size_t cols : {1u, 5u, 16u, 17u, 1000u, 40000u}) {
    const std::size_t rows = 6;
    std::vector<float> x = logits(rows * cols, rng);
    // Neighbours with special rows: all -inf, +inf and NaN must not disturb row 2.
    std::fill(x.begin(), x.begin() + cols, -test::kInf);
    x[cols] = test::kInf;
    x[3 * cols] = test::kNaN;
    for (Op op : {kSoftmax, kLogSoftmax, kLogSumExp}) {
      const std::vector<float> batch = run(op, x, rows, cols, {.threads = 2});
      for (std::size_t r = 0; r < rows; ++r) {
        const std::vector<float> row(x.begin() + r * cols, x.begin() + (r + 1) * cols);
        const std::vector<float> alone = run(op, row, 1, cols, {.threads = 1});
        const std::size_t w = op == kLogSumExp ? 1 : cols;
        const std::vector<float> in_batch(batch.begin() + r * w, batch.begin() + (r + 1) * w);
        EXPECT_TRUE(test::bitwise_equal(alone, in_batch)) << "op " << op << " cols " << cols << " row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace logitkit
