// SPDX-License-Identifier: Apache-2.0
// Many std::threads calling logitkit at once on shared inputs get bitwise the single-thread results.
//
// The library's global mutable state (docs/reliability.md): Highway's chosen target (written only
// by force_target/reset_target, documented as not thread-safe, so never called here while other
// calls run), the thread pool (a mutex admits one parallel call at a time; the others run their
// work on the calling thread) and per-thread sampling scratch (thread_local). Run under
// ThreadSanitizer by scripts/test_sanitizers.sh.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "logitkit/loss.h"
#include "logitkit/sampling.h"
#include "logitkit/softmax.h"
#include "logitkit/targets.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

constexpr int kCallers = 6;

// Everything one caller computes; compared bit for bit with the single-thread run.
struct Results {
  std::vector<float> softmax, log_softmax, lse, grad, long_softmax, bf16_softmax;
  std::vector<double> softmax_f64;
  double loss = 0;
  std::vector<std::int32_t> tokens;
  double lse_state = 0;

  bool operator==(const Results& o) const {
    auto same = [](const auto& a, const auto& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
    };
    return same(softmax, o.softmax) && same(log_softmax, o.log_softmax) && same(lse, o.lse) &&
           same(grad, o.grad) && same(long_softmax, o.long_softmax) &&
           same(bf16_softmax, o.bf16_softmax) && same(softmax_f64, o.softmax_f64) &&
           std::memcmp(&loss, &o.loss, sizeof loss) == 0 && tokens == o.tokens &&
           std::memcmp(&lse_state, &o.lse_state, sizeof lse_state) == 0;
  }
};

// The shared, read-only inputs.
struct Inputs {
  static constexpr std::size_t kRows = 48, kCols = 1000, kLong = (1u << 16) + 4099;
  std::vector<float> x, dy, long_row;
  std::vector<double> x64;
  std::vector<bfloat16> xb;
  std::vector<std::int64_t> target;

  Inputs() {
    test::Rng rng(2024);
    x = test::make_logits(test::Kind::kUniform, kRows * kCols, rng);
    for (std::size_t i = 0; i < x.size(); i += 97) x[i] = -test::kInf;  // some masked entries
    dy = test::make_logits(test::Kind::kUniform, kRows * kCols, rng);
    long_row = test::make_logits(test::Kind::kSpread, kLong, rng);
    x64.assign(x.begin(), x.end());
    for (float v : x) {  // truncated to bfloat16 (from_float is not exported from the .so)
      std::uint32_t u;
      std::memcpy(&u, &v, sizeof u);
      xb.push_back(bfloat16{static_cast<std::uint16_t>(u >> 16)});
    }
    for (std::size_t r = 0; r < kRows; ++r) target.push_back(static_cast<std::int64_t>(rng.below(kCols)));
  }
};

// One caller's work with `threads` library threads per call.
Results compute(const Inputs& in, int threads) {
  using I = Inputs;
  SoftmaxOptions o;
  o.threads = threads;
  o.temperature = 0.75;
  Results r;
  const Rows<const float> x{in.x.data(), I::kRows, I::kCols, I::kCols};
  r.softmax.resize(in.x.size());
  r.log_softmax.resize(in.x.size());
  r.grad.resize(in.x.size());
  r.lse.resize(I::kRows);
  softmax(x, Rows<float>{r.softmax.data(), I::kRows, I::kCols, I::kCols}, o);
  log_softmax(x, Rows<float>{r.log_softmax.data(), I::kRows, I::kCols, I::kCols}, o);
  logsumexp(x, r.lse, o);
  softmax_backward(Rows<const float>{r.softmax.data(), I::kRows, I::kCols, I::kCols},
                   Rows<const float>{in.dy.data(), I::kRows, I::kCols, I::kCols},
                   Rows<float>{r.grad.data(), I::kRows, I::kCols, I::kCols}, o);
  r.long_softmax.resize(I::kLong);
  softmax(one_row(in.long_row.data(), I::kLong), one_row(r.long_softmax.data(), I::kLong), o);
  r.bf16_softmax.resize(in.x.size());
  softmax(Rows<const bfloat16>{in.xb.data(), I::kRows, I::kCols, I::kCols},
          Rows<float>{r.bf16_softmax.data(), I::kRows, I::kCols, I::kCols}, o);
  r.softmax_f64.resize(in.x.size());
  softmax(Rows<const double>{in.x64.data(), I::kRows, I::kCols, I::kCols},
          Rows<double>{r.softmax_f64.data(), I::kRows, I::kCols, I::kCols}, o);
  CrossEntropyOptions ce;
  ce.threads = threads;
  r.loss = cross_entropy(x, in.target, ce);
  SamplingParams sp;
  sp.temperature = 0.9;
  sp.top_k = 50;
  sp.top_p = 0.95;
  sp.seed = 7;
  std::vector<SampleResult> out(I::kRows);
  sample(x, std::span<const SamplingParams>(&sp, 1), std::vector<std::uint64_t>{3},
         std::vector<std::uint64_t>{11}, out, threads);
  for (const auto& s : out) r.tokens.push_back(s.token);
  r.lse_state = LseState::of(std::span<const float>(in.long_row), 0.75).logsumexp();
  return r;
}

TEST(ThreadSafety, ConcurrentCallersMatchOneThreadBitwise) {
  const Inputs in;
  const Results want = compute(in, 1);
  std::atomic<int> mismatches{0};
  std::vector<std::string> failed(kCallers);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      // Callers ask for 0 (library default), 1, 2 and 3 library threads.
      for (int round = 0; round < 2; ++round) {
        const int threads = (t + round) % 4;
        if (!(compute(in, threads) == want)) {
          ++mismatches;
          failed[t] = "caller " + std::to_string(t) + " with threads = " + std::to_string(threads);
        }
      }
    });
  }
  for (auto& c : callers) c.join();
  for (const auto& f : failed) EXPECT_TRUE(f.empty()) << f;
  EXPECT_EQ(mismatches.load(), 0);
}

// Reading the target list while other threads compute is safe (only force_target writes).
TEST(ThreadSafety, TargetsCanBeReadDuringCalls) {
  const Inputs in;
  const Results want = compute(in, 2);
  const std::string chosen = targets().chosen;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) EXPECT_EQ(targets().chosen, chosen);
  });
  const Results got = compute(in, 2);
  stop = true;
  reader.join();
  EXPECT_TRUE(got == want);
}

}  // namespace
}  // namespace logitkit
