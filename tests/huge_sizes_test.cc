// SPDX-License-Identifier: Apache-2.0
// Views beyond 2^31 elements (huge row_stride, a row of 2^31 + 16 entries) without the memory.
//
// The views live in reserved address space (mmap PROT_NONE, MAP_NORESERVE): only the pages that
// hold the rows are made accessible, so an index computed in 32 bits (or a row start computed
// as int * int) lands on a PROT_NONE page and crashes, or reads the wrong row and fails the
// comparison. The long row is read from untouched anonymous memory, which the kernel backs with
// its shared zero page: 8 GiB read, a few pages resident.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

#include "logitkit/softmax.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

// A reservation of `bytes` of address space with nothing accessible; pages are opened on demand.
class Reservation {
 public:
  explicit Reservation(std::size_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~Reservation() {
    if (base_) munmap(base_, bytes_);
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  bool ok() const { return base_ != nullptr; }
  template <class T>
  T* at(std::size_t element) const { return reinterpret_cast<T*>(base_) + element; }
  // Makes [p, p + n) readable and writable (whole pages).
  template <class T>
  bool open(T* p, std::size_t n) const {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(p) / page * page;
    const auto end = reinterpret_cast<std::uintptr_t>(p + n);
    return mprotect(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE) == 0;
  }

 private:
  char* base_;
  std::size_t bytes_;
};

constexpr std::size_t kCols = 40;

template <class T>
void fill_row(T* row, std::size_t r) {
  for (std::size_t i = 0; i < kCols; ++i) row[i] = static_cast<T>(std::sin(0.37 * i + r) * 9.0);
  row[(r * 7) % kCols] = -std::numeric_limits<T>::infinity();  // a masked entry per row
}

// rows x row_stride far beyond 2^31 (and 2^32) elements; only the rows' pages exist. Every op
// must give, for each row, bitwise the result of that row alone in a compact buffer, and reject a
// row_stride below cols before touching memory.
template <class T>
void strided_view_beyond_2p31() {
  for (const std::size_t stride : {(std::size_t{1} << 31) - 3, (std::size_t{1} << 31) + 5,
                                   (std::size_t{1} << 32) + 3}) {
    SCOPED_TRACE("row_stride " + std::to_string(stride));
    constexpr std::size_t kRows = 3;
    const std::size_t span = (kRows - 1) * stride + kCols;
    Reservation xs(span * sizeof(T)), ys(span * sizeof(T));
    if (!xs.ok() || !ys.ok()) GTEST_SKIP() << "cannot reserve " << span * sizeof(T) << " bytes";
    const Rows<T> x{xs.at<T>(0), kRows, kCols, stride};
    const Rows<T> y{ys.at<T>(0), kRows, kCols, stride};
    for (std::size_t r = 0; r < kRows; ++r) {
      ASSERT_TRUE(xs.open(x.row(r), kCols) && ys.open(y.row(r), kCols));
    }
    // The result of each row alone, in a compact buffer.
    auto alone = [&](auto op, std::size_t r, const SoftmaxOptions& o) {
      std::vector<T> out(kCols);
      op(one_row<const T>(x.row(r), kCols), one_row(out.data(), kCols), o);
      return out;
    };
    auto same_row = [&](const std::vector<T>& want, std::size_t r) {
      return std::memcmp(want.data(), y.row(r), kCols * sizeof(T)) == 0;
    };
    for (int threads : {1, 2}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      SoftmaxOptions o;
      o.threads = threads;
      o.temperature = 0.8;
      for (std::size_t r = 0; r < kRows; ++r) fill_row(x.row(r), r);
      auto sm = [](Rows<const T> a, Rows<T> b, const SoftmaxOptions& op) { softmax(a, b, op); };
      auto lsm = [](Rows<const T> a, Rows<T> b, const SoftmaxOptions& op) { log_softmax(a, b, op); };
      log_softmax(Rows<const T>(x), y, o);
      for (std::size_t r = 0; r < kRows; ++r) EXPECT_TRUE(same_row(alone(lsm, r, o), r)) << "log_softmax row " << r;
      std::vector<T> lse(kRows);
      logsumexp(Rows<const T>(x), std::span<T>(lse), o);
      for (std::size_t r = 0; r < kRows; ++r) {
        T want;
        logsumexp(one_row<const T>(x.row(r), kCols), std::span<T>(&want, 1), o);
        EXPECT_EQ(std::memcmp(&want, &lse[r], sizeof(T)), 0) << "logsumexp row " << r;
      }
      softmax(Rows<const T>(x), y, o);
      for (std::size_t r = 0; r < kRows; ++r) EXPECT_TRUE(same_row(alone(sm, r, o), r)) << "softmax row " << r;
      // softmax_backward over the huge views with dy = x, dx written over x (dx may alias dy).
      std::vector<std::vector<T>> want_dx(kRows, std::vector<T>(kCols));
      for (std::size_t r = 0; r < kRows; ++r) {
        softmax_backward(one_row<const T>(y.row(r), kCols), one_row<const T>(x.row(r), kCols),
                         one_row(want_dx[r].data(), kCols), o);
      }
      softmax_backward(Rows<const T>(y), Rows<const T>(x), x, o);
      for (std::size_t r = 0; r < kRows; ++r) {
        EXPECT_EQ(std::memcmp(want_dx[r].data(), x.row(r), kCols * sizeof(T)), 0) << "softmax_backward row " << r;
      }
    }
    // Validation still applies to huge views, before any access.
    const Rows<const T> bad{x.data, kRows, kCols, kCols - 1};
    EXPECT_THROW(softmax(bad, y), std::invalid_argument);
  }
}

TEST(HugeSizes, StridedViewBeyond2p31Float) { strided_view_beyond_2p31<float>(); }
TEST(HugeSizes, StridedViewBeyond2p31Double) { strided_view_beyond_2p31<double>(); }

// One row of 2^31 + 16 floats (8 GiB of address space, read from the zero page) with two
// non-zero entries, one past index 2^31: logsumexp, LseState and the row's threads must see
// every entry.
TEST(HugeSizes, SingleRowBeyond2p31) {
  const std::size_t n = (std::size_t{1} << 31) + 16;
  Reservation xs(n * sizeof(float));
  if (!xs.ok()) GTEST_SKIP() << "cannot reserve " << n * sizeof(float) << " bytes";
  float* x = xs.at<float>(0);
  ASSERT_EQ(mprotect(x, n * sizeof(float), PROT_READ | PROT_WRITE), 0);
  const std::size_t far = (std::size_t{1} << 31) + 9;
  x[3] = 5.0f;
  x[far] = 7.0f;
  // log(e^5 + e^7 + (n - 2) e^0), split across 2 threads (the second one's range starts past
  // 2^30 and runs past 2^31).
  const long double want = std::log(std::exp(5.0L) + std::exp(7.0L) + static_cast<long double>(n - 2));
  SoftmaxOptions o;
  o.threads = 2;
  float lse = 0;
  logsumexp(one_row<const float>(x, n), std::span<float>(&lse, 1), o);
  const float w = static_cast<float>(want);
  EXPECT_LE(std::fabs(lse - want), 2 * (std::nextafter(w, 100.0f) - w)) << "logsumexp " << lse;
  // LseState merges 2^17 chunk states: 2^-52 relative per merge, plus the kernel's exp (1e-10,
  // softmax.h).
  const double state = LseState::of(std::span<const float>(x, n)).logsumexp();
  EXPECT_NEAR(state, static_cast<double>(want), (n / 16384 + 1) * 0x1p-52 + 1e-10 * static_cast<double>(want));
}

}  // namespace
}  // namespace logitkit
