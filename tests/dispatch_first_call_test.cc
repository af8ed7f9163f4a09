// SPDX-License-Identifier: Apache-2.0
// The first call of a process detects the CPU once, not once per row.
//
// Until a first dispatch has run, Highway's dispatch tables point at ChooseAndCall, which detects
// the CPU (hwy::SupportedTargets: CPUID, 20-35 µs in a virtual machine) before calling the
// target's function. The library keeps kernel pointers for a whole call; it must take them after
// the target is chosen. This file counts the detections: it defines hwy::SupportedTargets itself
// (the library's calls resolve to it) and forwards to libhwy's. Each test puts Highway back in
// its first-call state (ChosenTarget::DeInit) and makes one call over many rows.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "logitkit/logitkit.h"

namespace {
long g_detections = 0;
}  // namespace

namespace hwy {
int64_t SupportedTargets() {
  using Fn = int64_t (*)();
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "_ZN3hwy16SupportedTargetsEv"));
  ++g_detections;
  return real();
}
}  // namespace hwy

namespace logitkit {
namespace {

constexpr std::size_t kRows = 300, kCols = 100;  // row by row (not the short/medium kernels)

std::vector<float> Logits(std::size_t n, float shift = 0.0f) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * 4 + shift;
  return x;
}

// Runs fn from Highway's first-call state; returns how many times the CPU was detected.
template <class Fn>
long DetectionsOfFirstCall(Fn fn) {
  hwy::GetChosenTarget().DeInit();
  g_detections = 0;
  fn();
  EXPECT_TRUE(hwy::GetChosenTarget().IsInitialized());
  return g_detections;
}

TEST(DispatchFirstCallTest, SoftmaxBothPrecisions) {
  const std::vector<float> x = Logits(kRows * kCols);
  std::vector<float> y(x.size());
  for (Precision p : {Precision::kAccurate, Precision::kFast}) {
    SoftmaxOptions o;
    o.threads = 1;
    o.precision = p;
    EXPECT_LE(DetectionsOfFirstCall([&] {
                softmax(Rows<const float>{x.data(), kRows, kCols, kCols},
                        Rows<float>{y.data(), kRows, kCols, kCols}, o);
              }),
              1);
    EXPECT_LE(DetectionsOfFirstCall([&] {
                log_softmax(Rows<const float>{x.data(), kRows, kCols, kCols},
                            Rows<float>{y.data(), kRows, kCols, kCols}, o);
              }),
              1);
  }
}

// A loss with a gradient output, first-called in each precision: call(options, outputs).
template <class Options, class Call>
void ExpectOneDetectionWithGradient(Call call) {
  std::vector<float> grad(kRows * kCols);
  for (Precision p : {Precision::kAccurate, Precision::kFast}) {
    Options o;
    o.threads = 1;
    o.precision = p;
    LossOutputs<float> out;
    out.grad = Rows<float>{grad.data(), kRows, kCols, kCols};
    EXPECT_LE(DetectionsOfFirstCall([&] { call(o, out); }), 1);
  }
}

TEST(DispatchFirstCallTest, CrossEntropyWithGradient) {
  const std::vector<float> x = Logits(kRows * kCols);
  std::vector<std::int64_t> target(kRows);
  for (std::size_t r = 0; r < kRows; ++r) target[r] = static_cast<std::int64_t>(r % kCols);
  ExpectOneDetectionWithGradient<CrossEntropyOptions>([&](const auto& o, const auto& out) {
    cross_entropy(Rows<const float>{x.data(), kRows, kCols, kCols}, target, o, out);
  });
}

TEST(DispatchFirstCallTest, DistillationWithGradient) {
  const std::vector<float> s = Logits(kRows * kCols), t = Logits(kRows * kCols, 1.0f);
  ExpectOneDetectionWithGradient<DistillationOptions>([&](const auto& o, const auto& out) {
    distillation_loss(Rows<const float>{s.data(), kRows, kCols, kCols},
                      Rows<const float>{t.data(), kRows, kCols, kCols}, o, out);
  });
}

TEST(DispatchFirstCallTest, Contrastive) {
  constexpr std::size_t kBatch = 64, kDim = 32;
  const std::vector<float> img = Logits(kBatch * kDim), txt = Logits(kBatch * kDim, 0.5f);
  EXPECT_LE(DetectionsOfFirstCall([&] {
              contrastive_loss(Rows<const float>{img.data(), kBatch, kDim, kDim},
                               Rows<const float>{txt.data(), kBatch, kDim, kDim}, std::log(10.0));
            }),
            1);
}

TEST(DispatchFirstCallTest, SampleBatch) {
  const std::vector<float> x = Logits(kRows * kCols);
  SamplingParams params;
  params.temperature = 0.8;
  params.top_p = 0.9;
  params.seed = 7;
  std::vector<SampleResult> out(kRows);
  const std::uint64_t step = 3;
  EXPECT_LE(DetectionsOfFirstCall([&] {
              sample(Rows<const float>{x.data(), kRows, kCols, kCols},
                     std::span<const SamplingParams>(&params, 1), {},
                     std::span<const std::uint64_t>(&step, 1), out, 1);
            }),
            1);
}

}  // namespace
}  // namespace logitkit
