// SPDX-License-Identifier: Apache-2.0
// Cross-entropy: PyTorch golden values, finite differences, MPFR accuracy, edge cases, bad input.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "tests/data/loss/loss_golden.h"
#include "tests/reference/reference.h"

namespace logitkit {
namespace {

using testing::Golden;
constexpr double kInf = std::numeric_limits<double>::infinity();

CrossEntropyOptions options_of(const Golden& g) {
  CrossEntropyOptions o;
  const std::string red = g.text.at("reduction");
  o.reduction = red == "mean" ? Reduction::kMean : red == "sum" ? Reduction::kSum : Reduction::kNone;
  o.ignore_index = static_cast<std::int64_t>(g.d("ignore_index"));
  o.label_smoothing = g.d("eps");
  o.smoothing = g.text.at("smoothing") == "megatron" ? LabelSmoothing::kMegatron
                                                      : LabelSmoothing::kPyTorch;
  o.z_loss = g.d("z_loss");
  o.softcap = g.d("softcap");
  o.temperature = g.d("tau");
  o.empty_mean = g.text.at("empty_mean") == "zero" ? EmptyMean::kZero : EmptyMean::kNaN;
  return o;
}

// PyTorch returns NaN for an ignored row with NaN statistics; logitkit's contract is 0 there.
bool row_ignored(const Golden& g, std::size_t r) {
  return g.has("target") && static_cast<std::int64_t>(g.v("target")[r]) == g.d("ignore_index");
}

void expect_close(double got, double want, double rel, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got;
  } else if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what;
  } else {
    EXPECT_NEAR(got, want, rel * std::max(1.0, std::fabs(want))) << what;
  }
}

struct GoldenRun {
  std::size_t n, c;
  std::vector<std::int64_t> target;
  std::vector<double> weight;
};

template <class T>
void check_golden_case(const Golden& g, double rel_loss, double ulp_grad, const std::string& tag) {
  const std::size_t n = static_cast<std::size_t>(g.v("shape")[0]);
  const std::size_t c = static_cast<std::size_t>(g.v("shape")[1]);
  CrossEntropyOptions o = options_of(g);
  std::vector<double> weight;
  if (g.has("weight")) weight = g.v("weight");
  o.weight = weight;
  std::vector<T> x(g.v("x").begin(), g.v("x").end());
  std::vector<T> grad(n * c, T(-7)), row_loss(n, T(-7)), lse(n, T(-7));
  LossOutputs<T> out{Rows<T>{grad.data(), n, c, c}, row_loss, lse};
  double loss;
  const Rows<const T> xr{x.data(), n, c, c};
  if (g.has("y")) {
    std::vector<T> y(g.v("y").begin(), g.v("y").end());
    loss = cross_entropy(xr, Rows<const T>{y.data(), n, c, c}, o, out);
  } else {
    std::vector<std::int64_t> t;
    for (double v : g.v("target")) t.push_back(static_cast<std::int64_t>(v));
    loss = cross_entropy(xr, t, o, out);
  }
  const std::string where = g.name + " [" + tag + "]";
  // PyTorch's NaN from an ignored row (all -inf) reaches its loss; logitkit counts that row 0.
  double want_loss = g.d("loss"), counted_sum = 0, counted = 0;
  bool ignored_nan = false;
  for (std::size_t r = 0; r < n; ++r) {
    if (row_ignored(g, r)) {
      ignored_nan |= std::isnan(g.v("row_loss")[r]);
    } else {
      counted_sum += g.v("row_loss")[r];
      counted += 1;
    }
  }
  if (ignored_nan) {
    ASSERT_TRUE(weight.empty()) << where;
    want_loss = o.reduction == Reduction::kMean ? counted_sum / counted : counted_sum;
  }
  expect_close(loss, want_loss, rel_loss, where + " loss");
  for (std::size_t r = 0; r < n; ++r) {
    const double want_row = row_ignored(g, r) ? 0.0 : g.v("row_loss")[r];
    expect_close(row_loss[r], want_row, rel_loss, where + " row_loss " + std::to_string(r));
    expect_close(lse[r], g.v("lse")[r], rel_loss, where + " lse " + std::to_string(r));
    double row_max = 0;
    for (std::size_t j = 0; j < c; ++j) row_max = std::max(row_max, std::fabs(g.v("grad")[r * c + j]));
    for (std::size_t j = 0; j < c; ++j) {
      const double want = row_ignored(g, r) ? 0.0 : g.v("grad")[r * c + j];
      const double got = grad[r * c + j];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << where << " grad " << r << "," << j;
        continue;
      }
      const double eps = std::numeric_limits<T>::epsilon();
      EXPECT_NEAR(got, want, ulp_grad * eps * (std::fabs(want) + row_max))
          << where << " grad " << r << "," << j;
    }
  }
}

TEST(LossTest, CrossEntropyMatchesPyTorchDouble) {
  for (const Golden& g : testing::read_golden("cross_entropy.txt")) {
    check_golden_case<double>(g, 1e-13, 64, "double");
  }
}

TEST(LossTest, CrossEntropyMatchesPyTorchFloatEveryTarget) {
  const auto cases = testing::read_golden("cross_entropy.txt");
  for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
    testing::for_each_target([&](const std::string& t) {
      for (const Golden& g : cases) {
        // Accurate: float rounding of outputs only (4 ULP); fast: the float shift's error too.
        const bool fast = prec == Precision::kFast;
        check_golden_case<float>(g, fast ? 2e-5 : 5e-7, fast ? 64 : 4, t + (fast ? " fast" : ""));
      }
    });
  }
}

// Random inputs with every option on, checked against central differences of the double loss.
TEST(LossTest, CrossEntropyGradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0.0, 2.0);
  const std::size_t n = 4, c = 9;
  for (int variant = 0; variant < 8; ++variant) {
    std::vector<double> x(n * c);
    for (double& v : x) v = nd(rng);
    std::vector<double> w(c);
    for (std::size_t j = 0; j < c; ++j) w[j] = 0.25 + 0.3 * static_cast<double>(j % 4);
    std::vector<double> y(n * c);
    for (std::size_t r = 0; r < n; ++r) {
      double s = 0;
      for (std::size_t j = 0; j < c; ++j) s += y[r * c + j] = std::fabs(nd(rng));
      for (std::size_t j = 0; j < c; ++j) y[r * c + j] /= s;
    }
    std::vector<std::int64_t> t = {3, -100, 0, 8};
    CrossEntropyOptions o;
    o.weight = (variant & 1) ? std::span<const double>(w) : std::span<const double>();
    o.label_smoothing = (variant & 2) ? 0.2 : 0.0;
    o.smoothing = (variant & 4) ? LabelSmoothing::kMegatron : LabelSmoothing::kPyTorch;
    o.z_loss = 0.05;
    o.softcap = (variant & 1) ? 3.0 : 0.0;
    o.temperature = (variant & 2) ? 1.7 : 0.6;
    o.reduction = (variant & 4) ? Reduction::kSum : Reduction::kMean;
    const bool prob = variant == 6;  // probability targets (kMegatron is class-index only)
    if (prob) o.smoothing = LabelSmoothing::kPyTorch;
    auto loss_at = [&](const std::vector<double>& xs, double* g) {
      LossOutputs<double> out;
      if (g) out.grad = Rows<double>{g, n, c, c};
      const Rows<const double> xr{xs.data(), n, c, c};
      return prob ? cross_entropy(xr, Rows<const double>{y.data(), n, c, c}, o, out)
                  : cross_entropy(xr, t, o, out);
    };
    std::vector<double> g(n * c);
    loss_at(x, g.data());
    for (std::size_t i = 0; i < n * c; ++i) {
      const double h = 1e-5;
      std::vector<double> xp = x, xm = x;
      xp[i] += h;
      xm[i] -= h;
      const double fd = (loss_at(xp, nullptr) - loss_at(xm, nullptr)) / (2 * h);
      EXPECT_NEAR(g[i], fd, 1e-7 * std::max(1.0, std::fabs(fd))) << "variant " << variant << " i " << i;
    }
  }
}

// The float loss of one row against MPFR's -log_softmax at the target, in float ULPs, including
// confident rows whose loss is ~1e-8, on every target; the target gradient -sum_{j!=t} p_j too.
TEST(LossTest, CrossEntropyAccurateWithinFourUlp) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> ud(-10.0f, 10.0f);
  const std::size_t c = 1000;
  std::vector<std::vector<float>> rows;
  std::vector<std::int64_t> targets;
  for (int k = 0; k < 12; ++k) {
    std::vector<float> x(c);
    for (float& v : x) v = ud(rng);
    std::int64_t t = static_cast<std::int64_t>(rng() % c);
    if (k % 3 == 0) x[t] = 40.0f;        // confident: loss ~ c * exp(-30) ~ 1e-10..1e-8
    if (k % 3 == 1) x[t] = 27.0f + k;    // confident, loss ~ 1e-8
    rows.push_back(x);
    targets.push_back(t);
  }
  testing::for_each_target([&](const std::string& target_name) {
    double worst = 0, worst_g = 0;
    for (std::size_t k = 0; k < rows.size(); ++k) {
      for (double tau : {1.0, 0.7, 20.0}) {
        CrossEntropyOptions o;
        o.temperature = tau;
        std::vector<float> grad(c), row_loss(1);
        const std::int64_t t = targets[k];
        cross_entropy(one_row<const float>(rows[k].data(), c), std::span(&t, 1), o,
                      LossOutputs<float>{Rows<float>{grad.data(), 1, c, c}, row_loss, {}});
        const std::vector<double> xd(rows[k].begin(), rows[k].end());
        const double want = -ref::log_softmax(xd, tau)[static_cast<std::size_t>(t)];
        const double e = ref::ulp_error_f32(row_loss[0], want);
        worst = std::max(worst, e);
        EXPECT_LE(e, 4.0) << target_name << " row " << k << " tau " << tau << " loss " << row_loss[0]
                          << " want " << want;
        const std::vector<double> p = ref::softmax(xd, tau);
        double other = 0;
        for (std::size_t j = 0; j < c; ++j) other += (j == static_cast<std::size_t>(t)) ? 0 : p[j];
        const double eg = ref::ulp_error_f32(grad[t], -other / tau);
        worst_g = std::max(worst_g, eg);
        EXPECT_LE(eg, 4.0) << target_name << " grad row " << k << " tau " << tau;
      }
    }
    std::printf("[%s] cross_entropy row loss max %.2f ULP, target gradient max %.2f ULP\n",
                target_name.c_str(), worst, worst_g);
  });
}

// Every gradient entry against the contract (2 ULP + 2^-24 x the row's gradient scale, here
// 1/tau), and the loss within 4 ULP, on rows longer than a chunk (chunks with their own maxima),
// logits spread so that (x - max)/tau reaches the underflow range (where a float shift would be
// off by tens of ULP), with and without label smoothing, on every target.
TEST(LossTest, CrossEntropyEveryGradientEntryWithinTwoUlp) {
  const std::size_t c = 40000;
  std::mt19937_64 rng(29);
  struct Case {
    std::vector<float> x;
    std::int64_t t;
  };
  std::vector<Case> cases;
  for (float sigma : {3.0f, 30.0f}) {
    std::normal_distribution<float> nd(0.0f, sigma);
    for (int k = 0; k < 2; ++k) {
      Case cs{std::vector<float>(c), static_cast<std::int64_t>(rng() % c)};
      for (float& v : cs.x) v = nd(rng);
      if (k == 1) cs.x[static_cast<std::size_t>(cs.t)] = 4.0f * sigma;  // a confident row
      cs.x[17] = std::nextafter(cs.x[static_cast<std::size_t>(cs.t)], 0.0f);  // near the max
      cases.push_back(cs);
    }
  }
  for (double tau : {1.0, 0.7, 20.0, 0.05}) {
    for (const Case& cs : cases) {
      const std::vector<double> xd(cs.x.begin(), cs.x.end());
      const ref::RowResult want = ref::row(xd, tau);
      for (double eps : {0.0, 0.1}) {
        const std::size_t t = static_cast<std::size_t>(cs.t);
        // PyTorch's smoothing: q_j = (1 - eps) [j == t] + eps / C; loss = sum_j q_j (-log p_j).
        long double want_loss = 0;
        for (std::size_t j = 0; j < c; ++j) {
          const long double q = (j == t ? 1.0L - eps : 0.0L) + eps / static_cast<long double>(c);
          want_loss -= q * want.log_softmax[j];
        }
        testing::for_each_target([&](const std::string& target_name) {
          CrossEntropyOptions o;
          o.temperature = tau;
          o.label_smoothing = eps;
          std::vector<float> grad(c), row_loss(1);
          cross_entropy(one_row<const float>(cs.x.data(), c), std::span(&cs.t, 1), o,
                        LossOutputs<float>{Rows<float>{grad.data(), 1, c, c}, row_loss, {}});
          const double le = ref::ulp_error_f32(row_loss[0], want_loss);
          EXPECT_LE(le, 4.0) << target_name << " tau " << tau << " eps " << eps;
          const long double slack = 0x1p-24L / tau;
          double worst = 0;
          std::size_t worst_j = 0;
          for (std::size_t j = 0; j < c; ++j) {
            const long double q = (j == t ? 1.0L - eps : 0.0L) + eps / static_cast<long double>(c);
            const long double g = (want.softmax[j] - q) / tau;
            const long double excess = std::fabs(static_cast<long double>(grad[j]) - g) - slack;
            // In ULPs of the exact value, beyond the absolute slack.
            const double e = excess <= 0 ? 0.0
                                         : static_cast<double>(
                                               excess / std::ldexp(1.0L, std::ilogb(std::max(
                                                            std::fabs(g), 0x1p-126L)) - 23));
            if (e > worst) worst = e, worst_j = j;
          }
          EXPECT_LE(worst, 2.0) << target_name << " tau " << tau << " eps " << eps << " entry "
                                << worst_j << " got " << grad[worst_j];
          // Without the slack, the entries whose probability matters: p_j >= 2^-20.
          double worst_ulp = 0;
          for (std::size_t j = 0; j < c; ++j) {
            if (want.softmax[j] < 0x1p-20L) continue;
            const long double q = (j == t ? 1.0L - eps : 0.0L) + eps / static_cast<long double>(c);
            worst_ulp = std::max(worst_ulp, ref::ulp_error_f32(grad[j], (want.softmax[j] - q) / tau));
          }
          if (target_name == "AVX3" || target_name == "SCALAR") {
            std::printf("[%s] tau %g eps %g: loss %.2f ULP, gradient %.2f ULP beyond the slack, "
                        "%.2f ULP where p >= 2^-20\n",
                        target_name.c_str(), tau, eps, le, worst, worst_ulp);
          }
        });
      }
    }
  }
}

// Logits that are already log-probabilities (times tau): lse is near 0, max / tau and the log of
// the sum cancel, and the returned lse must still be within 4 ULP (as the header says).
TEST(LossTest, CrossEntropyLseOfLogProbabilitiesWithinFourUlp) {
  std::mt19937_64 rng(31);
  std::normal_distribution<double> nd(0.0, 3.0);
  for (std::size_t c : {1000, 40000}) {
    std::vector<double> z(c);
    for (double& v : z) v = nd(rng);
    const std::vector<double> lp = ref::log_softmax(z, 1.0);
    for (double tau : {1.0, 2.0}) {
      std::vector<float> x(c);
      for (std::size_t j = 0; j < c; ++j) x[j] = static_cast<float>(tau * lp[j]);
      const std::vector<double> xd(x.begin(), x.end());
      const double want = ref::logsumexp(xd, tau);
      testing::for_each_target([&](const std::string& target_name) {
        for (double z_loss : {0.0, 1e-4}) {
          CrossEntropyOptions o;
          o.temperature = tau;
          o.z_loss = z_loss;
          const std::int64_t t = 3;
          std::vector<float> lse(1), row_loss(1), grad(c);
          cross_entropy(one_row<const float>(x.data(), c), std::span(&t, 1), o,
                        LossOutputs<float>{Rows<float>{grad.data(), 1, c, c}, row_loss, lse});
          EXPECT_LE(ref::ulp_error_f32(lse[0], want), 4.0)
              << target_name << " C " << c << " tau " << tau << " lse " << lse[0] << " want " << want;
          const double want_loss = -ref::log_softmax(xd, tau)[3] + z_loss * want * want;
          EXPECT_LE(ref::ulp_error_f32(row_loss[0], want_loss), 4.0) << target_name << " C " << c;
        }
      });
    }
  }
}

TEST(LossTest, CrossEntropyBitwiseAcrossTargetsAndThreads) {
  const std::size_t n = 3, c = 70000;  // rows longer than a chunk, split across threads
  std::mt19937_64 rng(3);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  std::vector<float> x(n * c);
  for (float& v : x) v = nd(rng);
  std::vector<std::int64_t> t = {5, 69999, 40000};
  std::vector<double> w(c, 1.0);
  w[7] = 0.5;
  CrossEntropyOptions o;
  o.label_smoothing = 0.1;
  o.weight = w;
  std::vector<float> g0(n * c);
  double l0 = 0;
  bool first = true;
  testing::for_each_target([&](const std::string& target_name) {
    for (int threads : {1, 2, 3}) {
      o.threads = threads;
      std::vector<float> g(n * c);
      const double l = cross_entropy(Rows<const float>{x.data(), n, c, c}, t, o,
                                     LossOutputs<float>{Rows<float>{g.data(), n, c, c}, {}, {}});
      if (first) {
        g0 = g;
        l0 = l;
        first = false;
      }
      EXPECT_EQ(l, l0) << target_name << " threads " << threads;
      EXPECT_TRUE(g == g0) << target_name << " threads " << threads;
    }
  });
}

TEST(LossTest, CrossEntropyInPlaceGradient) {
  std::vector<float> x = {1, 2, 3, 4, -1, 0.5f, 2, 2};
  std::vector<std::int64_t> t = {2, 0};
  std::vector<float> g(8);
  CrossEntropyOptions o;
  o.label_smoothing = 0.1;
  const double l = cross_entropy(Rows<const float>{x.data(), 2, 4, 4}, t, o,
                                 LossOutputs<float>{Rows<float>{g.data(), 2, 4, 4}, {}, {}});
  const double l2 = cross_entropy(Rows<const float>{x.data(), 2, 4, 4}, t, o,
                                  LossOutputs<float>{Rows<float>{x.data(), 2, 4, 4}, {}, {}});
  EXPECT_EQ(l, l2);
  EXPECT_EQ(x, g);
}

TEST(LossTest, CrossEntropyEdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::size_t c = 4;
  // Row 0: target logit -inf. Row 1: all -inf, target ignored. Row 2: NaN, ignored.
  std::vector<float> x = {-inf, 1, 2, 3, -inf, -inf, -inf, -inf, nan, 1, 2, 3};
  std::vector<std::int64_t> t = {0, -100, -100};
  std::vector<float> g(12, -7), rl(3, -7);
  double loss = cross_entropy(Rows<const float>{x.data(), 3, c, c}, t, {},
                              LossOutputs<float>{Rows<float>{g.data(), 3, c, c}, rl, {}});
  EXPECT_EQ(loss, kInf);
  EXPECT_EQ(rl[0], inf);
  EXPECT_EQ(g[0], -1.0f);  // p_t - 1 with p_t = 0
  for (std::size_t j = 1; j < 4; ++j) EXPECT_TRUE(std::isfinite(g[j]) && g[j] > 0);
  for (std::size_t j = 4; j < 12; ++j) EXPECT_EQ(g[j], 0.0f) << j;
  EXPECT_EQ(rl[1], 0.0f);
  EXPECT_EQ(rl[2], 0.0f);

  // All targets ignored: the mean of an empty set, NaN or 0; gradient 0.
  std::vector<float> y = {1, 2, 3, 4};
  std::vector<std::int64_t> all_ignored = {-100};
  std::vector<float> g1(4, -7);
  CrossEntropyOptions o;
  EXPECT_TRUE(std::isnan(cross_entropy(one_row<const float>(y.data(), 4), all_ignored, o,
                                       LossOutputs<float>{Rows<float>{g1.data(), 1, 4, 4}, {}, {}})));
  for (float v : g1) EXPECT_EQ(v, 0.0f);
  o.empty_mean = EmptyMean::kZero;
  EXPECT_EQ(cross_entropy(one_row<const float>(y.data(), 4), all_ignored, o), 0.0);

  // +inf logits: the limit (loss log k for a target at +inf), gradient 0.
  std::vector<float> xp = {inf, 1, inf, 0};
  std::vector<std::int64_t> tp = {2};
  std::vector<float> gp(4, -7);
  EXPECT_NEAR(cross_entropy(one_row<const float>(xp.data(), 4), tp, {},
                            LossOutputs<float>{Rows<float>{gp.data(), 1, 4, 4}, {}, {}}),
              std::log(2.0), 1e-15);
  for (float v : gp) EXPECT_EQ(v, 0.0f);

  // NaN in a counted row: NaN loss and gradient.
  std::vector<std::int64_t> tn = {1};
  std::vector<float> xn = {nan, 1, 2, 3}, gn(4);
  EXPECT_TRUE(std::isnan(cross_entropy(one_row<const float>(xn.data(), 4), tn, {},
                                       LossOutputs<float>{Rows<float>{gn.data(), 1, 4, 4}, {}, {}})));
  for (float v : gn) EXPECT_TRUE(std::isnan(v));

  // eps = 1 with kPyTorch: uniform targets; the one-hot part vanishes.
  CrossEntropyOptions u;
  u.label_smoothing = 1.0;
  std::vector<float> xu = {0.5f, -1, 2, 0};
  std::vector<std::int64_t> tu = {0}, tu2 = {3};
  EXPECT_DOUBLE_EQ(cross_entropy(one_row<const float>(xu.data(), 4), tu, u),
                   cross_entropy(one_row<const float>(xu.data(), 4), tu2, u));
}

// Bad input: std::invalid_argument naming the argument (and row), and nothing written.
TEST(LossTest, CrossEntropyRejectsBadInput) {
  std::vector<float> x(2 * 3, 0.5f), g(6, -7), rl(2, -7);
  const Rows<const float> xr{x.data(), 2, 3, 3};
  const LossOutputs<float> out{Rows<float>{g.data(), 2, 3, 3}, rl, {}};
  auto expect_throw = [&](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no exception for " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    for (float v : g) EXPECT_EQ(v, -7.0f) << needle;
    for (float v : rl) EXPECT_EQ(v, -7.0f) << needle;
  };
  std::vector<std::int64_t> bad_t = {0, 3};
  expect_throw([&] { cross_entropy(xr, bad_t, {}, out); }, "target at row 1");
  std::vector<std::int64_t> neg_t = {-5, 0};
  expect_throw([&] { cross_entropy(xr, neg_t, {}, out); }, "target at row 0");
  std::vector<std::int64_t> t = {0, 1}, short_t = {0};
  expect_throw([&] { cross_entropy(xr, short_t, {}, out); }, "target has 1 entries");
  std::vector<double> w2 = {1, 1};
  CrossEntropyOptions o;
  o.weight = w2;
  expect_throw([&] { cross_entropy(xr, t, o, out); }, "weight has 2 entries");
  std::vector<double> wneg = {1, -1, 1}, wnan = {1, 1, std::nan("")};
  o.weight = wneg;
  expect_throw([&] { cross_entropy(xr, t, o, out); }, "weight[1]");
  o.weight = wnan;
  expect_throw([&] { cross_entropy(xr, t, o, out); }, "weight[2]");
  for (double tau : {0.0, -1.0, kInf, std::nan("")}) {
    CrossEntropyOptions ot;
    ot.temperature = tau;
    expect_throw([&] { cross_entropy(xr, t, ot, out); }, "temperature");
  }
  CrossEntropyOptions oe;
  oe.label_smoothing = 1.5;
  expect_throw([&] { cross_entropy(xr, t, oe, out); }, "label_smoothing");
  CrossEntropyOptions oz;
  oz.z_loss = -1;
  expect_throw([&] { cross_entropy(xr, t, oz, out); }, "z_loss");
  CrossEntropyOptions oc;
  oc.softcap = -2;
  expect_throw([&] { cross_entropy(xr, t, oc, out); }, "softcap");
  CrossEntropyOptions ob;
  ob.reduction = Reduction::kBatchMean;
  expect_throw([&] { cross_entropy(xr, t, ob, out); }, "kBatchMean");
  std::vector<float> y(2 * 4, 0.25f);
  expect_throw([&] { cross_entropy(xr, Rows<const float>{y.data(), 2, 4, 4}, {}, out); },
               "y has shape [2, 4]");
  std::vector<float> yneg(6, 0.25f);
  yneg[4] = -0.5f;
  expect_throw([&] { cross_entropy(xr, Rows<const float>{yneg.data(), 2, 3, 3}, {}, out); },
               "y at row 1, column 1");
  std::vector<float> g_bad(8);
  expect_throw([&] {
    cross_entropy(xr, t, {}, LossOutputs<float>{Rows<float>{g_bad.data(), 2, 4, 4}, {}, {}});
  }, "grad has shape");
  std::vector<float> rl_bad(3);
  expect_throw([&] { cross_entropy(xr, t, {}, LossOutputs<float>{{}, rl_bad, {}}); },
               "row_loss has 3 entries");
}

}  // namespace
}  // namespace logitkit

namespace logitkit {
namespace {

// A gradient larger than the cache is written with non-temporal stores (rows here are not
// vector-aligned): the same bits as row-by-row calls (small, ordinary stores) and as 2 threads.
TEST(LossTest, CrossEntropyStreamedGradientMatchesRowByRow) {
  const std::size_t n = 130, c = 32768, stride = c + 3;  // 17 MB of gradient
  std::mt19937_64 rng(31);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(n * stride);
  for (float& v : x) v = nd(rng);
  std::vector<std::int64_t> target(n);
  for (std::size_t r = 0; r < n; ++r) target[r] = static_cast<std::int64_t>((r * 7919) % c);
  target[5] = -100;
  for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
    for (double eps : {0.0, 0.1}) {
      CrossEntropyOptions o;
      o.precision = prec;
      o.label_smoothing = eps;
      o.reduction = Reduction::kSum;
      o.threads = 1;
      std::vector<float> g0(n * stride), g(n * stride), g1(c);
      const double l0 = cross_entropy(Rows<const float>{x.data(), n, c, stride}, target, o,
                                      LossOutputs<float>{Rows<float>{g0.data() + 1, n, c, stride}, {}, {}});
      o.threads = 2;
      const double l2 = cross_entropy(Rows<const float>{x.data(), n, c, stride}, target, o,
                                      LossOutputs<float>{Rows<float>{g.data() + 1, n, c, stride}, {}, {}});
      EXPECT_EQ(l0, l2);
      EXPECT_TRUE(g == g0);
      if (eps == 0.0) {  // every SIMD target's streamed (aligned-body) path gives the same bits
        testing::for_each_target([&](const std::string& name) {
          std::fill(g.begin(), g.end(), 0.0f);
          cross_entropy(Rows<const float>{x.data(), n, c, stride}, target, o,
                        LossOutputs<float>{Rows<float>{g.data() + 1, n, c, stride}, {}, {}});
          EXPECT_TRUE(g == g0) << name;
        });
      }
      o.threads = 1;
      for (std::size_t r : {std::size_t{0}, std::size_t{5}, std::size_t{64}, n - 1}) {
        const std::int64_t tr[1] = {target[r]};
        cross_entropy(Rows<const float>{x.data() + r * stride, 1, c, c}, tr, o,
                      LossOutputs<float>{Rows<float>{g1.data(), 1, c, c}, {}, {}});
        for (std::size_t j = 0; j < c; ++j) {
          ASSERT_EQ(g1[j], g0[r * stride + 1 + j]) << "row " << r << " column " << j;
        }
      }
    }
  }
}

// The same with 64-byte aligned gradient rows: there the statistics pass of row r + 1 writes row
// r's gradient (the row pipeline, internal::SideGrad). Rows with NaN, +inf, a masked chunk, an
// ignored target and targets on chunk edges; both precisions, with and without smoothing,
// 1 and 2 threads, every SIMD target: bitwise the row-by-row results.
TEST(LossTest, CrossEntropyPipelinedRowsMatchRowByRow) {
  const std::size_t n = 110, c = 40003, stride = 40016;  // 17.6 MB of gradient
  std::mt19937_64 rng(37);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> x(n * stride);
  for (float& v : x) v = nd(rng);
  std::vector<std::int64_t> target(n);
  for (std::size_t r = 0; r < n; ++r) target[r] = static_cast<std::int64_t>((r * 7919) % c);
  target[1] = 16383;
  target[2] = 16384;
  target[3] = static_cast<std::int64_t>(c - 1);
  target[5] = -100;
  x[7 * stride + 123] = std::numeric_limits<float>::quiet_NaN();
  x[8 * stride + 20000] = std::numeric_limits<float>::infinity();
  for (std::size_t j = 16384; j < 32768; ++j) x[9 * stride + j] = -std::numeric_limits<float>::infinity();
  std::vector<float> g_store(n * stride + 16), g1(c), rl(n), ls(n), rl1(1), ls1(1);
  float* g = g_store.data();
  while (reinterpret_cast<std::uintptr_t>(g) % 64 != 0) ++g;
  const std::size_t rows_checked[] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 64, n - 1};
  for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
    for (double eps : {0.0, 0.1}) {
      for (int threads : {1, 2}) {
        CrossEntropyOptions o;
        o.precision = prec;
        o.label_smoothing = eps;
        o.reduction = Reduction::kSum;
        o.threads = threads;
        SCOPED_TRACE(::testing::Message() << "fast " << (prec == Precision::kFast) << " eps " << eps
                                        << " threads " << threads);
        auto run_batch = [&] {
          std::fill(g_store.begin(), g_store.end(), -7.0f);
          cross_entropy(Rows<const float>{x.data(), n, c, stride}, target, o,
                        LossOutputs<float>{Rows<float>{g, n, c, stride}, rl, ls});
        };
        auto check = [&](const std::string& where) {
          CrossEntropyOptions o1 = o;
          o1.threads = 1;
          for (std::size_t r : rows_checked) {
            const std::int64_t tr[1] = {target[r]};
            cross_entropy(Rows<const float>{x.data() + r * stride, 1, c, c}, tr, o1,
                          LossOutputs<float>{Rows<float>{g1.data(), 1, c, c}, rl1, ls1});
            ASSERT_EQ(std::memcmp(g1.data(), g + r * stride, c * sizeof(float)), 0)
                << where << " row " << r;
            ASSERT_EQ(std::memcmp(&rl1[0], &rl[r], sizeof(float)), 0) << where << " row " << r;
            ASSERT_EQ(std::memcmp(&ls1[0], &ls[r], sizeof(float)), 0) << where << " row " << r;
          }
        };
        run_batch();
        check("default target");
        if (eps == 0.0 && threads == 1) {
          testing::for_each_target([&](const std::string& name) {
            run_batch();
            check(name);
          });
        }
      }
    }
  }
}

// A soft cap with kAccurate: the capped logits are not rounded to float (that cost 26 ULP of
// this confident row's loss and 102 ULP of the second row's lse, found by loss_fuzz). Reference:
// the capped logits, logsumexp and loss in long double, written out here.
TEST(LossTest, CrossEntropySoftcapAccurateWithinFourUlp) {
  struct Row {
    std::vector<float> x;
    std::int64_t t;
  };
  const Row rows[] = {{{37.9178925f, -34.1226654f}, 0},
                      {{-1.44956207f, -36.8603897f, -0.269447327f}, 2},
                      {{29.5f, 31.25f, -80.0f, 12.0f, 30.0f}, 1}};
  const long double c = 30.0L;
  for (const Row& r : rows) {
    const std::size_t n = r.x.size();
    std::vector<long double> z(n);
    long double m = -INFINITY;
    for (std::size_t j = 0; j < n; ++j) {
      z[j] = c * std::tanh(static_cast<long double>(r.x[j]) / c);
      m = std::max(m, z[j]);
    }
    long double sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += std::exp(z[j] - m);
    const long double lse = m + std::log(sum);
    long double others = 0;  // loss = log(1 + sum_{j != t} exp(z_j - z_t)), no cancellation
    for (std::size_t j = 0; j < n; ++j) {
      if (static_cast<std::int64_t>(j) != r.t) others += std::exp(z[j] - z[r.t]);
    }
    const long double loss = std::log1p(others);
    CrossEntropyOptions o;
    o.softcap = 30.0;
    o.reduction = Reduction::kSum;
    std::vector<float> rl(1), ls(1), g(n);
    const std::int64_t t[1] = {r.t};
    cross_entropy(Rows<const float>{r.x.data(), 1, n, n}, t, o,
                  LossOutputs<float>{Rows<float>{g.data(), 1, n, n}, rl, ls});
    EXPECT_LE(ref::ulp_error_f32(rl[0], static_cast<double>(loss)), 4.0) << rl[0] << " vs " << static_cast<double>(loss);
    EXPECT_LE(ref::ulp_error_f32(ls[0], static_cast<double>(lse)), 4.0) << ls[0] << " vs " << static_cast<double>(lse);
  }
}

}  // namespace
}  // namespace logitkit
