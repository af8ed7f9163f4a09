// SPDX-License-Identifier: Apache-2.0
// Distillation loss: PyTorch golden values, finite differences, properties, edge cases, bad input.
#include <cmath>
#include <cstdint>
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

DistillationOptions options_of(const Golden& g, std::vector<std::int64_t>* targets) {
  DistillationOptions o;
  o.temperature = g.d("tau");
  const std::string div = g.text.at("divergence");
  o.divergence = div == "forward" ? Divergence::kForwardKL
                 : div == "reverse" ? Divergence::kReverseKL
                                    : Divergence::kJensenShannon;
  o.js_beta = g.d("beta");
  o.tau_squared = g.d("tau_squared") != 0;
  const std::string red = g.text.at("reduction");
  o.reduction = red == "batchmean" ? Reduction::kBatchMean
                : red == "mean"    ? Reduction::kMean
                                   : Reduction::kSum;
  o.teacher_input = g.text.at("teacher") == "logprobs" ? TeacherInput::kLogProbs : TeacherInput::kLogits;
  o.alpha = g.d("alpha");
  if (g.has("target")) {
    for (double v : g.v("target")) targets->push_back(static_cast<std::int64_t>(v));
    o.target = *targets;
  }
  return o;
}

// Row r of x ([*, c]) as probabilities at temperature tau, in long double.
std::vector<double> probs(const std::vector<double>& x, std::size_t r, std::size_t c, double tau) {
  long double m = -INFINITY, z = 0;
  for (std::size_t j = 0; j < c; ++j) m = std::max<long double>(m, x[r * c + j]);
  for (std::size_t j = 0; j < c; ++j) z += std::exp((x[r * c + j] - m) / tau);
  std::vector<double> p(c);
  for (std::size_t j = 0; j < c; ++j) p[j] = static_cast<double>(std::exp((x[r * c + j] - m) / tau) / z);
  return p;
}

template <class T>
void check_case(const Golden& g, Precision prec, double rel, double ulp_grad, const std::string& tag) {
  const std::size_t n = static_cast<std::size_t>(g.v("shape")[0]);
  const std::size_t c = static_cast<std::size_t>(g.v("shape")[1]);
  std::vector<std::int64_t> targets;
  DistillationOptions o = options_of(g, &targets);
  o.precision = prec;
  std::vector<T> s(g.v("student").begin(), g.v("student").end());
  std::vector<T> t(g.v("teacher_values").begin(), g.v("teacher_values").end());
  std::vector<T> grad(n * c), row_loss(n);
  const double loss = distillation_loss(Rows<const T>{s.data(), n, c, c},
                                        Rows<const T>{t.data(), n, c, c}, o,
                                        LossOutputs<T>{Rows<T>{grad.data(), n, c, c}, row_loss, {}});
  const std::string where = g.name + " [" + tag + "]";
  const double abs_floor = std::is_same_v<T, float> ? 1e-7 : 1e-14;
  EXPECT_NEAR(loss, g.d("loss"), rel * std::fabs(g.d("loss")) + abs_floor) << where;
  for (std::size_t r = 0; r < n; ++r) {
    EXPECT_NEAR(row_loss[r], g.v("row_loss")[r], rel * std::fabs(g.v("row_loss")[r]) + abs_floor)
        << where << " row " << r;
    // The gradient is a difference of probabilities (q_j - p_j for forward KL), so its error
    // scales with (p_j + q_j) times the gradient's factor, not with the difference.
    const std::vector<double> p = probs(g.v("teacher_values"), r, c, o.teacher_input ==
                                        TeacherInput::kLogProbs ? 1.0 : o.temperature);
    const std::vector<double> q = probs(g.v("student"), r, c, o.temperature);
    const double scale = (o.tau_squared ? o.temperature : 1.0 / o.temperature) *
                         (o.reduction == Reduction::kBatchMean ? 1.0 / n
                          : o.reduction == Reduction::kMean  ? 1.0 / (n * c) : 1.0);
    const double hard = o.alpha > 0 ? o.alpha : 0.0;
    for (std::size_t j = 0; j < c; ++j) {
      const double want = g.v("grad")[r * c + j];
      EXPECT_NEAR(grad[r * c + j], want,
                  ulp_grad * std::numeric_limits<T>::epsilon() *
                      (std::fabs(want) + (scale + hard) * (p[j] + q[j] + 1.0 / c)))
          << where << " grad " << r << "," << j;
    }
  }
}

TEST(LossTest, DistillationMatchesPyTorchDouble) {
  for (const Golden& g : testing::read_golden("distillation.txt")) {
    check_case<double>(g, Precision::kAccurate, 1e-12, 64, "double");
  }
}

TEST(LossTest, DistillationMatchesPyTorchFloatEveryTarget) {
  const auto cases = testing::read_golden("distillation.txt");
  testing::for_each_target([&](const std::string& t) {
    for (const Golden& g : cases) {
      check_case<float>(g, Precision::kAccurate, 1e-6, 4, t);
      check_case<float>(g, Precision::kFast, 3e-5, 64, t + " fast");
    }
  });
}

TEST(LossTest, DistillationGradientMatchesFiniteDifferences) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd(0.0, 2.0);
  const std::size_t n = 3, c = 7;
  std::vector<double> s(n * c), t(n * c);
  for (double& v : s) v = nd(rng);
  for (double& v : t) v = nd(rng);
  std::vector<std::int64_t> targets = {1, -100, 6};
  for (Divergence d : {Divergence::kForwardKL, Divergence::kReverseKL, Divergence::kJensenShannon}) {
    for (double tau : {1.0, 20.0, 0.5}) {
      DistillationOptions o;
      o.divergence = d;
      o.temperature = tau;
      o.js_beta = 0.3;
      o.alpha = 0.25;
      o.target = targets;
      auto loss_at = [&](const std::vector<double>& ss, double* g) {
        LossOutputs<double> out;
        if (g) out.grad = Rows<double>{g, n, c, c};
        return distillation_loss(Rows<const double>{ss.data(), n, c, c},
                                 Rows<const double>{t.data(), n, c, c}, o, out);
      };
      std::vector<double> g(n * c);
      loss_at(s, g.data());
      for (std::size_t i = 0; i < n * c; ++i) {
        const double h = 1e-5 * tau;
        std::vector<double> sp = s, sm = s;
        sp[i] += h;
        sm[i] -= h;
        const double fd = (loss_at(sp, nullptr) - loss_at(sm, nullptr)) / (2 * h);
        EXPECT_NEAR(g[i], fd, 1e-7 * std::max(1.0, std::fabs(fd)))
            << static_cast<int>(d) << " tau " << tau << " i " << i;
      }
    }
  }
}

// KL >= 0, and 0 (with zero gradient) when teacher equals student; threads and targets agree.
TEST(LossTest, DistillationProperties) {
  const std::size_t n = 3, c = 40000;
  std::mt19937_64 rng(9);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> s(n * c), t(n * c);
  for (float& v : s) v = nd(rng);
  for (float& v : t) v = nd(rng);
  std::vector<float> g0(n * c), g(n * c);
  double l0 = 0;
  bool first = true;
  testing::for_each_target([&](const std::string& name) {
    for (int threads : {1, 2}) {
      DistillationOptions o;
      o.threads = threads;
      o.temperature = 2.0;
      const double l = distillation_loss(Rows<const float>{s.data(), n, c, c},
                                         Rows<const float>{t.data(), n, c, c}, o,
                                         LossOutputs<float>{Rows<float>{g.data(), n, c, c}, {}, {}});
      EXPECT_GT(l, 0.0);
      if (first) {
        l0 = l;
        g0 = g;
        first = false;
      }
      EXPECT_EQ(l, l0) << name << " threads " << threads;
      EXPECT_TRUE(g == g0) << name << " threads " << threads;
    }
  });
  DistillationOptions o;
  const double same = distillation_loss(Rows<const float>{s.data(), n, c, c},
                                        Rows<const float>{s.data(), n, c, c}, o,
                                        LossOutputs<float>{Rows<float>{g.data(), n, c, c}, {}, {}});
  EXPECT_NEAR(same, 0.0, 1e-9);
  for (float v : g) EXPECT_NEAR(v, 0.0f, 1e-9f);
}

// The float SIMD paths of every divergence and teacher input, on rows of several 16384-entry
// chunks with -inf entries (masked classes) and one row whose student chunk is all -inf (the
// scalar fallback), against the double overload on the same inputs (long double throughout).
TEST(LossTest, DistillationFloatPathsMatchDoubleOnLongRows) {
  const std::size_t n = 4, c = 33000;
  const float inf = std::numeric_limits<float>::infinity();
  std::mt19937_64 rng(21);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> s(n * c), t(n * c);
  for (float& v : s) v = nd(rng);
  for (float& v : t) v = nd(rng);
  for (std::size_t j = 0; j < c; j += 997) t[j] = -inf;                // row 0: teacher masks
  for (std::size_t j = 5; j < c; j += 1231) s[c + j] = -inf;           // row 1: student masks
  for (std::size_t j = 0; j < c; j += 313) (j % 2 ? s : t)[2 * c + j] = -inf;  // row 2: both
  for (std::size_t j = 16384; j < 32768; ++j) s[3 * c + j] = -inf;     // row 3: a whole chunk
  std::vector<double> sd(s.begin(), s.end()), td(t.begin(), t.end());
  for (Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL, Divergence::kJensenShannon}) {
    for (TeacherInput ti : {TeacherInput::kLogits, TeacherInput::kLogProbs}) {
      for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
        DistillationOptions o;
        o.divergence = dv;
        o.teacher_input = ti;
        o.temperature = 2.0;
        o.js_beta = 0.3;
        o.precision = prec;
        o.reduction = Reduction::kSum;
        std::vector<float> g(n * c), rl(n);
        std::vector<double> gd(n * c), rld(n);
        distillation_loss(Rows<const float>{s.data(), n, c, c}, Rows<const float>{t.data(), n, c, c},
                          o, LossOutputs<float>{Rows<float>{g.data(), n, c, c}, rl, {}});
        distillation_loss(Rows<const double>{sd.data(), n, c, c},
                          Rows<const double>{td.data(), n, c, c}, o,
                          LossOutputs<double>{Rows<double>{gd.data(), n, c, c}, rld, {}});
        const bool fast = prec == Precision::kFast;
        const std::string where = "divergence " + std::to_string(static_cast<int>(dv)) +
                                  " teacher " + std::to_string(static_cast<int>(ti)) +
                                  (fast ? " fast" : " accurate");
        for (std::size_t r = 0; r < n; ++r) {
          if (std::isinf(rld[r])) {
            EXPECT_EQ(rl[r], rld[r]) << where << " row " << r;
          } else {
            EXPECT_NEAR(rl[r], rld[r], (fast ? 3e-5 : 1e-6) * std::fabs(rld[r]) + 1e-7)
                << where << " row " << r;
          }
          // Gradient error scale: factor / tau times (p_j + q_j) (1 + |log(q_j / p_j)|).
          const std::vector<double> p = probs(td, r, c, ti == TeacherInput::kLogProbs ? 1.0 : 2.0);
          const std::vector<double> q = probs(sd, r, c, 2.0);
          for (std::size_t j = 0; j < c; ++j) {
            const double want = gd[r * c + j];
            if (!std::isfinite(want)) {  // reverse KL +inf (teacher -inf under student mass)
              ASSERT_TRUE(std::isnan(want) ? std::isnan(g[r * c + j]) : g[r * c + j] == want)
                  << where << " grad " << r << "," << j;
              continue;
            }
            double h = (p[j] > 0 && q[j] > 0) ? std::fabs(std::log(q[j] / p[j])) : 0.0;
            const double tol = (fast ? 64 : 8) * std::numeric_limits<float>::epsilon() *
                               (std::fabs(want) + 2.0 * (p[j] + q[j]) * (1.0 + h) + 1e-30);
            ASSERT_NEAR(g[r * c + j], want, tol) << where << " grad " << r << "," << j;
          }
        }
      }
    }
  }
}

// The accurate float gradient against its contract, entry by entry: within 2 ULP + 2^-22 c (p_j +
// q_j) of the long-double result (c = the gradient's scale, tau * factor / N), plus FLT_MIN for
// results below FLT_MIN (docs/design.md §3) and the subnormal exponentials' term of loss.h; rows of N(0, 3^2) and N(0, 30^2) logits (then
// (x - max) / tau reaches the subnormal range, where a float shift would be off by far more).
TEST(LossTest, DistillationAccurateGradientWithinContract) {
  const std::size_t n = 4, c = 20000;
  for (float sigma : {3.0f, 30.0f}) {
    std::mt19937_64 rng(41);
    std::normal_distribution<float> nd(0.0f, sigma);
    std::vector<float> s(n * c), t(n * c);
    for (float& v : s) v = nd(rng);
    for (float& v : t) v = nd(rng);
    const std::vector<double> sd(s.begin(), s.end()), td(t.begin(), t.end());
    for (Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL, Divergence::kJensenShannon}) {
      DistillationOptions o;
      o.divergence = dv;
      o.temperature = 2.0;
      o.reduction = Reduction::kSum;  // c = tau * tau^2 / tau = tau
      std::vector<float> g(n * c), rl(n);
      std::vector<double> gd(n * c), rld(n);
      distillation_loss(Rows<const float>{s.data(), n, c, c}, Rows<const float>{t.data(), n, c, c},
                        o, LossOutputs<float>{Rows<float>{g.data(), n, c, c}, rl, {}});
      distillation_loss(Rows<const double>{sd.data(), n, c, c},
                        Rows<const double>{td.data(), n, c, c}, o,
                        LossOutputs<double>{Rows<double>{gd.data(), n, c, c}, rld, {}});
      double worst = 0, worst_loss = 0;
      for (std::size_t r = 0; r < n; ++r) {
        worst_loss = std::max(worst_loss, std::fabs(rl[r] - rld[r]) / std::fabs(rld[r]));
        EXPECT_NEAR(rl[r], rld[r], 1e-6 * std::fabs(rld[r]) + 1e-7) << "sigma " << sigma;
        const std::vector<double> p = probs(td, r, c, 2.0), q = probs(sd, r, c, 2.0);
        for (std::size_t j = 0; j < c; ++j) {
          const double want = gd[r * c + j];
          const double ulp = std::ldexp(1.0, std::max(std::ilogb(std::fabs(want)), -126) - 23);
          double excess = std::fabs(g[r * c + j] - want) - 2 * ulp;
          if (std::fabs(want) < 0x1p-126) excess -= 0x1p-126;
          const double pq = std::min(p[j], q[j]);
          if (pq < 0x1p-126) {  // a subnormal exponential's rounding carries through (loss.h)
            excess -= 0x1p-149 * (o.temperature + (pq > 0 ? std::fabs(want) / pq : 0.0));
          }
          if (excess <= 0) continue;
          const double units = excess / (0x1p-24 * o.temperature * (p[j] + q[j]));
          worst = std::max(worst, units);
          ASSERT_LE(units, 4.0) << "sigma " << sigma << " divergence " << static_cast<int>(dv)
                                << " entry " << r << "," << j << " got " << g[r * c + j]
                                << " want " << want;
        }
      }
      std::printf("sigma %g divergence %d: row loss max relative error %.2g, gradient beyond 2 ULP "
                  "%.3g x 2^-24 c (p + q) (contract: 4)\n",
                  sigma, static_cast<int>(dv), worst_loss, worst);
    }
  }
}

// A student whose logits are already log-probabilities (times tau): the returned lse is near 0
// (max / tau and the log of the sum cancel) and must still be within 4 ULP.
TEST(LossTest, DistillationStudentLseOfLogProbabilities) {
  const std::size_t c = 30000;
  std::mt19937_64 rng(43);
  std::normal_distribution<double> nd(0.0, 3.0);
  std::vector<double> z(c);
  for (double& v : z) v = nd(rng);
  const std::vector<double> lp = ref::log_softmax(z, 1.0);
  std::vector<float> t(c);
  for (float& v : t) v = static_cast<float>(nd(rng));
  for (double tau : {1.0, 2.0}) {
    std::vector<float> s(c);
    for (std::size_t j = 0; j < c; ++j) s[j] = static_cast<float>(tau * lp[j]);
    const double want = ref::logsumexp(std::vector<double>(s.begin(), s.end()), tau);
    for (Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL}) {
      DistillationOptions o;
      o.temperature = tau;
      o.divergence = dv;
      std::vector<float> lse(1);
      distillation_loss(Rows<const float>{s.data(), 1, c, c}, Rows<const float>{t.data(), 1, c, c},
                        o, LossOutputs<float>{Rows<float>{nullptr, 0, 0, 0}, {}, lse});
      EXPECT_LE(ref::ulp_error_f32(lse[0], want), 4.0)
          << "tau " << tau << " divergence " << static_cast<int>(dv) << " lse " << lse[0]
          << " want " << want;
    }
  }
}

// Every divergence gives the same bits on every target and thread count, and a large gradient
// (written with non-temporal stores, rows not vector-aligned) equals row-by-row calls.
TEST(LossTest, DistillationDeterministicAndStreamed) {
  const std::size_t n = 130, c = 32768, stride = c + 3;  // 17 MB of gradient: streamed
  std::mt19937_64 rng(23);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> s(n * stride), t(n * stride);
  for (float& v : s) v = nd(rng);
  for (float& v : t) v = nd(rng);
  for (Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL, Divergence::kJensenShannon}) {
    DistillationOptions o;
    o.divergence = dv;
    o.temperature = 1.5;
    o.reduction = Reduction::kSum;
    std::vector<float> g0(n * stride), g(n * stride), g1(stride);
    o.threads = 1;
    const double l0 = distillation_loss(Rows<const float>{s.data(), n, c, stride},
                                        Rows<const float>{t.data(), n, c, stride}, o,
                                        LossOutputs<float>{Rows<float>{g0.data() + 1, n, c, stride}, {}, {}});
    o.threads = 2;
    const double l2 = distillation_loss(Rows<const float>{s.data(), n, c, stride},
                                        Rows<const float>{t.data(), n, c, stride}, o,
                                        LossOutputs<float>{Rows<float>{g.data() + 1, n, c, stride}, {}, {}});
    EXPECT_EQ(l0, l2);
    EXPECT_TRUE(g == g0) << static_cast<int>(dv);
    o.threads = 1;
    for (std::size_t r : {std::size_t{0}, std::size_t{77}, n - 1}) {
      distillation_loss(Rows<const float>{s.data() + r * stride, 1, c, c},
                        Rows<const float>{t.data() + r * stride, 1, c, c}, o,
                        LossOutputs<float>{Rows<float>{g1.data(), 1, c, c}, {}, {}});
      for (std::size_t j = 0; j < c; ++j) {
        ASSERT_EQ(g1[j], g0[r * stride + 1 + j]) << static_cast<int>(dv) << " row " << r;
      }
    }
  }
  // Every target, one short and one multi-chunk row per divergence.
  const std::size_t m = 2, cc = 20000;
  for (Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL, Divergence::kJensenShannon}) {
    for (Precision prec : {Precision::kAccurate, Precision::kFast}) {
      DistillationOptions o;
      o.divergence = dv;
      o.precision = prec;
      std::vector<float> ref, g(m * cc);
      double lref = 0;
      testing::for_each_target([&](const std::string& name) {
        const double l = distillation_loss(Rows<const float>{s.data(), m, cc, cc},
                                           Rows<const float>{t.data(), m, cc, cc}, o,
                                           LossOutputs<float>{Rows<float>{g.data(), m, cc, cc}, {}, {}});
        if (ref.empty()) {
          ref = g;
          lref = l;
        }
        EXPECT_EQ(l, lref) << name;
        EXPECT_TRUE(g == ref) << name << " divergence " << static_cast<int>(dv);
      });
    }
  }
}

TEST(LossTest, DistillationEdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  // A student entry at -inf where the teacher has mass: forward KL +inf.
  std::vector<float> s = {-inf, 1, 2}, t = {0, 1, 2}, g(3);
  EXPECT_EQ(distillation_loss(one_row<const float>(s.data(), 3), one_row<const float>(t.data(), 3), {},
                              LossOutputs<float>{Rows<float>{g.data(), 1, 3, 3}, {}, {}}),
            std::numeric_limits<double>::infinity());
  for (float v : g) EXPECT_TRUE(std::isfinite(v));
  // A teacher entry at -inf: it carries no mass; forward KL finite.
  std::vector<float> t2 = {-inf, 1, 2};
  EXPECT_TRUE(std::isfinite(distillation_loss(one_row<const float>(t.data(), 3),
                                              one_row<const float>(t2.data(), 3))));
  // ... while the reverse KL is +inf there.
  DistillationOptions rev;
  rev.divergence = Divergence::kReverseKL;
  EXPECT_EQ(distillation_loss(one_row<const float>(t.data(), 3), one_row<const float>(t2.data(), 3), rev),
            std::numeric_limits<double>::infinity());
  // NaN: NaN loss and gradient.
  std::vector<float> sn = {std::nanf(""), 1, 2};
  EXPECT_TRUE(std::isnan(distillation_loss(one_row<const float>(sn.data(), 3),
                                           one_row<const float>(t.data(), 3), {},
                                           LossOutputs<float>{Rows<float>{g.data(), 1, 3, 3}, {}, {}})));
  for (float v : g) EXPECT_TRUE(std::isnan(v));
}

TEST(LossTest, DistillationRejectsBadInput) {
  std::vector<float> s(6, 0.5f), t(6, 0.25f), t_bad(8), g(6, -7);
  const LossOutputs<float> out{Rows<float>{g.data(), 2, 3, 3}, {}, {}};
  auto expect_throw = [&](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no exception for " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    for (float v : g) EXPECT_EQ(v, -7.0f) << needle;
  };
  const Rows<const float> sr{s.data(), 2, 3, 3}, tr{t.data(), 2, 3, 3};
  expect_throw([&] { distillation_loss(sr, Rows<const float>{t_bad.data(), 2, 4, 4}, {}, out); },
               "teacher has shape [2, 4]");
  for (double tau : {0.0, -2.0, std::numeric_limits<double>::infinity()}) {
    DistillationOptions o;
    o.temperature = tau;
    expect_throw([&] { distillation_loss(sr, tr, o, out); }, "temperature");
  }
  DistillationOptions js;
  js.divergence = Divergence::kJensenShannon;
  js.js_beta = 1.0;
  expect_throw([&] { distillation_loss(sr, tr, js, out); }, "js_beta");
  DistillationOptions hard;
  hard.alpha = 0.5;
  std::vector<std::int64_t> bad_target = {0, 7};
  hard.target = bad_target;
  expect_throw([&] { distillation_loss(sr, tr, hard, out); }, "target at row 1");
  std::vector<float> g_bad(4);
  expect_throw([&] {
    distillation_loss(sr, tr, {}, LossOutputs<float>{Rows<float>{g_bad.data(), 1, 4, 4}, {}, {}});
  }, "grad has shape");
}

}  // namespace
}  // namespace logitkit
