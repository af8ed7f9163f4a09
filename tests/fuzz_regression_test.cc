// SPDX-License-Identifier: Apache-2.0
// Inputs found by the fuzzers and property tests (docs/reliability.md), kept as regression tests.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

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

}  // namespace
}  // namespace logitkit
