// SPDX-License-Identifier: Apache-2.0
// Inputs found by the fuzzers and property tests (docs/reliability.md), kept as regression tests.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <vector>

#include "logitkit/loss.h"
#include "logitkit/sampling.h"
#include "logitkit/softmax.h"

namespace logitkit {
namespace {

// Runs fn in a child process and reports whether it returned (exit 0) within `seconds`: a hang
// fails the test in seconds instead of holding CTest until its 600 s timeout.
template <class Fn>
testing::AssertionResult completes_within(unsigned seconds, Fn fn) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(seconds);
    fn();
    std::_Exit(0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return testing::AssertionFailure() << "fork failed";
  if (WIFSIGNALED(status)) {
    return testing::AssertionFailure()
           << (WTERMSIG(status) == SIGALRM ? "did not return within " + std::to_string(seconds) + " s"
                                           : "killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) return testing::AssertionFailure() << "exit status " << WEXITSTATUS(status);
  return testing::AssertionSuccess();
}

// Property SamplingNeverReturnsMaskedToken (RapidCheck seed 1): one finite logit among 125-127
// -inf ones with top_p = 0.9 made sample() loop forever in the nucleus sort.
TEST(FuzzRegression, SamplingOneFiniteLogitTopPReturns) {
  for (std::size_t n = 120; n <= 130; ++n) {
    SCOPED_TRACE("n = " + std::to_string(n));
    EXPECT_TRUE(completes_within(20, [n] {
      std::vector<float> x(n, -INFINITY);
      x[26] = -40.640625f;
      SamplingParams sp;
      sp.temperature = 2.0;
      sp.top_p = 0.9;
      const SampleResult r = sample(std::span<const float>(x), sp, 11217624, 122360100);
      if (r.token != 26 || r.logprob != 0.0f) std::_Exit(3);
    }));
  }
}

// softmax_fuzz (fuzz/regressions/softmax_fuzz/backward_subnormal_tau): at a temperature whose
// reciprocal overflows a double (tau < 2^-1024, e.g. the smallest subnormal), both backward passes
// returned 0, the gradient of the tau = 0 limit, instead of the exact value, which overflows
// float: (dy_i - sum) y_i / tau = +-inf here.
TEST(FuzzRegression, BackwardAtSubnormalTemperatureIsNotTheLimit) {
  const double tau = 4.9e-324;
  SoftmaxOptions o;
  o.temperature = tau;
  const std::vector<float> x = {3, 3}, dy = {1, 0};
  std::vector<float> y(2), dx(2);
  softmax(one_row(x.data(), 2), one_row(y.data(), 2), o);
  softmax_backward(one_row(y.data(), 2), one_row(dy.data(), 2), one_row(dx.data(), 2), o);
  EXPECT_EQ(dx[0], INFINITY);  // exact 0.25 / tau
  EXPECT_EQ(dx[1], -INFINITY);
  log_softmax(one_row(x.data(), 2), one_row(y.data(), 2), o);
  log_softmax_backward(one_row(y.data(), 2), one_row(dy.data(), 2), one_row(dx.data(), 2), o);
  EXPECT_EQ(dx[0], INFINITY);  // exact 0.5 / tau
  EXPECT_EQ(dx[1], -INFINITY);
}

// softmax_fuzz (fuzz/regressions/softmax_fuzz/fast_tiny_tau_sum): Precision::kFast at a
// temperature whose reciprocal overflows float (tau <= ~3e-39) on rows of 17+ entries gave a row
// summing to 1.2e-38 (the maximum's probability lost) on every target, instead of the argmax
// limit. The contract keeps kFast row sums within 2.5e-7 of 1.
TEST(FuzzRegression, FastSoftmaxAtTinyTemperatureSumsToOne) {
  for (const double tau : {1e-39, 1e-300}) {
    for (const std::size_t n : {17u, 142u}) {
      std::vector<float> x(n), y(n);
      for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i * 37 % 101) / 8.0f;
      SoftmaxOptions o;
      o.temperature = tau;
      o.precision = Precision::kFast;
      softmax(one_row(x.data(), n), one_row(y.data(), n), o);
      double sum = 0;
      for (float v : y) sum += v;
      EXPECT_NEAR(sum, 1.0, 2.5e-7) << "tau " << tau << ", n " << n;
    }
  }
}

// ---- loss_fuzz (fuzz/regressions/loss_fuzz/) ---------------------------------------------------

// The float and double distillation losses of one row, every output requested.
struct DistillRow {
  float loss_f, lse_f;
  double loss_d;
  std::vector<float> grad_f;
  std::vector<double> grad_d;
};
DistillRow distill_row(const std::vector<float>& s, const std::vector<float>& t,
                       const DistillationOptions& o) {
  const std::size_t n = s.size();
  DistillRow r{0, 0, 0, std::vector<float>(n), std::vector<double>(n)};
  std::vector<float> rl(1), lse(1);
  distillation_loss(one_row(s.data(), n), one_row(t.data(), n), o,
                    LossOutputs<float>{one_row(r.grad_f.data(), n), rl, lse});
  const std::vector<double> sd(s.begin(), s.end()), td(t.begin(), t.end());
  std::vector<double> rld(1);
  distillation_loss(one_row(sd.data(), n), one_row(td.data(), n), o,
                    LossOutputs<double>{one_row(r.grad_d.data(), n), rld, {}});
  r.loss_f = rl[0];
  r.lse_f = lse[0];
  r.loss_d = rld[0];
  return r;
}

// loss_fuzz (distill_subnormal_tau, distill_js_subnormal_tau, distill_tau_1e-300,
// distill_fast_tau_1e-39): a valid temperature so small that 1/tau overflows a double (4.9e-324),
// that (x - max)/tau overflows one (1e-300), or that kFast's float 1/tau overflows (1e-39) gave
// a NaN row loss (0 * inf in the shifts and KL sums), for a teacher equal to the student, whose
// divergence is exactly 0.
TEST(FuzzRegression, DistillationAtTinyTemperatureIsNotNaN) {
  const std::vector<std::vector<float>> rows = {
      std::vector<float>(20, -1.6094379f),
      {5760.0f, -5824.0f, -8192.0f, -8192.0f, -3.6888795f, -7.0f},
      {0.0f, -1e30f, -31.316406f, 25.988281f, -62.609375f, -128.0f, -128.0f}};
  for (const double tau : {4.9e-324, 1e-300, 1e-39}) {
    for (const Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL,
                                Divergence::kJensenShannon}) {
      for (const Precision pr : {Precision::kAccurate, Precision::kFast}) {
        for (const auto& x : rows) {
          DistillationOptions o;
          o.temperature = tau;
          o.divergence = dv;
          o.js_beta = 0.1;
          o.precision = pr;
          const DistillRow r = distill_row(x, x, o);
          SCOPED_TRACE("tau " + std::to_string(tau) + " divergence " +
                       std::to_string(static_cast<int>(dv)) + " n " + std::to_string(x.size()));
          // 0 up to the rounding of JS's log M (times tau^2, itself tiny here).
          EXPECT_NEAR(r.loss_d, 0.0, 1e-30);
          EXPECT_NEAR(r.loss_f, 0.0f, 1e-30);
          for (std::size_t j = 0; j < x.size(); ++j) {
            EXPECT_FALSE(std::isnan(r.grad_f[j])) << "entry " << j;
            EXPECT_FALSE(std::isnan(r.grad_d[j])) << "entry " << j;
          }
        }
      }
    }
  }
}

// loss_fuzz: cross_entropy at tau = 4.9e-324 (1/tau overflows a double) gave NaN in the float
// and the double overloads alike ((max - x) * inf = 0 * inf at the maximum). The exact values:
// two tied maxima share the mass, so the loss is log 2; the gradient (p - q) / tau is -inf at
// the target, +inf at the other maximum and 0 (p = exp(-1/tau) = 0) elsewhere; lse = 1/tau = inf.
TEST(FuzzRegression, CrossEntropyAtSubnormalTemperatureIsTheExactValue) {
  CrossEntropyOptions o;
  o.temperature = 4.9e-324;
  o.reduction = Reduction::kSum;
  const std::vector<float> x = {1.0f, 1.0f, 0.0f};
  const std::vector<std::int64_t> t = {0};
  std::vector<float> g(3), rl(1), lse(1);
  const double loss = cross_entropy(one_row(x.data(), 3), t, o, LossOutputs<float>{one_row(g.data(), 3), rl, lse});
  EXPECT_FLOAT_EQ(rl[0], static_cast<float>(std::log(2.0)));
  EXPECT_NEAR(loss, std::log(2.0), 1e-7);
  EXPECT_EQ(lse[0], INFINITY);
  EXPECT_EQ(g[0], -INFINITY);
  EXPECT_EQ(g[1], INFINITY);
  EXPECT_EQ(g[2], 0.0f);
  const std::vector<double> xd(x.begin(), x.end());
  std::vector<double> gd(3), rld(1);
  cross_entropy(one_row(xd.data(), 3), t, o, LossOutputs<double>{one_row(gd.data(), 3), rld, {}});
  EXPECT_NEAR(rld[0], std::log(2.0), 1e-15);
  EXPECT_EQ(gd[0], -INFINITY);
  EXPECT_EQ(gd[1], INFINITY);
  EXPECT_EQ(gd[2], 0.0);
}

// loss_fuzz (ce_softcap_grad_overflow): with softcap, a gradient entry whose value before the
// cap's slope overflows float (tau 1e-39, z-loss 1: 1e75) became inf, and inf * slope 0 (the cap
// saturated) = NaN. The exact entries are 0 there, as the double overload gives.
TEST(FuzzRegression, CrossEntropySoftcapGradientOverflowIsNotNaN) {
  CrossEntropyOptions o;
  o.temperature = 1e-39;
  o.z_loss = 1.0;
  o.softcap = 0.001;
  const std::vector<float> x = {-663164.0f, -1280000.0f, -1280000.0f, -5.0f};
  const std::vector<std::int64_t> t = {1};
  std::vector<float> g(4);
  cross_entropy(one_row(x.data(), 4), t, o, LossOutputs<float>{one_row(g.data(), 4), {}, {}});
  const std::vector<double> xd(x.begin(), x.end());
  std::vector<double> gd(4);
  cross_entropy(one_row(xd.data(), 4), t, o, LossOutputs<double>{one_row(gd.data(), 4), {}, {}});
  for (std::size_t j = 0; j < 4; ++j) {
    EXPECT_FALSE(std::isnan(g[j])) << "entry " << j;
    EXPECT_EQ(g[j], static_cast<float>(gd[j])) << "entry " << j;
  }
}

// loss_fuzz (ce_grad_factor_beyond_float): at tau = 1e-39 the gradient factor 1/tau exceeds
// FLT_MAX; the accurate kernel split it into floats (inf) and the fast one rounded it to float,
// so an entry whose exponential underflowed to 0 got 0 * inf = NaN instead of 0.
TEST(FuzzRegression, CrossEntropyGradientFactorBeyondFloatIsNotNaN) {
  const std::vector<float> x = {0.0f, -1.0f, -1.0f, -3.0f, 0.5f};
  for (const Precision pr : {Precision::kAccurate, Precision::kFast}) {
    for (const double z : {0.0, 1.0}) {
      CrossEntropyOptions o;
      o.temperature = 1e-39;
      o.precision = pr;
      o.z_loss = z;
      const std::vector<std::int64_t> t = {4};
      std::vector<float> g(5);
      cross_entropy(one_row(x.data(), 5), t, o, LossOutputs<float>{one_row(g.data(), 5), {}, {}});
      const std::vector<double> xd(x.begin(), x.end());
      std::vector<double> gd(5);
      cross_entropy(one_row(xd.data(), 5), t, o, LossOutputs<double>{one_row(gd.data(), 5), {}, {}});
      for (std::size_t j = 0; j < 5; ++j) {
        EXPECT_EQ(g[j], static_cast<float>(gd[j])) << "entry " << j << " z " << z;
      }
    }
  }
}

// loss_fuzz (ce_zloss_tiny_tau): at tau = 1e-300 with a z-loss the gradient's factor
// scale (S + 2 lambda lse) overflows a double, and an exponential that underflowed to 0 times it
// gave NaN; the exact entry is 0 (p_j = exp(-245e300)).
TEST(FuzzRegression, CrossEntropyZLossAtTinyTemperatureIsNotNaN) {
  CrossEntropyOptions o;
  o.temperature = 1e-300;
  o.z_loss = 1e-4;
  const std::vector<float> x = {117.17578f, -127.98047f, -128.0f};
  const std::vector<std::int64_t> t = {0};
  std::vector<float> g(3);
  cross_entropy(one_row(x.data(), 3), t, o, LossOutputs<float>{one_row(g.data(), 3), {}, {}});
  EXPECT_EQ(g[0], INFINITY);  // 2 lambda lse / tau = 2.3e598
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(g[2], 0.0f);
}

// loss_fuzz: forward KL where the teacher's probability underflows long double (exp(-12000))
// and the student is a +inf limit row (q = 0 there): the long double path computed
// 0 * (log p - log q) = 0 * inf = NaN; p > 0 and q = 0 make the divergence +inf (loss.h).
TEST(FuzzRegression, DistillationUnderflowedTeacherAgainstZeroIsInf) {
  const std::vector<float> s = {INFINITY, 0.0f}, t = {0.0f, -12000.0f};
  DistillationOptions o;
  o.tau_squared = false;
  const DistillRow r = distill_row(s, t, o);
  EXPECT_EQ(r.loss_f, INFINITY);
  EXPECT_EQ(r.loss_d, INFINITY);
}

// loss_fuzz (distill_fast_shift_overflow): kFast's float shift (x - max) / tau overflowed to -inf
// for logits near -FLT_MAX.. FLT_MAX apart at tau 0.07, and the reverse-KL sum took 0 * inf = NaN
// for a teacher equal to the student (divergence 0).
TEST(FuzzRegression, DistillationFastShiftOverflowIsNotNaN) {
  const std::vector<float> x = {0.0f, 0.0f, -786953.125f, 3e38f, 3e38f, 1.8056333e28f, -1280000.0f};
  for (const Divergence dv : {Divergence::kForwardKL, Divergence::kReverseKL,
                              Divergence::kJensenShannon}) {
    DistillationOptions o;
    o.temperature = 0.07;
    o.divergence = dv;
    o.teacher_input = TeacherInput::kLogProbs;
    o.precision = Precision::kFast;
    const DistillRow r = distill_row(x, x, o);
    // 0, up to JS's cancellation (loss.h: 1e-7 absolute).
    EXPECT_NEAR(r.loss_f, 0.0f, 1e-7) << "divergence " << static_cast<int>(dv);
    EXPECT_NEAR(r.loss_d, 0.0, 1e-12) << "divergence " << static_cast<int>(dv);
  }
}

// loss_fuzz (distill_zero_cols): with zero columns distillation_loss left row_loss and lse
// unwritten (whatever the caller's memory held); cross_entropy writes 0 and -inf there.
TEST(FuzzRegression, DistillationWithoutColumnsWritesItsOutputs) {
  const float dummy = 0.0f;
  std::vector<float> rl(3, -7.0f), lse(3, -7.0f);
  DistillationOptions o;
  o.reduction = Reduction::kSum;
  const double loss = distillation_loss(Rows<const float>{&dummy, 3, 0, 0},
                                        Rows<const float>{&dummy, 3, 0, 0}, o,
                                        LossOutputs<float>{Rows<float>{nullptr, 0, 0, 0}, rl, lse});
  EXPECT_EQ(loss, 0.0);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(rl[r], 0.0f);
    EXPECT_EQ(lse[r], -INFINITY);
  }
}

// loss_fuzz (ce_softcap_outputs_requested): cross-entropy with a soft cap at tau = 1e-39 and a
// z-loss (kFast, Megatron smoothing 0.5, cap 1e30): the gradient before the cap's slope
// overflows float, and the row was then taken again in long double, loss included, so the loss
// came out different (by an ULP) when a gradient was asked for. The loss, row_loss and lse must
// not depend on which outputs are requested.
TEST(FuzzRegression, CrossEntropyLossDoesNotDependOnRequestedOutputs) {
  const std::vector<float> x = {3.5f,  -1.25f, 0.75f, 2.0f,  -3.0f, 1.0f,  0.5f,
                                -0.5f, 3.25f,  -2.0f, 0.25f, 1.75f, -1.0f, 2.5f,
                                0.0f,  -0.75f, 1.5f,  -2.5f, 3.0f,  -1.5f};
  const std::size_t C = x.size();
  const std::vector<std::int64_t> t = {7};
  struct Case {
    double tau, softcap, z, eps;
    LabelSmoothing sm;
  };
  const Case cases[] = {
      {1e-39, 1e30, 1e-4, 0.5, LabelSmoothing::kMegatron},  // the fuzzer's case
      {1e-39, 1e30, 0.0, 0.5, LabelSmoothing::kMegatron},   {1e-39, 5.0, 1e-4, 0.0, LabelSmoothing::kPyTorch},
      {1e-39, 0.0, 1e-4, 0.1, LabelSmoothing::kPyTorch},    {1e-30, 1e30, 1e-4, 0.5, LabelSmoothing::kMegatron},
      {1e-300, 2.0, 1.0, 0.5, LabelSmoothing::kPyTorch},    {4.9e-324, 1e30, 1e-4, 0.5, LabelSmoothing::kMegatron},
      {1.0, 1e30, 1e-4, 0.5, LabelSmoothing::kMegatron},    {1.0, 3.0, 0.0, 0.0, LabelSmoothing::kPyTorch},
      {1e30, 1e30, 1e-4, 0.5, LabelSmoothing::kMegatron},
  };
  for (const Case& c : cases) {
    for (const Precision pr : {Precision::kFast, Precision::kAccurate}) {
      for (const int threads : {1, 2}) {
        CrossEntropyOptions o;
        o.temperature = c.tau;
        o.softcap = c.softcap;
        o.z_loss = c.z;
        o.label_smoothing = c.eps;
        o.smoothing = c.sm;
        o.precision = pr;
        o.threads = threads;
        std::vector<float> g(C), rl(1), lse(1), rl2(1), lse2(1);
        const double with_all =
            cross_entropy(one_row(x.data(), C), t, o, LossOutputs<float>{one_row(g.data(), C), rl, lse});
        const double with_grad =
            cross_entropy(one_row(x.data(), C), t, o, LossOutputs<float>{one_row(g.data(), C), {}, {}});
        const double alone = cross_entropy(one_row(x.data(), C), t, o, LossOutputs<float>{});
        const double with_stats = cross_entropy(one_row(x.data(), C), t, o,
                                                LossOutputs<float>{Rows<float>{nullptr, 0, 0, 0}, rl2, lse2});
        const auto bits = [](double v) { return std::bit_cast<std::uint64_t>(v); };
        char what[160];
        std::snprintf(what, sizeof what, "tau %g softcap %g z %g eps %g %s threads %d", c.tau,
                      c.softcap, c.z, c.eps, pr == Precision::kFast ? "fast" : "accurate", threads);
        EXPECT_EQ(bits(with_all), bits(alone)) << what << ": " << with_all << " vs " << alone;
        EXPECT_EQ(bits(with_grad), bits(alone)) << what;
        EXPECT_EQ(bits(with_stats), bits(alone)) << what;
        EXPECT_EQ(std::bit_cast<std::uint32_t>(rl[0]), std::bit_cast<std::uint32_t>(rl2[0])) << what;
        EXPECT_EQ(std::bit_cast<std::uint32_t>(lse[0]), std::bit_cast<std::uint32_t>(lse2[0])) << what;
        for (std::size_t j = 0; j < C; ++j) EXPECT_FALSE(std::isnan(g[j])) << what << " entry " << j;
      }
    }
  }
}

}  // namespace
}  // namespace logitkit
