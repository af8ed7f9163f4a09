// SPDX-License-Identifier: Apache-2.0
// The one temperature rule (src/internal/temperature.h): every entry point rejects a temperature
// outside its range with the same message, "logitkit::<fn>: temperature must be <rule>, got
// <value>", the value written as the caller gave it; and the decoding of 1/tau picks the same
// limit everywhere.

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "logitkit/sampling.h"
#include "logitkit/shard.h"
#include "logitkit/softmax.h"
#include "src/internal/temperature.h"

namespace logitkit::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr char kLimits[] = "temperature must be >= 0 (0 = argmax, +inf = uniform), got ";
constexpr char kPositive[] = "temperature must be > 0 and finite, got ";

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no throw)";
}

struct Bad {
  double tau;
  const char* text;  // as the caller wrote it
};

TEST(TemperatureRule, OneMessageNamingFunctionAndValue) {
  std::vector<float> x{1.0f, 2.0f, 3.0f}, y(3), g(3), out(1);
  const Rows<const float> X{x.data(), 1, 3, 3};
  const Rows<float> Y{y.data(), 1, 3, 3};
  std::vector<std::int64_t> t{1};
  std::vector<LseState> st(1);
  std::vector<shard::CrossEntropyState> cst(1);
  std::vector<shard::DistillationState> dst(1);
  // The softmax family and the sampler: tau >= 0 (0 and +inf are limits).
  for (const Bad& b : {Bad{-0.5, "-0.5"}, Bad{std::nan(""), "nan"}, Bad{-1e-320, "-1e-320"},
                       Bad{-kInf, "-inf"}}) {
    SCOPED_TRACE(b.text);
    const SoftmaxOptions o{.temperature = b.tau};
    const std::string rule = std::string(kLimits) + b.text;
    EXPECT_EQ(message_of([&] { softmax(X, Y, o); }), "logitkit::softmax: " + rule);
    EXPECT_EQ(message_of([&] { log_softmax(X, Y, o); }), "logitkit::log_softmax: " + rule);
    EXPECT_EQ(message_of([&] { logsumexp(X, out, o); }), "logitkit::logsumexp: " + rule);
    EXPECT_EQ(message_of([&] { softmax_backward(X, X, Rows<float>{g.data(), 1, 3, 3}, o); }),
              "logitkit::softmax_backward: " + rule);
    EXPECT_EQ(message_of([&] { shard::softmax_states(X, st, o); }),
              "logitkit::shard::softmax_states: " + rule);
    SamplingParams p;
    p.temperature = b.tau;
    EXPECT_EQ(message_of([&] { sample(std::span<const float>(x), p, 0, 0); }),
              "logitkit::sample: params." + rule);
    EXPECT_EQ(shard::sampling_params_problem(p), "params." + rule);
  }
  // The losses and LseState: 0 < tau < +inf.
  for (const Bad& b : {Bad{0.0, "0"}, Bad{-2.0, "-2"}, Bad{kInf, "inf"}, Bad{std::nan(""), "nan"},
                       Bad{-1e-320, "-1e-320"}}) {
    SCOPED_TRACE(b.text);
    const std::string rule = std::string(kPositive) + b.text;
    CrossEntropyOptions co;
    co.temperature = b.tau;
    DistillationOptions d;
    d.temperature = b.tau;
    EXPECT_EQ(message_of([&] { cross_entropy(X, t, co); }), "logitkit::cross_entropy: " + rule);
    EXPECT_EQ(message_of([&] { distillation_loss(X, X, d); }),
              "logitkit::distillation_loss: " + rule);
    EXPECT_EQ(message_of([&] { LseState::of(std::span<const float>(x), b.tau); }),
              "logitkit::LseState: " + rule);
    EXPECT_EQ(message_of([&] { shard::cross_entropy_states(X, t, {0, 3}, co, cst); }),
              "logitkit::shard::cross_entropy_states: " + rule);
    EXPECT_EQ(message_of([&] { shard::distillation_states(X, X, d, dst); }),
              "logitkit::shard::distillation_states: " + rule);
  }
}

TEST(TemperatureRule, Decoding) {
  using internal::decode_temperature;
  using internal::TauMode;
  EXPECT_EQ(decode_temperature(0.0).mode, TauMode::kArgmax);
  EXPECT_EQ(decode_temperature(1e-320).mode, TauMode::kArgmax);  // 1/tau overflows a double
  EXPECT_EQ(decode_temperature(1e-300).mode, TauMode::kNormal);
  EXPECT_EQ(decode_temperature(kInf).mode, TauMode::kUniform);
  EXPECT_EQ(decode_temperature(kInf).inv_tau, 0.0);
  EXPECT_EQ(decode_temperature(0.5).inv_tau, 2.0);
  // The float windows: the kernels' FLT_MAX and the sampler's [1e-30, 1e30].
  const double fmax = std::numeric_limits<float>::max();
  EXPECT_TRUE(internal::float_path(fmax));
  EXPECT_FALSE(internal::float_path(std::nextafter(fmax, kInf)));
  EXPECT_TRUE(internal::float_path(1e30, internal::FloatWindow::kSampler));
  EXPECT_FALSE(internal::float_path(1.01e30, internal::FloatWindow::kSampler));
  EXPECT_FALSE(internal::float_path(9.9e-31, internal::FloatWindow::kSampler));
  EXPECT_TRUE(internal::float_path(1e-30, internal::FloatWindow::kSampler));
  // A tau whose reciprocal overflows a double is the argmax limit in the softmax family, and
  // a valid (tiny) temperature for the losses.
  std::vector<float> x{1.0f, 3.0f, 3.0f, -1.0f}, y(4);
  softmax(Rows<const float>{x.data(), 1, 4, 4}, Rows<float>{y.data(), 1, 4, 4},
          {.temperature = 1e-320});
  EXPECT_EQ(y, (std::vector<float>{0.0f, 0.5f, 0.5f, 0.0f}));
  std::vector<std::int64_t> t{1};
  CrossEntropyOptions co;
  co.temperature = 1e-320;
  EXPECT_TRUE(std::isfinite(cross_entropy(Rows<const float>{x.data(), 1, 4, 4}, t, co)));
}

}  // namespace
}  // namespace logitkit::test
