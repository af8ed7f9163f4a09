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

}  // namespace
}  // namespace logitkit
