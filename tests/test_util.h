// SPDX-License-Identifier: Apache-2.0
// Shared test helpers: a seeded RNG, a loop over SIMD targets, logit generators, guarded buffers.
#ifndef LOGITKIT_TESTS_TEST_UTIL_H_
#define LOGITKIT_TESTS_TEST_UTIL_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/rows.h"
#include "logitkit/targets.h"

namespace logitkit::test {

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The seed of this run: --gtest_random_seed=N, or the time-derived one gtest picked. Every test
// puts it in a SCOPED_TRACE (LOGITKIT_SEED_TRACE) so a failure can be replayed.
inline std::uint64_t test_seed() {
  return static_cast<std::uint64_t>(testing::UnitTest::GetInstance()->random_seed());
}

// SplitMix64: tiny, and the same sequence with every standard library (no std distributions).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in [lo, hi), rounded to float.
  float uniform(double lo, double hi) { return static_cast<float>(lo + (hi - lo) * unit()); }
  // Uniform integer in [0, n).
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t s_;
};

// A generator for the current test, seeded from the run's seed and a per-call salt.
inline Rng make_rng(std::uint64_t salt = 0) { return Rng(test_seed() * 0x100000001b3ull + salt); }

#define LOGITKIT_SEED_TRACE() \
  SCOPED_TRACE("seed " + std::to_string(::logitkit::test::test_seed()) + \
               " (replay with --gtest_random_seed=" + \
               std::to_string(::logitkit::test::test_seed()) + ")")

// Runs fn(name) once per SIMD target this CPU supports, with dispatch pinned to it, then
// restores the default target (also when fn fails an ASSERT).
template <class Fn>
void for_each_target(Fn&& fn) {
  struct Reset {
    ~Reset() { reset_target(); }
  } reset;
  for (const std::string& name : targets().supported) {
    ASSERT_TRUE(force_target(name)) << name;
    SCOPED_TRACE("target " + name);
    fn(name);
  }
}

// The logit families of the accuracy tests (docs/accuracy.md, "Inputs tried").
enum class Kind {
  kUniform,      // uniform [-10, 10]
  kHigh,         // uniform [90, 100]: overflows exp without the max shift
  kPlus1e4,      // 1e4 + uniform [-10, 10]: the shift must not lose the low bits
  kMinus1e4,     // -1e4 + uniform [-10, 10]
  kHuge,         // near +-3e38: the shift overflows float
  kSpread,       // uniform [-500, 500]: most exponentials underflow
  kSpike,        // uniform [-1, 1] with one entry at +25
  kTies,         // values from {0, 1, 2, 3}: many tied maxima
  kEqual,        // every entry the same value
  kMasked,       // uniform [-10, 10] with about a third -inf (never the whole row)
  kConfident,    // one entry at 0, the others in [-40, -30]: log p_max ~ -1e-13
};
inline constexpr Kind kAllKinds[] = {Kind::kUniform, Kind::kHigh,  Kind::kPlus1e4, Kind::kMinus1e4,
                                     Kind::kHuge,    Kind::kSpread, Kind::kSpike,  Kind::kTies,
                                     Kind::kEqual,   Kind::kMasked, Kind::kConfident};

inline const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kUniform: return "uniform[-10,10]";
    case Kind::kHigh: return "uniform[90,100]";
    case Kind::kPlus1e4: return "1e4+uniform";
    case Kind::kMinus1e4: return "-1e4+uniform";
    case Kind::kHuge: return "near+-3e38";
    case Kind::kSpread: return "uniform[-500,500]";
    case Kind::kSpike: return "spike";
    case Kind::kTies: return "ties";
    case Kind::kEqual: return "all-equal";
    case Kind::kMasked: return "masked";
    case Kind::kConfident: return "confident";
  }
  return "?";
}

inline std::vector<float> make_logits(Kind kind, std::size_t n, Rng& rng) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (kind) {
      case Kind::kUniform: x[i] = rng.uniform(-10, 10); break;
      case Kind::kHigh: x[i] = rng.uniform(90, 100); break;
      case Kind::kPlus1e4: x[i] = static_cast<float>(1e4 + rng.uniform(-10, 10)); break;
      case Kind::kMinus1e4: x[i] = static_cast<float>(-1e4 + rng.uniform(-10, 10)); break;
      case Kind::kHuge: {
        // A few float steps below +3e38 (some ties at the top), or near -3e38.
        const float top = 3e38f;
        const std::uint64_t r = rng.below(8);
        float v = top;
        for (std::uint64_t s = 0; s < r; ++s) v = std::nextafter(v, 0.0f);
        x[i] = rng.below(4) == 0 ? -v : v;
        break;
      }
      case Kind::kSpread: x[i] = rng.uniform(-500, 500); break;
      case Kind::kSpike: x[i] = rng.uniform(-1, 1); break;
      case Kind::kTies: x[i] = static_cast<float>(rng.below(4)); break;
      case Kind::kEqual: x[i] = 1.5f; break;
      case Kind::kMasked: x[i] = rng.below(3) == 0 ? -kInf : rng.uniform(-10, 10); break;
      case Kind::kConfident: x[i] = rng.uniform(-40, -30); break;
    }
  }
  if (n > 0 && (kind == Kind::kSpike || kind == Kind::kConfident || kind == Kind::kMasked)) {
    const std::size_t j = rng.below(n);
    x[j] = kind == Kind::kSpike ? 25.0f : (kind == Kind::kConfident ? 0.0f : rng.uniform(-10, 10));
  }
  return x;
}

inline std::vector<double> to_double(const float* x, std::size_t n) {
  return std::vector<double>(x, x + n);
}

// A rows x cols matrix inside a larger buffer: `offset` floats before the first row (misaligned
// starts), row_stride >= cols (the gap is padding), and guard floats after the last row. Every
// float outside the rows holds a sentinel that no op may change.
class GuardedRows {
 public:
  static constexpr std::size_t kGuard = 19;
  static constexpr float kSentinel = -12345.625f;

  GuardedRows(std::size_t rows, std::size_t cols, std::size_t row_stride, std::size_t offset)
      : rows_(rows), cols_(cols), stride_(row_stride), offset_(offset),
        buf_(offset + (rows == 0 ? 0 : (rows - 1) * row_stride + cols) + kGuard, kSentinel) {}

  float* data() { return buf_.data() + offset_; }
  const float* row(std::size_t r) const { return buf_.data() + offset_ + r * stride_; }
  float* row(std::size_t r) { return buf_.data() + offset_ + r * stride_; }
  Rows<float> view() { return Rows<float>{data(), rows_, cols_, stride_}; }
  Rows<const float> cview() { return Rows<const float>{data(), rows_, cols_, stride_}; }

  void set_row(std::size_t r, const std::vector<float>& v) {
    std::memcpy(row(r), v.data(), cols_ * sizeof(float));
  }
  std::vector<float> get_row(std::size_t r) const {
    return std::vector<float>(row(r), row(r) + cols_);
  }

  // True when every float outside the rows still holds the sentinel.
  bool guards_intact() const {
    const std::size_t span = rows_ == 0 || cols_ == 0 ? 0 : (rows_ - 1) * stride_ + cols_;
    for (std::size_t i = 0; i < buf_.size(); ++i) {
      const bool inside = i >= offset_ && i - offset_ < span && (i - offset_) % stride_ < cols_;
      if (!inside && std::memcmp(&buf_[i], &kSentinel, sizeof(float)) != 0) return false;
    }
    return true;
  }

 private:
  std::size_t rows_, cols_, stride_, offset_;
  std::vector<float> buf_;
};

// Bitwise equality of two float vectors (NaN == NaN of the same bits, -0 != +0), with the first
// differing index in the message.
inline testing::AssertionResult bitwise_equal(const std::vector<float>& a,
                                              const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return testing::AssertionFailure()
             << "first difference at " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return testing::AssertionSuccess();
}

}  // namespace logitkit::test

#endif  // LOGITKIT_TESTS_TEST_UTIL_H_
