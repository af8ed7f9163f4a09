// SPDX-License-Identifier: Apache-2.0
// Rows that end exactly where readable memory ends (the next page is PROT_NONE), and rows that
// start exactly where it starts: on every SIMD target, for the softmax family and the losses'
// fused kernels (cross-entropy, distillation), both precisions, row lengths with every tail
// length, the kernels never load or store past the rows (a touch past them faults), and the
// results have the same bits as the same call on ordinary memory and on every other target.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "logitkit/softmax.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

using test::for_each_target;

// Readable and writable pages between two PROT_NONE pages.
class FencedPages {
 public:
  explicit FencedPages(std::size_t bytes) {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    inner_ = (bytes + page_ - 1) / page_ * page_;
    total_ = inner_ + 2 * page_;
    void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    ok_ = mprotect(base_, page_, PROT_NONE) == 0 &&
          mprotect(base_ + page_ + inner_, page_, PROT_NONE) == 0;
  }
  ~FencedPages() {
    if (base_) munmap(base_, total_);
  }
  FencedPages(const FencedPages&) = delete;
  FencedPages& operator=(const FencedPages&) = delete;
  bool ok() const { return ok_; }
  // n floats ending at the upper fence.
  float* at_end(std::size_t n) const {
    return reinterpret_cast<float*>(base_ + page_ + inner_) - n;
  }
  // n floats starting at the lower fence.
  float* at_start() const { return reinterpret_cast<float*>(base_ + page_); }

 private:
  std::size_t page_ = 0, inner_ = 0, total_ = 0;
  char* base_ = nullptr;
  bool ok_ = false;
};

std::vector<float> logits(std::size_t n, std::uint64_t salt) {
  test::Rng rng(0x5eed + salt);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(-12.0, 12.0);
  return v;
}

bool same_bits(const float* a, const float* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Every tail length against 16-lane groups and vectors of 4, 8 and 16 floats, the row-per-lane
// batches' lengths, a chunk boundary (16384) and the longer rows' per-chunk tails.
const std::vector<std::size_t> kLengths = [] {
  std::vector<std::size_t> v;
  for (std::size_t n = 1; n <= 80; ++n) v.push_back(n);
  for (std::size_t n : {127, 129, 1000, 4095, 4097, 16383, 16385, 20003}) v.push_back(n);
  return v;
}();

enum class Op { kSoftmax, kLogSoftmax, kLogSumExp };

// Runs op on `rows` contiguous rows of n entries from x into y (or lse).
void run(Op op, const float* x, float* y, float* lse, std::size_t rows, std::size_t n,
         const SoftmaxOptions& o) {
  const Rows<const float> in{x, rows, n, n};
  switch (op) {
    case Op::kSoftmax: softmax(in, Rows<float>{y, rows, n, n}, o); break;
    case Op::kLogSoftmax: log_softmax(in, Rows<float>{y, rows, n, n}, o); break;
    case Op::kLogSumExp: logsumexp(in, std::span<float>(lse, rows), o); break;
  }
}

TEST(SoftmaxPageEnd, NothingPastTheRowsAndTheSameBits) {
  constexpr std::size_t kMaxRows = 6;
  std::size_t max_n = 0;
  for (std::size_t n : kLengths) max_n = n > max_n ? n : max_n;
  FencedPages xp(kMaxRows * max_n * sizeof(float)), yp(kMaxRows * max_n * sizeof(float));
  ASSERT_TRUE(xp.ok() && yp.ok()) << "mmap/mprotect failed";
  for (const Op op : {Op::kSoftmax, Op::kLogSoftmax, Op::kLogSumExp}) {
    for (const Precision prec : {Precision::kAccurate, Precision::kFast}) {
      for (const double tau : {1.0, 0.7}) {
        for (std::size_t n : kLengths) {
          // One row (the row kernels) and several (the row-per-lane kernels for short rows).
          for (std::size_t rows : {std::size_t{1}, kMaxRows}) {
            SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)) + " precision " +
                         std::to_string(static_cast<int>(prec)) + " tau " + std::to_string(tau) +
                         " rows " + std::to_string(rows) + " n " + std::to_string(n));
            const std::size_t total = rows * n;
            const std::vector<float> src = logits(total, n * 7 + rows);
            SoftmaxOptions o;
            o.precision = prec;
            o.temperature = tau;
            std::vector<float> first;  // the first target's output on ordinary memory
            for_each_target([&](const std::string&) {
              std::vector<float> ref_y(total), ref_lse(rows);
              run(op, src.data(), ref_y.data(), ref_lse.data(), rows, n, o);
              const std::vector<float>& ref = op == Op::kLogSumExp ? ref_lse : ref_y;
              if (first.empty()) first = ref;
              EXPECT_TRUE(same_bits(ref.data(), first.data(), ref.size()))
                  << "differs from the first target";
              // Input and output both ending at a fence, then both starting at one.
              for (int place = 0; place < 2; ++place) {
                float* x = place == 0 ? xp.at_end(total) : xp.at_start();
                float* y = place == 0 ? yp.at_end(total) : yp.at_start();
                std::memcpy(x, src.data(), total * sizeof(float));
                std::vector<float> lse(rows);
                run(op, x, y, lse.data(), rows, n, o);
                if (op == Op::kLogSumExp) {
                  EXPECT_TRUE(same_bits(lse.data(), ref.data(), rows)) << "place " << place;
                } else {
                  EXPECT_TRUE(same_bits(y, ref.data(), total)) << "place " << place;
                  // In place, at the fence.
                  run(op, x, x, nullptr, rows, n, o);
                  EXPECT_TRUE(same_bits(x, ref.data(), total)) << "in place, place " << place;
                }
              }
            });
          }
        }
      }
    }
  }
}

// Cross-entropy and distillation (loss, gradient) with logits, teacher and gradient at a fence.
TEST(SoftmaxPageEnd, LossesNothingPastTheRowsAndTheSameBits) {
  constexpr std::size_t kRows = 3;
  std::size_t max_n = 0;
  for (std::size_t n : kLengths) max_n = n > max_n ? n : max_n;
  const std::size_t bytes = kRows * max_n * sizeof(float);
  FencedPages xp(bytes), tp(bytes), gp(bytes);
  ASSERT_TRUE(xp.ok() && tp.ok() && gp.ok()) << "mmap/mprotect failed";
  for (const Precision prec : {Precision::kAccurate, Precision::kFast}) {
    for (const int loss : {0, 1, 2}) {  // cross-entropy, forward KL, Jensen-Shannon
      for (std::size_t n : kLengths) {
        SCOPED_TRACE("loss " + std::to_string(loss) + " precision " +
                     std::to_string(static_cast<int>(prec)) + " n " + std::to_string(n));
        const std::size_t total = kRows * n;
        const std::vector<float> xs = logits(total, n * 3 + 1), ts = logits(total, n * 3 + 2);
        std::vector<std::int64_t> target(kRows);
        for (std::size_t r = 0; r < kRows; ++r) target[r] = static_cast<std::int64_t>((r * 7919) % n);
        // The loss of rows x (teacher t) with the gradient into g.
        const auto call = [&](const float* x, const float* t, float* g) {
          const Rows<const float> xr{x, kRows, n, n};
          const LossOutputs<float> out{Rows<float>{g, kRows, n, n}, {}, {}};
          if (loss == 0) {
            CrossEntropyOptions o;
            o.precision = prec;
            o.temperature = 1.5;
            return cross_entropy(xr, target, o, out);
          }
          DistillationOptions o;
          o.precision = prec;
          o.temperature = 4.0;
          o.divergence = loss == 1 ? Divergence::kForwardKL : Divergence::kJensenShannon;
          return distillation_loss(xr, Rows<const float>{t, kRows, n, n}, o, out);
        };
        std::vector<float> first_g;
        double first_loss = 0.0;
        for_each_target([&](const std::string&) {
          std::vector<float> ref_g(total);
          const double ref = call(xs.data(), ts.data(), ref_g.data());
          if (first_g.empty()) {
            first_g = ref_g;
            first_loss = ref;
          }
          EXPECT_EQ(std::memcmp(&ref, &first_loss, sizeof ref), 0) << "loss differs between targets";
          EXPECT_TRUE(same_bits(ref_g.data(), first_g.data(), total)) << "gradient differs";
          for (int place = 0; place < 2; ++place) {
            float* x = place == 0 ? xp.at_end(total) : xp.at_start();
            float* t = place == 0 ? tp.at_end(total) : tp.at_start();
            float* g = place == 0 ? gp.at_end(total) : gp.at_start();
            std::memcpy(x, xs.data(), total * sizeof(float));
            std::memcpy(t, ts.data(), total * sizeof(float));
            const double l = call(x, t, g);
            EXPECT_EQ(std::memcmp(&l, &ref, sizeof l), 0) << "place " << place;
            EXPECT_TRUE(same_bits(g, ref_g.data(), total)) << "place " << place;
          }
        });
      }
    }
  }
}

}  // namespace
}  // namespace logitkit
