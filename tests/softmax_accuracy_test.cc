// SPDX-License-Identifier: Apache-2.0
// Accuracy of f32 softmax / log_softmax / logsumexp against the 256-bit MPFR reference, per target.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/logitkit.h"
#include "tests/reference/reference.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

using test::GuardedRows;
using test::Kind;

constexpr double kTemperatures[] = {1e-3, 0.07, 0.5, 1.0, 4.0, 20.0, 1e3};
// Temperatures comparable to the float spacing near 3e38 (2^104 ~ 2e31), so that near-3e38
// logits give probabilities other than 0 and 1.
constexpr double kHugeTemperatures[] = {4e31, 1e33};

// Contract (include/logitkit/softmax.h, docs/design.md §3).
constexpr double kUlpBudget = 2.0;
constexpr double kSumBudget = 2.5e-7;
// Precision::kFast (docs/accuracy.md): with t_i = |x_i - max|/tau and T the softmax-weighted
// mean of t over the row (sum_j p_j t_j), the absolute error is at most
//   softmax:      kFastUlp ulp(y_i) + kFastPerUnit 2^-24 (t_i + T) y_i
//   log_softmax:  kFastUlp ulp(y_i) + kFastPerUnit 2^-24 (t_i + T)
//   logsumexp:    kFastUlp ulp(y)   + kFastPerUnit 2^-24 T
// plus 2 FLT_MIN for softmax and n 2 FLT_MIN for the log-domain ops (exponentials below about
// 2^-125 flush to 0, which shows in a winner's log-probability near -1e-38), and exact where the
// result overflows to +-inf
// (the shift rounded in float costs about t_i 2^-24 relative in exp(t_i), and T 2^-24 in the sum).
constexpr double kFastUlp = 3.0;
constexpr double kFastPerUnit = 3.0;

enum Op { kSoftmax, kLogSoftmax, kLogSumExp, kOps };
const char* const kOpNames[kOps] = {"softmax", "log_softmax", "logsumexp"};

// One input batch (rows of the same length) with its reference.
struct Case {
  std::string label;
  double tau;
  std::vector<std::vector<float>> rows;
  std::vector<ref::RowResult> want;
  std::vector<float> max;    // per row
  std::vector<double> tbar;  // per row: sum_j p_j |x_j - max|/tau
};

Case make_case(std::string label, double tau, std::vector<std::vector<float>> rows) {
  Case c{std::move(label), tau, std::move(rows), {}, {}, {}};
  for (const auto& r : c.rows) {
    c.want.push_back(ref::row(test::to_double(r.data(), r.size()), tau));
    c.max.push_back(*std::max_element(r.begin(), r.end()));
    long double tbar = 0;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const long double p = c.want.back().softmax[i];
      if (p > 0) tbar += p * ((static_cast<long double>(c.max.back()) - r[i]) / tau);
    }
    c.tbar.push_back(static_cast<double>(tbar));
  }
  return c;
}

// |x_i - max| / tau in double (the quantity the kFast error grows with).
double shift_of(const Case& c, std::size_t r, std::size_t i) {
  return (static_cast<double>(c.max[r]) - c.rows[r][i]) / c.tau;
}

// The worst error seen for one op on one target, and where.
struct Worst {
  double ulp = 0;           // max ULP error over outputs whose exact value is >= FLT_MIN
  double sub_abs = 0;       // max absolute error over softmax outputs below FLT_MIN
  double sum_err = 0;       // max |row sum - 1| (softmax)
  double fast_ratio = 0;    // kFast: max absolute error / allowed absolute error
  std::string where;
  long failures = 0;
  std::string first_failure;
};

using Table = std::map<std::string, Worst[kOps]>;  // target -> op -> worst

class Checker {
 public:
  Checker(Precision precision, Worst* worst) : precision_(precision), worst_(worst) {}

  void fail(Op op, const std::string& what) {
    Worst& w = worst_[op];
    if (w.failures++ == 0) w.first_failure = what;
  }

  void element(Op op, const Case& c, std::size_t r, std::size_t i, float got, long double want,
               double t) {
    Worst& w = worst_[op];
    const double err = ref::ulp_error_f32(got, want);
    if (op == kSoftmax && std::fabs(want) < FLT_MIN && !std::isnan(got)) {
      const double abs = std::fabs(static_cast<long double>(got) - want);
      w.sub_abs = std::max(w.sub_abs, abs);
      if (!(abs <= FLT_MIN)) fail(op, describe(c, r, i, got, want, err));
      return;
    }
    if (precision_ == Precision::kFast) {
      // The shift x_i - max rounded in float overflows when the logits span more than FLT_MAX
      // (near +-3e38): log_softmax is then -inf (documented in docs/accuracy.md), not checked.
      if (op == kLogSoftmax && !std::isfinite(static_cast<float>(c.max[r]) - c.rows[r][i])) return;
      if (!std::isfinite(static_cast<float>(want))) {  // overflow to +-inf: exact
        if (err != 0) fail(op, describe(c, r, i, got, want, err));
        return;
      }
      const long double abs = std::fabs(static_cast<long double>(got) - want);
      const double allowed = fast_allowed(op, t, c.tbar[r], c.rows[r].size(), want);
      if (err > w.ulp) {
        w.ulp = err;
        w.where = describe(c, r, i, got, want, err);
      }
      w.fast_ratio = std::max(w.fast_ratio, static_cast<double>(abs / allowed));
      if (!(abs <= allowed)) fail(op, describe(c, r, i, got, want, err));
      return;
    }
    if (err > w.ulp) {
      w.ulp = err;
      w.where = describe(c, r, i, got, want, err);
    }
    if (!(err <= kUlpBudget)) fail(op, describe(c, r, i, got, want, err));
  }

  // The kFast bound above, in absolute terms.
  static double fast_allowed(Op op, double t, double tbar, std::size_t n, long double want) {
    const double y = static_cast<double>(std::fabs(want));
    const double ulp = std::ldexp(1.0, std::max(y == 0 ? -126 : std::ilogb(y), -126) - 23);
    const double grow = kFastPerUnit * 0x1.0p-24;
    const double flush = 2.0 * FLT_MIN;
    switch (op) {
      case kSoftmax: return kFastUlp * ulp + grow * (t + tbar) * y + flush;
      case kLogSoftmax: return kFastUlp * ulp + grow * (t + tbar) + n * flush;
      default: return kFastUlp * ulp + grow * tbar + n * flush;
    }
  }

  void row_sum(const Case& c, std::size_t r, const std::vector<float>& y) {
    long double s = 0;
    for (float v : y) s += v;
    const double err = static_cast<double>(std::fabs(s - 1.0L));
    Worst& w = worst_[kSoftmax];
    w.sum_err = std::max(w.sum_err, err);
    if (!(err <= kSumBudget)) {
      std::ostringstream os;
      os << c.label << " tau=" << c.tau << " row " << r << ": sum " << static_cast<double>(s);
      fail(kSoftmax, os.str());
    }
  }

  void misc(Op op, const std::string& what) { fail(op, what); }

 private:
  static std::string describe(const Case& c, std::size_t r, std::size_t i, float got,
                              long double want, double err) {
    std::ostringstream os;
    os.precision(10);
    os << c.label << " n=" << c.rows[r].size() << " tau=" << c.tau << " row " << r << " col " << i
       << " x=" << c.rows[r][i] << ": got " << got << " want " << static_cast<double>(want)
       << " (" << err << " ulp)";
    return os.str();
  }

  Precision precision_;
  Worst* worst_;
};

// Runs every op on the case with misaligned, strided, guarded buffers, out of place and in
// place, and checks every output against the reference.
void run_case(const Case& c, Precision precision, std::size_t variant, Worst* worst) {
  Checker check(precision, worst);
  const std::size_t rows = c.rows.size(), n = c.rows[0].size();
  const SoftmaxOptions o{.temperature = c.tau, .precision = precision, .threads = 1};
  const std::size_t x_off = variant % 4, y_off = (variant / 4) % 4;
  const std::size_t x_stride = n + variant % 3, y_stride = n + (variant + 1) % 3;
  GuardedRows x(rows, n, x_stride, x_off);
  for (std::size_t r = 0; r < rows; ++r) x.set_row(r, c.rows[r]);

  for (int op = kSoftmax; op <= kLogSoftmax; ++op) {
    GuardedRows y(rows, n, y_stride, y_off);
    if (op == kSoftmax) {
      softmax(x.cview(), y.view(), o);
    } else {
      log_softmax(x.cview(), y.view(), o);
    }
    if (!y.guards_intact()) check.misc(Op(op), c.label + ": wrote outside the rows of y");
    GuardedRows z(rows, n, x_stride, x_off);  // in place: y == x
    for (std::size_t r = 0; r < rows; ++r) z.set_row(r, c.rows[r]);
    if (op == kSoftmax) {
      softmax(z.cview(), z.view(), o);
    } else {
      log_softmax(z.cview(), z.view(), o);
    }
    if (!z.guards_intact()) check.misc(Op(op), c.label + ": in place wrote outside the rows");
    for (std::size_t r = 0; r < rows; ++r) {
      const std::vector<float> got = y.get_row(r);
      if (!test::bitwise_equal(got, z.get_row(r))) {
        check.misc(Op(op), c.label + ": in place differs from out of place");
      }
      const auto& want = op == kSoftmax ? c.want[r].softmax : c.want[r].log_softmax;
      for (std::size_t i = 0; i < n; ++i) {
        const double t = precision == Precision::kFast ? shift_of(c, r, i) : 0.0;
        check.element(Op(op), c, r, i, got[i], want[i], t);
      }
      if (op == kSoftmax) check.row_sum(c, r, got);
    }
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (!test::bitwise_equal(x.get_row(r), c.rows[r])) check.misc(kSoftmax, c.label + ": x changed");
  }
  if (!x.guards_intact()) check.misc(kSoftmax, c.label + ": x's padding changed");

  std::vector<float> out(rows + 3, GuardedRows::kSentinel);
  logsumexp(x.cview(), std::span<float>(out.data(), rows), o);
  for (std::size_t r = rows; r < out.size(); ++r) {
    if (out[r] != GuardedRows::kSentinel) check.misc(kLogSumExp, c.label + ": wrote past out");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const double scale = std::max(std::fabs(c.max[r] / c.tau), 1.0);
    const long double want = c.want[r].logsumexp;
    // The documented exception: m/tau and log(sum) cancel. Checked in its own test.
    if (std::isfinite(static_cast<double>(want)) && std::fabs(want) < 1e-6 * scale) continue;
    check.element(kLogSumExp, c, r, 0, out[r], want, 0.0);
  }
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Prints the worst errors per target and op (like Highway's TestMath), then asserts them.
void report_and_assert(const char* title, Precision precision, const Table& table) {
  std::printf("%s\n", title);
  for (const auto& [target, worst] : table) {
    for (int op = 0; op < kOps; ++op) {
      const Worst& w = worst[op];
      std::printf("  %-7s %-12s max %s ulp", target.c_str(), kOpNames[op], fmt(w.ulp).c_str());
      if (op == kSoftmax) {
        std::printf(", max |sum-1| %s, max abs err below FLT_MIN %s", fmt(w.sum_err).c_str(),
                    fmt(w.sub_abs).c_str());
      }
      if (precision == Precision::kFast) std::printf(", max err/allowed %s", fmt(w.fast_ratio).c_str());
      std::printf("\n      worst: %s\n", w.where.c_str());
      EXPECT_EQ(w.failures, 0) << target << " " << kOpNames[op] << ": " << w.failures
                               << " failures; first: " << w.first_failure;
    }
  }
  std::fflush(stdout);
}

void run_all(const char* title, const std::vector<Case>& cases, Precision precision) {
  Table table;
  test::for_each_target([&](const std::string& target) {
    Worst* worst = table[target];
    for (std::size_t k = 0; k < cases.size(); ++k) run_case(cases[k], precision, k, worst);
  });
  report_and_assert(title, precision, table);
}

std::vector<double> temperatures_for(Kind kind) {
  std::vector<double> taus(std::begin(kTemperatures), std::end(kTemperatures));
  if (kind == Kind::kHuge) taus.insert(taus.end(), std::begin(kHugeTemperatures), std::end(kHugeTemperatures));
  return taus;
}

// Every length 1..49 (3 vectors of 16 lanes + 1), every kind, every temperature, 2 rows each.
std::vector<Case> short_cases() {
  auto rng = test::make_rng(1);
  std::vector<Case> cases;
  for (std::size_t n = 1; n <= 49; ++n) {
    for (Kind kind : test::kAllKinds) {
      for (double tau : temperatures_for(kind)) {
        cases.push_back(make_case(test::kind_name(kind), tau,
                                  {test::make_logits(kind, n, rng), test::make_logits(kind, n, rng)}));
      }
    }
  }
  return cases;
}

// Confident rows [0, -a, -b, ...]: log p_max ~ -exp(-a) must keep its relative accuracy.
std::vector<Case> confident_cases() {
  std::vector<Case> cases;
  const std::vector<std::vector<float>> rows = {
      {0.0f, -30.0f, -40.0f}, {0.0f, -20.0f}, {5.0f, -25.0f, -25.0f, -33.5f},
      {0.0f, -60.0f},         {0.0f, -85.0f}, {0.0f, -100.0f, -17.25f}};
  for (const auto& r : rows) {
    for (double tau : {1.0, 0.5, 2.0}) cases.push_back(make_case("confident-fixed", tau, {r}));
  }
  return cases;
}

TEST(SoftmaxAccuracyTest, TestAllShortRows) {
  LOGITKIT_SEED_TRACE();
  std::vector<Case> cases = short_cases();
  for (Case& c : confident_cases()) cases.push_back(std::move(c));
  run_all("f32 kAccurate, n = 1..49, every kind and temperature:", cases, Precision::kAccurate);
}

// The log-probability of the winning class near 0 is computed as -log1p(rest), not as a
// difference: check it directly on the canonical example.
TEST(SoftmaxAccuracyTest, TestAllWinnerLogProbability) {
  const std::vector<float> x = {0.0f, -30.0f, -40.0f};
  const ref::RowResult want = ref::row(test::to_double(x.data(), x.size()), 1.0);
  test::for_each_target([&](const std::string&) {
    std::vector<float> y(3);
    log_softmax(one_row(x.data(), 3), one_row(y.data(), 3));
    EXPECT_LT(y[0], 0.0f);
    // The reference itself, against the formula in double: -log1p(e^-30 + e^-40).
    EXPECT_NEAR(static_cast<double>(want.log_softmax[0]), -std::log1p(std::exp(-30.0) + std::exp(-40.0)),
                1e-27);
    EXPECT_LE(ref::ulp_error_f32(y[0], want.log_softmax[0]), kUlpBudget) << y[0];
  });
}

// Long rows: the chunked (16384) and merged path. Fewer kinds than the short rows (the MPFR
// reference costs ~2 us per entry), every target.
TEST(SoftmaxAccuracyTest, TestAllLongRows) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(2);
  std::vector<Case> cases;
  for (Kind kind : {Kind::kUniform, Kind::kHigh, Kind::kPlus1e4, Kind::kSpread, Kind::kMasked,
                    Kind::kConfident, Kind::kTies}) {
    cases.push_back(make_case(test::kind_name(kind), 1.0, {test::make_logits(kind, 32000, rng)}));
  }
  for (double tau : {0.07, 20.0}) {
    cases.push_back(make_case("uniform[-10,10]", tau, {test::make_logits(Kind::kUniform, 32000, rng)}));
  }
  for (Kind kind : {Kind::kUniform, Kind::kConfident}) {
    cases.push_back(make_case(test::kind_name(kind), 1.0, {test::make_logits(kind, 128256, rng)}));
  }
  cases.push_back(make_case("uniform[-10,10]", 1.0, {test::make_logits(Kind::kUniform, 1 << 20, rng)}));
  run_all("f32 kAccurate, n = 32000, 128256, 2^20:", cases, Precision::kAccurate);
}

// Row sums up to 2^24 entries (no reference needed: the exact sum is 1), default target, both
// precisions.
TEST(SoftmaxAccuracyTest, RowSum2To24) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(3);
  const std::size_t n = std::size_t{1} << 24;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = rng.uniform(-10, 10);
  for (Precision p : {Precision::kAccurate, Precision::kFast}) {
    softmax(one_row<const float>(x.data(), n), one_row(y.data(), n), {.precision = p});
    long double s = 0;
    for (float v : y) s += v;
    std::printf("2^24 entries, %s: |sum - 1| = %.3g\n",
                p == Precision::kFast ? "kFast" : "kAccurate", static_cast<double>(std::fabs(s - 1)));
    EXPECT_LE(std::fabs(s - 1.0L), kSumBudget);
  }
}

// The documented logsumexp exception: when m/tau and log(sum) cancel, the absolute error is at
// most 4e-16 * max(|m/tau|, 1) (the result is then far below 1e-9 in magnitude).
// Logits that are already log-probabilities (times tau): logsumexp is near 0 (1e-8 here), far
// above the documented cancellation exception, so 2 ULP must hold. The double exp's ~4e-11
// relative error alone would be hundreds of ULPs: such rows are summed again in long double.
TEST(SoftmaxAccuracyTest, TestAllLogSumExpOfLogProbabilities) {
  std::mt19937_64 rng(77);
  std::normal_distribution<double> nd(0.0, 3.0);
  double worst = 0;
  for (std::size_t n : {17u, 1000u, 40000u}) {
    std::vector<double> z(n);
    for (double& v : z) v = nd(rng);
    const std::vector<double> lp = ref::log_softmax(z, 1.0);
    for (double tau : {1.0, 0.5, 3.0}) {
      std::vector<float> x(n);
      for (std::size_t j = 0; j < n; ++j) x[j] = static_cast<float>(tau * lp[j]);
      const double want = ref::logsumexp(test::to_double(x.data(), n), tau);
      std::vector<bfloat16> xb(n);
      std::vector<float> xbf(n);
      for (std::size_t j = 0; j < n; ++j) {
        xb[j] = bfloat16::from_float(x[j]);
        xbf[j] = xb[j].to_float();
      }
      const double want_b = ref::logsumexp(test::to_double(xbf.data(), n), tau);
      test::for_each_target([&](const std::string& target_name) {
        for (Precision pr : {Precision::kAccurate, Precision::kFast}) {
          float out = 0;
          logsumexp(one_row(x.data(), n), std::span<float>(&out, 1),
                    {.temperature = tau, .precision = pr});
          const double e = ref::ulp_error_f32(out, want);
          worst = std::max(worst, e);
          EXPECT_LE(e, 2.0) << target_name << " n " << n << " tau " << tau << " got " << out
                            << " want " << want;
        }
        // bf16 input: the same values rounded to bf16, against their own reference.
        float out_b = 0;
        logsumexp(Rows<const bfloat16>{xb.data(), 1, n, n}, std::span<float>(&out_b, 1),
                  {.temperature = tau});
        EXPECT_LE(ref::ulp_error_f32(out_b, want_b), 2.0) << target_name << " bf16 n " << n;
      });
    }
  }
  std::printf("logsumexp of log-probabilities: max %.2f ULP\n", worst);
}

TEST(SoftmaxAccuracyTest, TestAllLogSumExpCancellation) {
  struct Row {
    std::vector<float> x;
    double tau;
  };
  std::vector<Row> rows;
  // n tied entries at a: lse = a/tau + log(n); pick tau so that a/tau ~ -log(n).
  for (std::size_t n : {2u, 3u, 10u, 1000u}) {
    for (float a : {-1.0f, -3.0f, -0.3f}) {
      rows.push_back({std::vector<float>(n, a), -static_cast<double>(a) / std::log(static_cast<double>(n))});
    }
  }
  std::vector<ref::RowResult> want;
  for (const auto& r : rows) want.push_back(ref::row(test::to_double(r.x.data(), r.x.size()), r.tau));
  double worst = 0;
  test::for_each_target([&](const std::string&) {
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto& r = rows[k];
      float out = 0;
      logsumexp(one_row(r.x.data(), r.x.size()), std::span<float>(&out, 1), {.temperature = r.tau});
      const float m = *std::max_element(r.x.begin(), r.x.end());
      const double bound = 4e-16 * std::max(std::fabs(m / r.tau), 1.0);
      const double err = static_cast<double>(std::fabs(out - want[k].logsumexp));
      ASSERT_LT(std::fabs(want[k].logsumexp), 1e-9L) << "the case must cancel";
      worst = std::max(worst, err / bound);
      EXPECT_LE(err, bound) << "row " << k << " got " << out << " want "
                            << static_cast<double>(want[k].logsumexp);
    }
  });
  std::printf("logsumexp under cancellation: max error / documented bound = %.3g\n", worst);
}

// Precision::kFast: error as a function of t = |x_i - max|/tau, printed by bucket, and the bound
// of docs/accuracy.md asserted. Row sums keep the 2.5e-7 budget.
TEST(SoftmaxAccuracyTest, TestAllFastBound) {
  LOGITKIT_SEED_TRACE();
  std::vector<Case> cases = short_cases();
  auto rng = test::make_rng(4);
  for (Kind kind : {Kind::kUniform, Kind::kSpread, Kind::kPlus1e4}) {
    cases.push_back(make_case(test::kind_name(kind), 1.0, {test::make_logits(kind, 32000, rng)}));
  }
  // Chunks whose smallest shifted argument sits at the fast exp's clamp (-87.3): at it and just
  // above (the kernel leaves the clamp and the underflow test out), just below (it keeps them).
  for (double tau : {1.0, 0.5}) {
    std::vector<std::vector<float>> rows;
    for (float lowest : {-87.3f, std::nextafter(-87.3f, 0.0f), std::nextafter(-87.3f, -100.0f),
                         -87.4f, -90.0f}) {
      std::vector<float> r(1000);
      for (std::size_t i = 0; i < r.size(); ++i) {
        r[i] = static_cast<float>(tau * (lowest - lowest * ((i * 7919) % 1000) / 999.0));
      }
      r[3] = static_cast<float>(tau * lowest);  // the row's max is 0: t = lowest exactly there
      rows.push_back(r);
    }
    cases.push_back(make_case("clamp edge", tau, std::move(rows)));
  }
  run_all("f32 kFast, n = 1..49 every kind and temperature, and 32000:", cases, Precision::kFast);

  // The error by bucket of t on the default target, for docs/accuracy.md.
  constexpr int kBuckets = 14;  // [0, 1), [1, 2), [2, 4), ..., [2^12, inf)
  double max_ulp[kBuckets] = {};
  for (const Case& c : cases) {
    for (std::size_t r = 0; r < c.rows.size(); ++r) {
      const std::size_t n = c.rows[r].size();
      std::vector<float> y(n);
      softmax(one_row(c.rows[r].data(), n), one_row(y.data(), n),
              {.temperature = c.tau, .precision = Precision::kFast});
      for (std::size_t i = 0; i < n; ++i) {
        if (std::fabs(c.want[r].softmax[i]) < FLT_MIN) continue;
        const double t = shift_of(c, r, i);
        const int b = t < 1 ? 0 : std::min(kBuckets - 1, 1 + static_cast<int>(std::floor(std::log2(t))));
        max_ulp[b] = std::max(max_ulp[b], ref::ulp_error_f32(y[i], c.want[r].softmax[i]));
      }
    }
  }
  std::printf("kFast softmax, default target, worst ULP by t = |x - max|/tau:\n");
  for (int b = 0; b < kBuckets; ++b) {
    if (max_ulp[b] == 0) continue;
    std::printf("  t in [%g, %g): %.3g ulp\n", b == 0 ? 0.0 : std::ldexp(1.0, b - 1),
                std::ldexp(1.0, b), max_ulp[b]);
  }
}

}  // namespace
}  // namespace logitkit
