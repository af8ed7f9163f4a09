// SPDX-License-Identifier: Apache-2.0
// Semantics of the softmax family (docs/design.md §2) on every target: special values, bad input,
// the double and 16-bit overloads, backward passes and mathematical properties.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/logitkit.h"
#include "tests/reference/reference.h"
#include "tests/test_util.h"

#ifdef LOGITKIT_HAVE_RAPIDCHECK
#include <rapidcheck.h>
#endif

namespace logitkit {
namespace {

using test::kInf;
using test::kNaN;

constexpr float kSentinel = test::GuardedRows::kSentinel;

// 16-bit values built from bits (bfloat16::from_float and float16::from_float/to_float are not
// exported from the shared library, see the report): the upper half of a float, and IEEE half.
bfloat16 bf16_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return bfloat16{static_cast<std::uint16_t>(u >> 16)};  // truncation: still an exact bfloat16
}
float f16_value(float16 h) {
  const int e = (h.bits >> 10) & 0x1f, mant = h.bits & 0x3ff;
  const float sign = (h.bits & 0x8000) ? -1.0f : 1.0f;
  if (e == 0x1f) return mant ? kNaN : sign * kInf;
  if (e == 0) return sign * std::ldexp(static_cast<float>(mant), -24);
  return sign * std::ldexp(static_cast<float>(mant | 0x400), e - 25);
}
// A finite half whose magnitude is below about 2^(max_exp - 15).
float16 random_f16(test::Rng& rng, int max_exp) {
  const auto e = static_cast<std::uint16_t>(rng.below(static_cast<std::size_t>(max_exp)));
  const auto mant = static_cast<std::uint16_t>(rng.below(1024));
  const auto sign = static_cast<std::uint16_t>(rng.below(2) << 15);
  return float16{static_cast<std::uint16_t>(sign | (e << 10) | mant)};
}
constexpr float16 kF16NaN{0x7e00};
constexpr bfloat16 kBf16NaN{0x7fc0};

// Runs softmax, log_softmax and logsumexp on one row (out of place and in place) and compares
// every output with the reference rounded to float: exact for these special rows.
void expect_row_semantics(const std::vector<float>& x, const SoftmaxOptions& o,
                          const std::string& what) {
  SCOPED_TRACE(what + " n=" + std::to_string(x.size()) + " tau=" + std::to_string(o.temperature) +
               (o.empty_row == EmptyRow::kNaN ? " kNaN" : " kZeros") +
               (o.precision == Precision::kFast ? " kFast" : ""));
  const std::size_t n = x.size();
  const ref::RowResult want = ref::row(test::to_double(x.data(), n), o.temperature, o.empty_row);
  for (int op = 0; op < 2; ++op) {
    const auto& w = op == 0 ? want.softmax : want.log_softmax;
    std::vector<float> y(n, kSentinel), z = x;
    if (op == 0) {
      softmax(one_row(x.data(), n), one_row(y.data(), n), o);
      softmax(one_row<const float>(z.data(), n), one_row(z.data(), n), o);
    } else {
      log_softmax(one_row(x.data(), n), one_row(y.data(), n), o);
      log_softmax(one_row<const float>(z.data(), n), one_row(z.data(), n), o);
    }
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n && bad < 3; ++i) {
      const float expect = static_cast<float>(w[i]);
      if (ref::ulp_distance(y[i], expect) != 0) {
        ++bad;
        ADD_FAILURE() << (op == 0 ? "softmax" : "log_softmax") << " [" << i << "] x=" << x[i]
                      << ": got " << y[i] << " want " << expect;
      }
      if (ref::ulp_distance(z[i], expect) != 0) {
        ++bad;
        ADD_FAILURE() << (op == 0 ? "softmax" : "log_softmax") << " in place [" << i
                      << "] x=" << x[i] << ": got " << z[i] << " want " << expect;
      }
    }
  }
  float lse = kSentinel;
  logsumexp(one_row(x.data(), n), std::span<float>(&lse, 1), o);
  EXPECT_EQ(ref::ulp_distance(lse, static_cast<float>(want.logsumexp)), 0u)
      << "logsumexp: got " << lse << " want " << static_cast<double>(want.logsumexp);
}

// Places `pattern` at a few positions of rows of several lengths (short, one vector, the chunked
// long path) filled with `fill`, and checks each.
void expect_patterns(const std::vector<float>& pattern, float fill, const SoftmaxOptions& o,
                     const std::string& what) {
  for (std::size_t n : {pattern.size(), pattern.size() + 13, std::size_t{40000}}) {
    std::vector<float> x(n, fill);
    for (std::size_t k = 0; k < pattern.size(); ++k) x[(k * 7919) % n] = pattern[k];
    if (n == pattern.size()) x = pattern;
    expect_row_semantics(x, o, what);
  }
}

TEST(SoftmaxSemanticsTest, TestAllSpecialValues) {
  test::for_each_target([](const std::string&) {
    for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
      for (double tau : {1.0, 0.5, 0.0, std::numeric_limits<double>::infinity()}) {
        const SoftmaxOptions o{.temperature = tau, .precision = prec};
        // Masked entries (the rest finite): -inf there, exactly 0 / -inf out. Only the limits
        // (tau = 0, +inf) and the all -inf rows are exact; finite tau is in the accuracy test.
        if (tau == 0.0 || std::isinf(tau)) {
          expect_patterns({1.0f, -kInf, 2.0f, -kInf, 2.0f}, -kInf, o, "masked ties");
          expect_patterns({-3.0f, -kInf, -1.0f}, -kInf, o, "masked negative max");
          expect_patterns({0.0f, -kInf, -0.0f, -5.0f}, -kInf, o, "zero max ties");
        }
        for (EmptyRow empty : {EmptyRow::kZeros, EmptyRow::kNaN}) {
          SoftmaxOptions oe = o;
          oe.empty_row = empty;
          expect_patterns({-kInf}, -kInf, oe, "all -inf");
        }
        expect_patterns({1.0f, kInf, -kInf, kInf, 3.0f}, 0.5f, o, "+inf twice");
        expect_patterns({kInf}, -kInf, o, "+inf once among -inf");
        expect_patterns({1.0f, kNaN, kInf}, 2.0f, o, "NaN");
        expect_patterns({-kInf, kNaN}, -kInf, o, "NaN among -inf");
        expect_patterns({1.0f, kNaN, 2.0f}, 0.5f, o, "NaN in a finite row");
      }
    }
  });
}

// The masked entries of an ordinary row are exactly 0 / -inf and the rest sums to 1.
TEST(SoftmaxSemanticsTest, TestAllMaskedEntriesExact) {
  auto rng = test::make_rng(11);
  LOGITKIT_SEED_TRACE();
  test::for_each_target([&](const std::string&) {
    for (std::size_t n : {5u, 33u, 40000u}) {
      std::vector<float> x = test::make_logits(test::Kind::kMasked, n, rng);
      std::vector<float> p(n), lp(n);
      softmax(one_row(x.data(), n), one_row(p.data(), n));
      log_softmax(one_row(x.data(), n), one_row(lp.data(), n));
      double sum = 0;
      for (std::size_t i = 0; i < n; ++i) {
        if (x[i] == -kInf) {
          ASSERT_EQ(p[i], 0.0f) << i;
          ASSERT_FALSE(std::signbit(p[i])) << i;
          ASSERT_EQ(lp[i], -kInf) << i;
        } else {
          ASSERT_TRUE(std::isfinite(lp[i]) && lp[i] <= 0.0f) << i;
        }
        sum += p[i];
      }
      EXPECT_NEAR(sum, 1.0, 2.5e-7);
    }
  });
}

TEST(SoftmaxSemanticsTest, TestAllTemperatureLimits) {
  test::for_each_target([](const std::string&) {
    const std::vector<float> x = {1.0f, 3.0f, -kInf, 3.0f, 2.0f};
    std::vector<float> y(5);
    softmax(one_row(x.data(), 5), one_row(y.data(), 5), {.temperature = 0.0});
    EXPECT_EQ(y, (std::vector<float>{0.0f, 0.5f, 0.0f, 0.5f, 0.0f}));
    softmax(one_row(x.data(), 5), one_row(y.data(), 5),
            {.temperature = std::numeric_limits<double>::infinity()});
    EXPECT_EQ(y, (std::vector<float>{0.25f, 0.25f, 0.0f, 0.25f, 0.25f}));
    log_softmax(one_row(x.data(), 5), one_row(y.data(), 5), {.temperature = 0.0});
    EXPECT_EQ(y[1], static_cast<float>(-std::log(2.0)));
    EXPECT_EQ(y[0], -kInf);
    float lse = 0;
    logsumexp(one_row(x.data(), 5), std::span<float>(&lse, 1), {.temperature = 0.0});
    EXPECT_EQ(lse, kInf);  // max 3 > 0: 3/tau -> +inf
    // A temperature so small that 1/tau overflows is the argmax limit too.
    softmax(one_row(x.data(), 5), one_row(y.data(), 5), {.temperature = 1e-310});
    EXPECT_EQ(y, (std::vector<float>{0.0f, 0.5f, 0.0f, 0.5f, 0.0f}));
  });
}

// ---- bad input ------------------------------------------------------------------------------

// Expects std::invalid_argument whose message contains every fragment.
template <class F>
void expect_invalid(F&& f, std::vector<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one naming " << fragments[0];
  } catch (const std::invalid_argument& e) {
    for (const auto& frag : fragments) {
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << frag << "\"";
    }
  }
}

TEST(SoftmaxSemanticsTest, TestAllNaNThrow) {
  test::for_each_target([](const std::string&) {
    // Row 1, column 5 holds the first NaN (another one later).
    std::vector<float> x(3 * 40, 1.0f);
    x[40 + 5] = kNaN;
    x[2 * 40 + 1] = kNaN;
    const Rows<const float> xr{x.data(), 3, 40, 40};
    const SoftmaxOptions o{.nan = NanPolicy::kThrow};
    std::vector<float> y(x.size(), kSentinel);
    const Rows<float> yr{y.data(), 3, 40, 40};
    expect_invalid([&] { softmax(xr, yr, o); }, {"row 1", "column 5"});
    expect_invalid([&] { log_softmax(xr, yr, o); }, {"row 1", "column 5"});
    std::vector<float> out(3, kSentinel);
    expect_invalid([&] { logsumexp(xr, out, o); }, {"row 1", "column 5"});
    for (float v : y) ASSERT_EQ(v, kSentinel) << "written before throwing";
    for (float v : out) ASSERT_EQ(v, kSentinel) << "written before throwing";
    // In place: x itself unchanged.
    std::vector<float> z = x;
    expect_invalid([&] { softmax(Rows<const float>{z.data(), 3, 40, 40}, Rows<float>{z.data(), 3, 40, 40}, o); },
                   {"row 1", "column 5"});
    EXPECT_TRUE(test::bitwise_equal(z, x));
    // Long rows: the NaN in the last chunk.
    std::vector<float> lx(70000, 0.25f), ly(70000, kSentinel);
    lx[69999] = kNaN;
    expect_invalid([&] { softmax(one_row<const float>(lx.data(), 70000), one_row(ly.data(), 70000), o); },
                   {"row 0", "column 69999"});
    for (float v : ly) ASSERT_EQ(v, kSentinel);
  });
  // double, bfloat16, float16.
  const SoftmaxOptions o{.nan = NanPolicy::kThrow};
  std::vector<double> xd = {1, 2, 3, 4, std::nan(""), 6};
  std::vector<double> yd(6, -7.0);
  expect_invalid([&] { softmax(Rows<const double>{xd.data(), 2, 3, 3}, Rows<double>{yd.data(), 2, 3, 3}, o); },
                 {"row 1", "column 1"});
  for (double v : yd) EXPECT_EQ(v, -7.0);
  std::vector<bfloat16> xb(6, bf16_of(1.0f));
  xb[4] = kBf16NaN;
  std::vector<float> yb(6, kSentinel);
  expect_invalid([&] { log_softmax(Rows<const bfloat16>{xb.data(), 2, 3, 3}, Rows<float>{yb.data(), 2, 3, 3}, o); },
                 {"row 1", "column 1"});
  for (float v : yb) EXPECT_EQ(v, kSentinel);
  std::vector<float16> xh(6, float16{0x3c00});  // 1.0
  xh[2] = kF16NaN;
  std::vector<float> outh(2, kSentinel);
  expect_invalid([&] { logsumexp(Rows<const float16>{xh.data(), 2, 3, 3}, outh, o); }, {"row 0", "column 2"});
  for (float v : outh) EXPECT_EQ(v, kSentinel);
}

TEST(SoftmaxSemanticsTest, BadArguments) {
  std::vector<float> x(12, 1.0f), y(12, kSentinel);
  std::vector<float> out(3, kSentinel);
  const Rows<const float> xr{x.data(), 3, 4, 4};
  const Rows<float> yr{y.data(), 3, 4, 4};
  expect_invalid([&] { softmax(Rows<const float>{nullptr, 3, 4, 4}, yr); }, {"x"});
  expect_invalid([&] { softmax(xr, Rows<float>{nullptr, 3, 4, 4}); }, {"y"});
  expect_invalid([&] { log_softmax(Rows<const float>{x.data(), 3, 4, 3}, yr); }, {"x.row_stride"});
  expect_invalid([&] { log_softmax(xr, Rows<float>{y.data(), 3, 4, 2}); }, {"y.row_stride"});
  expect_invalid([&] { softmax(xr, Rows<float>{y.data(), 2, 4, 4}); }, {"y", "shape"});
  expect_invalid([&] { softmax(xr, Rows<float>{y.data(), 3, 3, 4}); }, {"y", "shape"});
  expect_invalid([&] { logsumexp(xr, std::span<float>(out.data(), 2)); }, {"out"});
  expect_invalid([&] { logsumexp(Rows<const float>{nullptr, 3, 4, 4}, out); }, {"x"});
  for (double tau : {-1.0, -0.0 - 1e-300, std::nan("")}) {
    expect_invalid([&] { softmax(xr, yr, {.temperature = tau}); }, {"temperature"});
    expect_invalid([&] { log_softmax(xr, yr, {.temperature = tau}); }, {"temperature"});
    expect_invalid([&] { logsumexp(xr, out, {.temperature = tau}); }, {"temperature"});
    std::vector<double> xd(12, 1.0), yd(12, -7.0);
    expect_invalid([&] { softmax(Rows<const double>{xd.data(), 3, 4, 4}, Rows<double>{yd.data(), 3, 4, 4},
                                 {.temperature = tau}); },
                   {"temperature"});
    for (double v : yd) EXPECT_EQ(v, -7.0);
  }
  for (float v : y) EXPECT_EQ(v, kSentinel) << "written on bad input";
  for (float v : out) EXPECT_EQ(v, kSentinel) << "written on bad input";
  // Empty views are fine, even with null data.
  softmax(Rows<const float>{nullptr, 0, 4, 4}, Rows<float>{nullptr, 0, 4, 4});
  logsumexp(Rows<const float>{nullptr, 0, 0, 0}, std::span<float>());
  // Backward: shapes and strides.
  const Rows<const float> yc{y.data(), 3, 4, 4};
  expect_invalid([&] { softmax_backward(yc, Rows<const float>{x.data(), 3, 3, 4}, Rows<float>{y.data(), 3, 4, 4}); },
                 {"dy", "shape"});
  expect_invalid([&] { log_softmax_backward(yc, xr, Rows<float>{nullptr, 3, 4, 4}); }, {"dx"});
  expect_invalid([&] { softmax_backward(yc, xr, Rows<float>{y.data(), 3, 4, 4}, {.temperature = -2}); },
                 {"temperature"});
}

// ---- double, bfloat16, float16 ---------------------------------------------------------------

// double: measured against MPFR (long double reference), for |x - max|/tau up to ~1e3.
TEST(SoftmaxSemanticsTest, DoubleAccuracy) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(12);
  constexpr double kBudget = 4.0;  // docs/accuracy.md
  double worst[3] = {0, 0, 0};
  std::string where[3];
  auto track = [&](int op, double err, std::size_t n, double tau, double xi, double got, long double want) {
    if (err > worst[op]) {
      worst[op] = err;
      char buf[160];
      std::snprintf(buf, sizeof buf, "n=%zu tau=%g x=%.17g: got %.17g want %.20Lg", n, tau, xi, got, want);
      where[op] = buf;
    }
  };
  for (std::size_t n : {1u, 2u, 7u, 33u, 1000u}) {
    for (test::Kind kind : {test::Kind::kUniform, test::Kind::kHigh, test::Kind::kPlus1e4,
                            test::Kind::kSpike, test::Kind::kTies, test::Kind::kMasked,
                            test::Kind::kConfident}) {
      for (double tau : {0.07, 0.5, 1.0, 4.0, 1e3}) {
        const std::vector<float> xf = test::make_logits(kind, n, rng);
        std::vector<double> x(n);
        for (std::size_t i = 0; i < n; ++i) x[i] = xf[i] + (std::isfinite(xf[i]) ? rng.unit() * 1e-3 : 0.0);
        const ref::RowResult want = ref::row(x, tau);
        std::vector<double> p(n), lp(n);
        double lse = 0;
        softmax(one_row<const double>(x.data(), n), one_row(p.data(), n), {.temperature = tau});
        log_softmax(one_row<const double>(x.data(), n), one_row(lp.data(), n), {.temperature = tau});
        logsumexp(one_row<const double>(x.data(), n), std::span<double>(&lse, 1), {.temperature = tau});
        for (std::size_t i = 0; i < n; ++i) {
          if (std::fabs(want.softmax[i]) >= DBL_MIN) {
            track(0, ref::ulp_error_f64(p[i], want.softmax[i]), n, tau, x[i], p[i], want.softmax[i]);
          } else {
            EXPECT_LE(std::fabs(p[i] - want.softmax[i]), DBL_MIN);
          }
          track(1, ref::ulp_error_f64(lp[i], want.log_softmax[i]), n, tau, x[i], lp[i], want.log_softmax[i]);
        }
        const double m = *std::max_element(x.begin(), x.end());
        if (std::fabs(want.logsumexp) > 1e-6 * std::max(1.0, std::fabs(m / tau))) {
          track(2, ref::ulp_error_f64(lse, want.logsumexp), n, tau, m, lse, want.logsumexp);
        }
      }
    }
  }
  std::printf("double: max %.3g ulp softmax, %.3g ulp log_softmax, %.3g ulp logsumexp\n", worst[0],
              worst[1], worst[2]);
  for (int op = 0; op < 3; ++op) EXPECT_LE(worst[op], kBudget) << where[op];
}

// bfloat16 / float16 inputs give exactly the f32 results on the converted inputs.
TEST(SoftmaxSemanticsTest, TestAllHalfInputsMatchFloat) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(13);
  test::for_each_target([&](const std::string&) {
    for (std::size_t n : {1u, 17u, 100u, 20000u}) {
      for (test::Kind kind : {test::Kind::kUniform, test::Kind::kMasked, test::Kind::kSpread}) {
        const std::vector<float> src = test::make_logits(kind, 2 * n, rng);
        std::vector<bfloat16> xb(2 * n);
        std::vector<float16> xh(2 * n);
        std::vector<float> fb(2 * n), fh(2 * n);
        for (std::size_t i = 0; i < 2 * n; ++i) {
          xb[i] = bf16_of(src[i]);
          xh[i] = src[i] == -kInf ? float16{0xfc00} : random_f16(rng, 20);
          fb[i] = xb[i].to_float();
          fh[i] = f16_value(xh[i]);
        }
        for (double tau : {1.0, 0.3, 0.0}) {
          const SoftmaxOptions o{.temperature = tau};
          std::vector<float> a(2 * n), b(2 * n), la(2), lb(2);
          const Rows<float> ar{a.data(), 2, n, n}, br{b.data(), 2, n, n};
          softmax(Rows<const bfloat16>{xb.data(), 2, n, n}, ar, o);
          softmax(Rows<const float>{fb.data(), 2, n, n}, br, o);
          EXPECT_TRUE(test::bitwise_equal(a, b)) << "bf16 softmax n=" << n;
          log_softmax(Rows<const float16>{xh.data(), 2, n, n}, ar, o);
          log_softmax(Rows<const float>{fh.data(), 2, n, n}, br, o);
          EXPECT_TRUE(test::bitwise_equal(a, b)) << "f16 log_softmax n=" << n;
          log_softmax(Rows<const bfloat16>{xb.data(), 2, n, n}, ar, o);
          log_softmax(Rows<const float>{fb.data(), 2, n, n}, br, o);
          EXPECT_TRUE(test::bitwise_equal(a, b)) << "bf16 log_softmax n=" << n;
          softmax(Rows<const float16>{xh.data(), 2, n, n}, ar, o);
          softmax(Rows<const float>{fh.data(), 2, n, n}, br, o);
          EXPECT_TRUE(test::bitwise_equal(a, b)) << "f16 softmax n=" << n;
          logsumexp(Rows<const bfloat16>{xb.data(), 2, n, n}, la, o);
          logsumexp(Rows<const float>{fb.data(), 2, n, n}, lb, o);
          EXPECT_TRUE(test::bitwise_equal(la, lb)) << "bf16 logsumexp n=" << n;
          logsumexp(Rows<const float16>{xh.data(), 2, n, n}, la, o);
          logsumexp(Rows<const float>{fh.data(), 2, n, n}, lb, o);
          EXPECT_TRUE(test::bitwise_equal(la, lb)) << "f16 logsumexp n=" << n;
        }
      }
    }
  });
}

// ---- backward -------------------------------------------------------------------------------

// d/dx_j of L(x) = sum_i dy_i f_i(x) by central differences in double.
template <class F>
std::vector<double> finite_difference(const std::vector<double>& x, const std::vector<double>& dy,
                                      F forward) {
  std::vector<double> g(x.size());
  for (std::size_t j = 0; j < x.size(); ++j) {
    const double h = 1e-6 * std::max(1.0, std::fabs(x[j]));
    std::vector<double> xp = x, xm = x;
    xp[j] += h;
    xm[j] -= h;
    const std::vector<double> fp = forward(xp), fm = forward(xm);
    double lp = 0, lm = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      lp += dy[i] * fp[i];
      lm += dy[i] * fm[i];
    }
    g[j] = (lp - lm) / (xp[j] - xm[j]);
  }
  return g;
}

TEST(SoftmaxSemanticsTest, BackwardMatchesFiniteDifferences) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(14);
  for (double tau : {1.0, 0.5, 3.0}) {
    for (std::size_t n : {1u, 2u, 5u, 16u}) {
      std::vector<double> x(n), dy(n);
      for (std::size_t i = 0; i < n; ++i) {
        x[i] = rng.uniform(-3, 3);
        dy[i] = rng.uniform(-1, 1);
      }
      const SoftmaxOptions o{.temperature = tau};
      auto fwd = [&](bool log_form) {
        return [&, log_form](const std::vector<double>& in) {
          std::vector<double> out(n);
          if (log_form) {
            log_softmax(one_row(in.data(), n), one_row(out.data(), n), o);
          } else {
            softmax(one_row(in.data(), n), one_row(out.data(), n), o);
          }
          return out;
        };
      };
      for (bool log_form : {false, true}) {
        const std::vector<double> y = fwd(log_form)(x);
        std::vector<double> dx(n);
        if (log_form) {
          log_softmax_backward(one_row(y.data(), n), one_row(dy.data(), n), one_row(dx.data(), n), o);
        } else {
          softmax_backward(one_row(y.data(), n), one_row(dy.data(), n), one_row(dx.data(), n), o);
        }
        const std::vector<double> fd = finite_difference(x, dy, fwd(log_form));
        double sum = 0;
        for (std::size_t j = 0; j < n; ++j) {
          EXPECT_NEAR(dx[j], fd[j], 1e-7) << (log_form ? "log_softmax" : "softmax") << " tau=" << tau
                                          << " j=" << j;
          sum += dx[j];
        }
        if (!log_form) EXPECT_NEAR(sum, 0.0, 1e-15) << "softmax gradient rows sum to 0";
      }
    }
  }
}

// f32 backward against the formula evaluated in long double from the same y and dy, within the
// documented 2 ULP + 2^-24 |sum term| y_i / tau.
TEST(SoftmaxSemanticsTest, BackwardMatchesFormulaF32) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(15);
  double worst = 0;
  for (double tau : {1.0, 0.07, 20.0}) {
    for (std::size_t n : {3u, 40u, 5000u}) {
      std::vector<float> x = test::make_logits(test::Kind::kMasked, n, rng), dy(n);
      for (auto& v : dy) v = rng.uniform(-2, 2);
      const SoftmaxOptions o{.temperature = tau};
      for (bool log_form : {false, true}) {
        std::vector<float> y(n), dx(n);
        if (log_form) {
          log_softmax(one_row(x.data(), n), one_row(y.data(), n), o);
          log_softmax_backward(one_row(y.data(), n), one_row(dy.data(), n), one_row(dx.data(), n), o);
        } else {
          softmax(one_row(x.data(), n), one_row(y.data(), n), o);
          softmax_backward(one_row(y.data(), n), one_row(dy.data(), n), one_row(dx.data(), n), o);
        }
        long double s = 0, grad_sum = 0;
        for (std::size_t i = 0; i < n; ++i) {
          if (log_form && y[i] != -kInf) s += dy[i];
          if (!log_form) s += static_cast<long double>(dy[i]) * y[i];
        }
        for (std::size_t i = 0; i < n; ++i) {
          long double want;
          double slack;
          if (log_form) {
            const long double p = std::exp(static_cast<long double>(y[i]));
            want = y[i] == -kInf ? 0.0L : (dy[i] - p * s) / tau;
            slack = static_cast<double>(0x1.0p-24L * std::fabs(p * s) / tau);
          } else {
            want = y[i] == 0 ? 0.0L : (dy[i] - s) * y[i] / tau;
            slack = static_cast<double>(0x1.0p-24L * std::fabs(s) * y[i] / tau);
          }
          const double abs = static_cast<double>(std::fabs(dx[i] - want));
          const double ulp = ref::ulp_error_f32(dx[i], want);
          if (ulp > 2.0) worst = std::max(worst, abs / slack);
          EXPECT_TRUE(ulp <= 2.0 || abs <= slack) << "i=" << i << " got " << dx[i] << " want "
                                                  << static_cast<double>(want);
          if (x[i] == -kInf) EXPECT_EQ(dx[i], 0.0f) << "masked entries get no gradient";
          grad_sum += dx[i];
        }
        if (!log_form) EXPECT_NEAR(static_cast<double>(grad_sum), 0.0, 1e-6 / tau);
      }
    }
  }
  std::printf("f32 backward: worst error beyond 2 ulp / documented slack = %.3g\n", worst);
}

// Temperature chain rule: the gradient at tau equals the tau = 1 gradient of x/tau, divided by tau.
TEST(SoftmaxSemanticsTest, BackwardTemperatureChainRule) {
  const std::vector<double> x = {0.5, -1.25, 2.0, 0.75}, dy = {0.3, -0.7, 0.1, 1.0};
  const double tau = 4.0;  // a power of 2: x/tau is exact
  std::vector<double> xs(4), y(4), ys(4), dx(4), dxs(4);
  for (int i = 0; i < 4; ++i) xs[i] = x[i] / tau;
  softmax(one_row(x.data(), 4), one_row(y.data(), 4), {.temperature = tau});
  softmax(one_row(xs.data(), 4), one_row(ys.data(), 4));
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], ys[i], 1e-16);
  softmax_backward(one_row(y.data(), 4), one_row(dy.data(), 4), one_row(dx.data(), 4), {.temperature = tau});
  softmax_backward(one_row(ys.data(), 4), one_row(dy.data(), 4), one_row(dxs.data(), 4));
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dx[i], dxs[i] / tau, 1e-16) << i;
}

TEST(SoftmaxSemanticsTest, BackwardSpecialRows) {
  const std::vector<float> y = {0.0f, 0.5f, 0.5f, 0.0f}, dy = {kInf, 1.0f, -1.0f, 2.0f};
  std::vector<float> dx(4);
  softmax_backward(one_row(y.data(), 4), one_row(dy.data(), 4), one_row(dx.data(), 4));
  EXPECT_EQ(dx[0], 0.0f);
  EXPECT_EQ(dx[3], 0.0f);
  EXPECT_FLOAT_EQ(dx[1], 0.5f);
  softmax_backward(one_row(y.data(), 4), one_row(dy.data(), 4), one_row(dx.data(), 4), {.temperature = 0.0});
  EXPECT_EQ(dx, std::vector<float>(4, 0.0f));
  const std::vector<float> ly = {-kInf, -kInf}, ldy = {1.0f, 2.0f};
  log_softmax_backward(one_row(ly.data(), 2), one_row(ldy.data(), 2), one_row(dx.data(), 2));
  EXPECT_EQ(dx[0], 0.0f);
  EXPECT_EQ(dx[1], 0.0f);
  const std::vector<float> ny = {kNaN, 0.5f};
  softmax_backward(one_row(ny.data(), 2), one_row(ldy.data(), 2), one_row(dx.data(), 2));
  EXPECT_TRUE(std::isnan(dx[0]) && std::isnan(dx[1]));
}

// ---- properties -----------------------------------------------------------------------------

float row_max(const std::vector<float>& x) { return *std::max_element(x.begin(), x.end()); }

TEST(SoftmaxSemanticsTest, TestAllProperties) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(16);
  test::for_each_target([&](const std::string&) {
    for (int rep = 0; rep < 40; ++rep) {
      const std::size_t n = 1 + rng.below(60);
      const double tau = std::ldexp(1.0, static_cast<int>(rng.below(7)) - 3);  // 1/8 .. 8
      const SoftmaxOptions o{.temperature = tau};
      // Integers times 1/64: x + c exact for small integer c, x / 2^k exact.
      std::vector<float> x(n);
      for (auto& v : x) v = static_cast<float>(static_cast<int>(rng.below(2000)) - 1000) / 64;
      std::vector<float> p(n), lp(n), q(n);
      softmax(one_row(x.data(), n), one_row(p.data(), n), o);
      log_softmax(one_row(x.data(), n), one_row(lp.data(), n), o);
      // Shift invariance: exact shifts give identical bits.
      std::vector<float> xs = x;
      for (auto& v : xs) v += 37.0f;
      softmax(one_row(xs.data(), n), one_row(q.data(), n), o);
      EXPECT_TRUE(test::bitwise_equal(p, q)) << "shift invariance";
      // softmax(x, T) == softmax(x/T, 1) (x/T exact for T a power of 2).
      std::vector<float> xt = x;
      for (auto& v : xt) v = static_cast<float>(v / tau);
      softmax(one_row(xt.data(), n), one_row(q.data(), n));
      EXPECT_TRUE(test::bitwise_equal(p, q)) << "temperature inside the exponent, tau=" << tau;
      // Permutation equivariance: a reversed row gives the reversed result within 2 + 2 ULP.
      std::vector<float> xr(x.rbegin(), x.rend());
      softmax(one_row(xr.data(), n), one_row(q.data(), n), o);
      for (std::size_t i = 0; i < n; ++i) EXPECT_LE(ref::ulp_distance(p[i], q[n - 1 - i]), 4u) << i;
      // Order preserved; log_softmax <= 0 and close to log(softmax); lse bounds.
      float lse = 0;
      logsumexp(one_row(x.data(), n), std::span<float>(&lse, 1), o);
      const double m = row_max(x) / tau;
      // max/T <= lse <= max/T + log n, up to the final rounding to float (relative 2^-24).
      const double hi = m + std::log(static_cast<double>(n));
      EXPECT_GE(lse, m - 1.2e-7 * std::fabs(m) - 1e-30);
      EXPECT_LE(lse, hi + 1.2e-7 * std::fabs(hi) + 1e-30);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_LE(lp[i], 0.0f);
        EXPECT_GE(p[i], 0.0f);
        EXPECT_LE(p[i], 1.0f);
        for (std::size_t j = 0; j < n; ++j) {
          if (x[i] < x[j]) ASSERT_LE(p[i], p[j]) << i << " " << j;
        }
        if (p[i] >= FLT_MIN) {
          EXPECT_NEAR(lp[i], std::log(static_cast<double>(p[i])), 3e-7 + 3e-7 * std::fabs(lp[i])) << i;
        }
      }
    }
  });
}

#ifdef LOGITKIT_HAVE_RAPIDCHECK
// The same properties on RapidCheck-generated rows (shrunk to a minimal counterexample on failure).
TEST(SoftmaxSemanticsTest, RapidCheckProperties) {
  EXPECT_TRUE(rc::check("softmax sums to 1, log_softmax <= 0, max <= lse <= max + log n",
                        [](const std::vector<std::int16_t>& ints, std::uint8_t tau_code) {
    RC_PRE(!ints.empty());
    const double tau = 0.05 + tau_code / 16.0;
    const std::size_t n = ints.size();
    std::vector<float> x(n), p(n), lp(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = ints[i] / 256.0f;
    softmax(one_row<const float>(x.data(), n), one_row(p.data(), n), {.temperature = tau});
    log_softmax(one_row<const float>(x.data(), n), one_row(lp.data(), n), {.temperature = tau});
    float lse = 0;
    logsumexp(one_row<const float>(x.data(), n), std::span<float>(&lse, 1), {.temperature = tau});
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) {
      RC_ASSERT(lp[i] <= 0.0f);
      s += p[i];
    }
    RC_ASSERT(std::fabs(s - 1.0) <= 2.5e-7);
    const double m = *std::max_element(x.begin(), x.end()) / tau;
    RC_ASSERT(lse >= m - 1e-6 * std::max(1.0, std::fabs(m)));
    RC_ASSERT(lse <= m + std::log(static_cast<double>(n)) + 1e-6 * std::max(1.0, std::fabs(m)));
  }));
  EXPECT_TRUE(rc::check("shift invariance (exact shifts: identical bits)",
                        [](const std::vector<std::int16_t>& ints, std::int8_t shift) {
    RC_PRE(!ints.empty());
    const std::size_t n = ints.size();
    std::vector<float> x(n), xs(n), a(n), b(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = ints[i] / 64.0f;
      xs[i] = x[i] + shift;
    }
    log_softmax(one_row<const float>(x.data(), n), one_row(a.data(), n));
    log_softmax(one_row<const float>(xs.data(), n), one_row(b.data(), n));
    RC_ASSERT(test::bitwise_equal(a, b));
  }));
}
#endif

}  // namespace
}  // namespace logitkit
