// SPDX-License-Identifier: Apache-2.0
// A small tour of the softmax family on built-in logits (the README's main job until the CLI).
#include <cmath>
#include <cstdio>
#include <vector>

#include "logitkit/logitkit.h"

namespace {

void print_row(const char* label, const std::vector<float>& v) {
  std::printf("  %-28s", label);
  for (float f : v) std::printf(" %12.9g", f);
  std::printf("\n");
}

std::vector<float> softmax_of(const std::vector<float>& x, double tau) {
  std::vector<float> y(x.size());
  logitkit::softmax(logitkit::one_row(x.data(), x.size()), logitkit::one_row(y.data(), y.size()),
                    {.temperature = tau});
  return y;
}

}  // namespace

int main() {
  std::printf("logitkit %s, SIMD target %s\n\n", LOGITKIT_VERSION_STRING,
              logitkit::targets().chosen.c_str());

  const std::vector<float> x = {2.0f, 1.0f, 0.1f, -1.0f};
  std::printf("The article's example: softmax([2, 1, 0.1, -1])\n");
  print_row("logits", x);
  const auto p = softmax_of(x, 1.0);
  print_row("probabilities", p);
  double sum = 0;
  for (float v : p) sum += v;
  std::printf("  %-28s %12.9g\n\n", "sum", sum);

  std::printf("Temperature inside the exponent: softmax([2, 1, 0.5, -0.5, -1], tau)\n");
  const std::vector<float> sweep = {2.0f, 1.0f, 0.5f, -0.5f, -1.0f};
  for (double tau : {0.0, 0.2, 0.5, 1.0, 2.0, 5.0, double(INFINITY)}) {
    char label[32];
    std::snprintf(label, sizeof label, "tau = %g", tau);
    print_row(label, softmax_of(sweep, tau));
  }

  std::printf("\nStable log-softmax where the naive formula overflows: [1000, 1001, 1002]\n");
  const std::vector<float> big = {1000.0f, 1001.0f, 1002.0f};
  std::vector<float> logp(3);
  logitkit::log_softmax(logitkit::one_row(big.data(), 3), logitkit::one_row(logp.data(), 3));
  print_row("naive exp(x)", {std::exp(big[0]), std::exp(big[1]), std::exp(big[2])});
  print_row("log_softmax", logp);
  float lse = 0;
  logitkit::logsumexp(logitkit::one_row(big.data(), 3), std::span<float>(&lse, 1));
  std::printf("  %-28s %12.9g\n", "logsumexp", lse);

  std::printf("\nA confident row keeps its tiny log-probability: log_softmax([0, -30, -40])[0]\n");
  const std::vector<float> conf = {0.0f, -30.0f, -40.0f};
  logitkit::log_softmax(logitkit::one_row(conf.data(), 3), logitkit::one_row(logp.data(), 3));
  std::printf("  %-28s %12.9g  (exact: -9.3580478043e-14)\n", "log p_max", logp[0]);

  std::printf("\nMasked entries (-inf) get exactly zero: softmax([1, -inf, 1])\n");
  const std::vector<float> masked = {1.0f, -INFINITY, 1.0f};
  print_row("probabilities", softmax_of(masked, 1.0));
  return 0;
}
