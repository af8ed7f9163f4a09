// SPDX-License-Identifier: Apache-2.0
// Batches of short and medium rows (processed several rows at a time, one row per vector lane)
// against the same rows one at a time (a single row takes the row-by-row chunk kernels), bit for
// bit: every row length 1..128, every target, random and adversarial rows, every option.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "logitkit/softmax.h"
#include "logitkit/targets.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

using test::kInf;
using test::kNaN;

enum Op { kSoftmax, kLogSoftmax, kLogSumExp };

// op on rows x rows of cols (row stride `stride` >= cols); returns the outputs, packed.
std::vector<float> run(Op op, const std::vector<float>& x, std::size_t rows, std::size_t cols,
                       std::size_t stride, const SoftmaxOptions& o, bool in_place = false) {
  Rows<const float> xr{x.data(), rows, cols, stride};
  std::vector<float> y(rows * stride, -7.0f), out;
  if (op == kLogSumExp) {
    out.resize(rows);
    logsumexp(xr, out, o);
    return out;
  }
  if (in_place) y = x;
  Rows<float> yr{y.data(), rows, cols, stride};
  if (in_place) xr = yr;
  if (op == kSoftmax) {
    softmax(xr, yr, o);
  } else {
    log_softmax(xr, yr, o);
  }
  for (std::size_t r = 0; r < rows; ++r) {
    out.insert(out.end(), y.begin() + r * stride, y.begin() + r * stride + cols);
  }
  return out;
}

// A batch of rows of length n: random families, then adversarial rows (NaN, +inf, all -inf,
// ties, -0, subnormals, a spread past the exps' clamps, entries at the float exp's clamp edge).
std::vector<float> make_batch(std::size_t n, std::size_t rows, test::Rng& rng) {
  std::vector<float> x;
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<float> row =
        test::make_logits(test::kAllKinds[r % std::size(test::kAllKinds)], n, rng);
    switch (r % 13) {
      case 1: row[rng.below(n)] = kNaN; break;
      case 2: row[rng.below(n)] = kInf; break;
      case 3: row.assign(n, -kInf); break;
      case 4: row[rng.below(n)] = kInf; row[rng.below(n)] = kInf; row[rng.below(n)] = -kInf; break;
      case 5:
        for (auto& v : row) v = (rng.below(2) ? 1 : -1) * 1e-41f * static_cast<float>(rng.below(9));
        row[rng.below(n)] = -0.0f;
        break;
      case 6:
        for (auto& v : row) v = rng.uniform(-3000, 3000);
        break;
      case 7:  // around the float exp's underflow bound: (x - max) near -87.3
        for (auto& v : row) v = -87.3f + rng.uniform(-0.01, 0.01);
        row[rng.below(n)] = 0.0f;
        break;
      case 8:
        for (auto& v : row) v = rng.below(3) ? -kInf : rng.uniform(-5, 5);
        break;
      case 9: row.assign(n, 2.5f); break;
      case 10:
        for (auto& v : row) v = rng.uniform(-1, 1) * 3e38f;
        break;
      default: break;
    }
    x.insert(x.end(), row.begin(), row.end());
  }
  return x;
}

TEST(SoftmaxMediumRowsTest, BatchesGiveTheBitsOfSingleRows) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(91);
  constexpr std::size_t kRows = 29;
  std::vector<std::vector<float>> batches;
  for (std::size_t n = 1; n <= 128; ++n) batches.push_back(make_batch(n, kRows, rng));
  const double taus[] = {1.0, 0.7, 3.0, 1e-3, 1e-40, 0.0, std::numeric_limits<double>::infinity()};
  test::for_each_target([&](const std::string&) {
    for (std::size_t n = 1; n <= 128; ++n) {
      const std::vector<float>& x = batches[n - 1];
      for (double tau : taus) {
        for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
          for (EmptyRow er : {EmptyRow::kZeros, EmptyRow::kNaN}) {
            const SoftmaxOptions o{
                .temperature = tau, .empty_row = er, .precision = prec, .threads = 1};
            for (Op op : {kSoftmax, kLogSoftmax, kLogSumExp}) {
              std::vector<float> rowwise;
              for (std::size_t r = 0; r < kRows; ++r) {
                const std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
                const std::vector<float> got = run(op, row, 1, n, n, o);
                rowwise.insert(rowwise.end(), got.begin(), got.end());
              }
              SCOPED_TRACE("n " + std::to_string(n) + " tau " + std::to_string(tau) + " op " +
                           std::to_string(op) + (prec == Precision::kFast ? " kFast" : "") +
                           (er == EmptyRow::kNaN ? " kNaN" : ""));
              ASSERT_TRUE(test::bitwise_equal(rowwise, run(op, x, kRows, n, n, o)));
              if (op != kLogSumExp) {
                ASSERT_TRUE(test::bitwise_equal(rowwise, run(op, x, kRows, n, n, o, true)));
              }
              // A strided view and two threads.
              std::vector<float> strided(kRows * (n + 3), 1e30f);
              for (std::size_t r = 0; r < kRows; ++r) {
                std::memcpy(&strided[r * (n + 3)], &x[r * n], n * sizeof(float));
              }
              SoftmaxOptions o2 = o;
              o2.threads = 2;
              ASSERT_TRUE(test::bitwise_equal(rowwise, run(op, strided, kRows, n, n + 3, o2)));
            }
          }
        }
      }
    }
  });
}

// The batch kernels on every target give the same bits, for every row length 1..128.
TEST(SoftmaxMediumRowsTest, TargetsGiveIdenticalBits) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(92);
  constexpr std::size_t kRows = 53;
  for (std::size_t n = 1; n <= 128; ++n) {
    const std::vector<float> x = make_batch(n, kRows, rng);
    for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
      for (Op op : {kSoftmax, kLogSoftmax, kLogSumExp}) {
        const SoftmaxOptions o{.temperature = 0.9, .precision = prec, .threads = 1};
        std::vector<float> first;
        std::string first_target;
        test::for_each_target([&](const std::string& target) {
          const std::vector<float> got = run(op, x, kRows, n, n, o);
          if (first_target.empty()) {
            first = got;
            first_target = target;
          } else {
            EXPECT_TRUE(test::bitwise_equal(first, got))
                << target << " vs " << first_target << ": n " << n << " op " << op
                << (prec == Precision::kFast ? " kFast" : "");
          }
        });
      }
    }
  }
}

// Batches past 4 MiB, which prefetch their next block while they compute one: the same bits as
// the same rows in batches of 1000 (which do not), contiguous and strided, every target, the
// entries between strided rows left as they were.
TEST(SoftmaxMediumRowsTest, LargeBatchesGiveTheBitsOfSmallOnes) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(93);
  for (std::size_t n : {10, 17, 32, 48}) {  // (48: kFast only; prefetches into L2)
    for (std::size_t stride : {n, n + 5}) {
      const std::size_t rows = (std::size_t{4} << 20) / (stride * sizeof(float)) + 77;
      std::vector<float> x(rows * stride, 1e30f);
      const std::vector<float> packed = make_batch(n, rows, rng);
      for (std::size_t r = 0; r < rows; ++r) {
        std::memcpy(&x[r * stride], &packed[r * n], n * sizeof(float));
      }
      for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
        const SoftmaxOptions o{.temperature = 0.8, .precision = prec, .threads = 1};
        test::for_each_target([&](const std::string& target) {
          for (Op op : {kSoftmax, kLogSoftmax}) {
            std::vector<float> y(rows * stride, -7.0f);
            Rows<const float> xr{x.data(), rows, n, stride};
            Rows<float> yr{y.data(), rows, n, stride};
            if (op == kSoftmax) {
              softmax(xr, yr, o);
            } else {
              log_softmax(xr, yr, o);
            }
            std::vector<float> small(rows * stride, -7.0f);
            for (std::size_t r0 = 0; r0 < rows; r0 += 1000) {
              const std::size_t k = rows - r0 < 1000 ? rows - r0 : 1000;
              Rows<const float> xs{x.data() + r0 * stride, k, n, stride};
              Rows<float> ys{small.data() + r0 * stride, k, n, stride};
              if (op == kSoftmax) {
                softmax(xs, ys, o);
              } else {
                log_softmax(xs, ys, o);
              }
            }
            SCOPED_TRACE(target + " n " + std::to_string(n) + " stride " +
                         std::to_string(stride) + " op " + std::to_string(op) +
                         (prec == Precision::kFast ? " kFast" : ""));
            // Whole buffers: the rows bit for bit, and the gaps still -7 in both.
            ASSERT_TRUE(test::bitwise_equal(small, y));
            for (std::size_t r = 0; r < rows; ++r) {
              for (std::size_t c = n; c < stride; ++c) ASSERT_EQ(y[r * stride + c], -7.0f);
            }
          }
        });
      }
    }
  }
}

}  // namespace
}  // namespace logitkit
