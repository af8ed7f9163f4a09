// SPDX-License-Identifier: Apache-2.0
// shard.h without any communication: a row split into 1..5 contiguous shards (unequal, some empty,
// some all -inf), the shards' states merged in-process, each shard finished; the assembled result
// is compared with the single-process call on the whole row.

#include "logitkit/shard.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "logitkit/softmax.h"
#include "tests/test_util.h"

namespace logitkit::test {
namespace {

// |got - want| <= rel * |want| + abs, with NaN == NaN and equal infinities.
::testing::AssertionResult close(double got, double want, double rel, double abs) {
  if (std::isnan(want) && std::isnan(got)) return ::testing::AssertionSuccess();
  if (std::isinf(want) && got == want) return ::testing::AssertionSuccess();
  if (std::abs(got - want) <= rel * std::abs(want) + abs) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (diff "
                                       << got - want << ")";
}

constexpr double kUlps = 8 * 0x1.0p-24;  // 2 x 2 ULP (each side within 2 ULP) + merge slack

// Column cuts of C columns into k shards: random, sometimes empty.
std::vector<std::size_t> cuts(Rng& rng, std::size_t C, int k) {
  std::vector<std::size_t> c{0};
  for (int i = 1; i < k; ++i) c.push_back(rng.below(C + 1));
  c.push_back(C);
  std::sort(c.begin(), c.end());
  if (k >= 3 && rng.below(2) == 0) {
    // Shard 0 = [0, C/4), all -inf in batch()'s row 1; shard 1 empty.
    for (int i = 1; i < k; ++i) c[i] = std::max(c[i], C / 4);
    c[1] = c[2] = C / 4;
    std::sort(c.begin(), c.end());
  }
  return c;
}

// A batch with ordinary rows, masked entries, special rows, and rows whose columns
// [mask_lo, mask_hi) are all -inf (a shard can be all -inf).
std::vector<float> batch(Rng& rng, std::size_t N, std::size_t C) {
  std::vector<float> x(N * C);
  for (auto& v : x) v = rng.uniform(-8, 8);
  for (std::size_t j = 0; j < C; j += 7) x[0 * C + j] = -kInf;        // row 0: masked entries
  if (N > 1) for (std::size_t j = 0; j < C / 2; ++j) x[1 * C + j] = -kInf;  // row 1: left half masked
  if (N > 2) for (std::size_t j = 0; j < C; ++j) x[2 * C + j] = -kInf;      // row 2: all -inf
  if (N > 3) x[3 * C + C / 3] = kInf, x[3 * C + C - 1] = kInf;              // row 3: two +inf
  if (N > 4) x[4 * C + C / 2] = kNaN;                                        // row 4: NaN
  if (N > 5) x[5 * C + 1] = 30.0f;                                           // row 5: confident
  if (N > 6) for (std::size_t j = 0; j < C; ++j) x[6 * C + j] = static_cast<float>(j % 3);  // ties
  return x;
}

enum class SOp { kSoftmax, kLogSoftmax, kLse };

void check_softmax_family(std::size_t N, std::size_t C, double tau, EmptyRow empty, int k,
                          std::uint64_t salt) {
  Rng rng = make_rng(salt);
  const std::vector<float> x = batch(rng, N, C);
  const auto c = cuts(rng, C, k);
  SoftmaxOptions o;
  o.temperature = tau;
  o.empty_row = empty;
  SCOPED_TRACE("C " + std::to_string(C) + " tau " + std::to_string(tau) + " shards " +
               std::to_string(k));
  std::vector<float> want_s(N * C), want_l(N * C), want_z(N);
  softmax(Rows<const float>{x.data(), N, C, C}, Rows<float>{want_s.data(), N, C, C}, o);
  log_softmax(Rows<const float>{x.data(), N, C, C}, Rows<float>{want_l.data(), N, C, C}, o);
  logsumexp(Rows<const float>{x.data(), N, C, C}, want_z, o);
  std::vector<LseState> global(N);
  for (int s = 0; s < k; ++s) {
    std::vector<LseState> st(N);
    shard::softmax_states(Rows<const float>{x.data() + c[s], N, c[s + 1] - c[s], C}, st, o);
    shard::merge_states(global, st);
  }
  std::vector<float> got_s(N * C, -1.0f), got_l(N * C, 1.0f), got_z(N);
  for (int s = 0; s < k; ++s) {
    const std::size_t w = c[s + 1] - c[s];
    shard::softmax_finish(Rows<const float>{x.data() + c[s], N, w, C}, global,
                          Rows<float>{got_s.data() + c[s], N, w, C}, o);
    shard::log_softmax_finish(Rows<const float>{x.data() + c[s], N, w, C}, global,
                              Rows<float>{got_l.data() + c[s], N, w, C}, o);
  }
  shard::logsumexp_finish(global, got_z, o);
  for (std::size_t r = 0; r < N; ++r) {
    ASSERT_TRUE(close(got_z[r], want_z[r], kUlps, 1e-9)) << "lse row " << r;
    for (std::size_t j = 0; j < C; ++j) {
      ASSERT_TRUE(close(got_s[r * C + j], want_s[r * C + j], kUlps, 0x1.0p-126))
          << "softmax row " << r << " col " << j;
      ASSERT_TRUE(close(got_l[r * C + j], want_l[r * C + j], kUlps, 0))
          << "log_softmax row " << r << " col " << j;
    }
  }
}

TEST(ShardTest, SoftmaxFamilyMatchesSingleProcess) {
  LOGITKIT_SEED_TRACE();
  std::uint64_t salt = 1;
  for (double tau : {1.0, 0.7, 3.0, 0.0, std::numeric_limits<double>::infinity()}) {
    for (EmptyRow e : {EmptyRow::kZeros, EmptyRow::kNaN}) {
      for (int k = 1; k <= 5; ++k) check_softmax_family(8, 997, tau, e, k, salt++);
    }
  }
}

TEST(ShardTest, LongRowsAcrossChunks) {
  LOGITKIT_SEED_TRACE();
  for (int k = 1; k <= 4; ++k) check_softmax_family(7, 40000, 0.9, EmptyRow::kZeros, k, 100 + k);
}

TEST(ShardTest, SoftmaxStatesNaNThrowNamesShardColumn) {
  std::vector<float> x{1, 2, kNaN};
  std::vector<LseState> st(1);
  SoftmaxOptions o;
  o.nan = NanPolicy::kThrow;
  EXPECT_THROW(shard::softmax_states(one_row<const float>(x.data(), 3), st, o),
               std::invalid_argument);
  std::vector<LseState> wrong(2);
  EXPECT_THROW(shard::softmax_states(one_row<const float>(x.data(), 3), wrong), std::invalid_argument);
}

// ---- cross-entropy ------------------------------------------------------------------------

struct CeCase {
  std::string name;
  CrossEntropyOptions o;
  bool weights = false;
  bool prob = false;
};

std::vector<CeCase> ce_cases() {
  std::vector<CeCase> v;
  auto add = [&](std::string n, auto f, bool w = false, bool p = false) {
    CeCase c{n, {}, w, p};
    f(c.o);
    v.push_back(c);
  };
  add("plain", [](CrossEntropyOptions&) {});
  add("sum", [](CrossEntropyOptions& o) { o.reduction = Reduction::kSum; });
  add("none", [](CrossEntropyOptions& o) { o.reduction = Reduction::kNone; });
  add("weights", [](CrossEntropyOptions&) {}, true);
  add("smooth_pytorch", [](CrossEntropyOptions& o) { o.label_smoothing = 0.1; });
  add("smooth_megatron", [](CrossEntropyOptions& o) {
    o.label_smoothing = 0.2;
    o.smoothing = LabelSmoothing::kMegatron;
  });
  add("smooth_weights", [](CrossEntropyOptions& o) { o.label_smoothing = 0.3; }, true);
  add("megatron_weights", [](CrossEntropyOptions& o) {
    o.label_smoothing = 0.1;
    o.smoothing = LabelSmoothing::kMegatron;
  }, true);
  add("zloss", [](CrossEntropyOptions& o) { o.z_loss = 1e-3; });
  add("softcap", [](CrossEntropyOptions& o) { o.softcap = 5.0; });
  add("tau", [](CrossEntropyOptions& o) { o.temperature = 0.6; });
  add("all", [](CrossEntropyOptions& o) {
    o.temperature = 1.7;
    o.softcap = 6.0;
    o.z_loss = 1e-4;
    o.label_smoothing = 0.05;
  }, true);
  add("empty_mean_zero", [](CrossEntropyOptions& o) { o.empty_mean = EmptyMean::kZero; });
  add("prob", [](CrossEntropyOptions&) {}, false, true);
  add("prob_smooth_weights", [](CrossEntropyOptions& o) {
    o.label_smoothing = 0.1;
    o.z_loss = 1e-3;
  }, true, true);
  return v;
}

void check_ce(const CeCase& cc, std::size_t N, std::size_t C, int k, bool all_ignored,
              std::uint64_t salt) {
  SCOPED_TRACE(cc.name + " C " + std::to_string(C) + " shards " + std::to_string(k));
  Rng rng = make_rng(salt);
  std::vector<float> x = batch(rng, N, C);
  std::vector<std::int64_t> t(N);
  for (std::size_t r = 0; r < N; ++r) t[r] = static_cast<std::int64_t>(rng.below(C));
  if (N > 5) t[5] = 1;                         // the confident row's target is its max
  if (N > 1) t[1] = 0;                         // a target at -inf (left half masked)
  if (N > 7) t[7] = cc.o.ignore_index;         // an ignored row
  if (all_ignored) for (auto& v : t) v = cc.o.ignore_index;
  std::vector<float> y(N * C);
  for (auto& v : y) v = rng.uniform(0, 1) < 0.2 ? 0.0f : rng.uniform(0, 1);
  std::vector<double> w(C);
  for (auto& v : w) v = rng.uniform(0, 2);
  CrossEntropyOptions o = cc.o;
  if (cc.weights) o.weight = w;
  std::vector<float> want_g(N * C), want_rl(N), want_lse(N);
  const Rows<const float> X{x.data(), N, C, C}, Y{y.data(), N, C, C};
  const double want = cc.prob
      ? cross_entropy(X, Y, o, {Rows<float>{want_g.data(), N, C, C}, want_rl, want_lse})
      : cross_entropy(X, t, o, {Rows<float>{want_g.data(), N, C, C}, want_rl, want_lse});
  const auto c = cuts(rng, C, k);
  auto shard_opts = [&](int s) {
    CrossEntropyOptions so = o;
    if (cc.weights) so.weight = std::span<const double>(w).subspan(c[s], c[s + 1] - c[s]);
    return so;
  };
  // stored = 1: the states pass writes the exponentials into grad, the finish rescales them.
  for (int stored = 0; stored < 2; ++stored) {
    SCOPED_TRACE(stored ? "exponentials stored by the states pass" : "two exp passes");
    std::vector<float> got_g(N * C, 123.0f);
    std::vector<shard::CrossEntropyState> global(N);
    std::vector<std::vector<shard::CrossEntropyState>> local(k, std::vector<shard::CrossEntropyState>(N));
    for (int s = 0; s < k; ++s) {
      const std::size_t wd = c[s + 1] - c[s];
      const shard::Shard sh{c[s], C};
      const Rows<const float> xs{x.data() + c[s], N, wd, C}, ys{y.data() + c[s], N, wd, C};
      const Rows<float> gs{got_g.data() + c[s], N, wd, C};
      if (stored) {
        if (cc.prob) shard::cross_entropy_states(xs, ys, sh, shard_opts(s), local[s], gs);
        else shard::cross_entropy_states(xs, t, sh, shard_opts(s), local[s], gs);
      } else {
        if (cc.prob) shard::cross_entropy_states(xs, ys, sh, shard_opts(s), local[s]);
        else shard::cross_entropy_states(xs, t, sh, shard_opts(s), local[s]);
      }
      shard::merge_states(global, local[s]);
    }
    for (int s = 0; s < k; ++s) {
      const std::size_t wd = c[s + 1] - c[s];
      const shard::Shard sh{c[s], C};
      std::vector<float> rl(N), lse(N);
      const Rows<const float> xs{x.data() + c[s], N, wd, C}, ys{y.data() + c[s], N, wd, C};
      const LossOutputs<float> out{Rows<float>{got_g.data() + c[s], N, wd, C}, rl, lse};
      double got;
      if (stored) {
        got = cc.prob ? shard::cross_entropy_finish(xs, ys, sh, shard_opts(s), local[s], global, out)
                      : shard::cross_entropy_finish(xs, t, sh, shard_opts(s), local[s], global, out);
      } else {
        got = cc.prob ? shard::cross_entropy_finish(xs, ys, sh, shard_opts(s), global, out)
                      : shard::cross_entropy_finish(xs, t, sh, shard_opts(s), global, out);
      }
      ASSERT_TRUE(close(got, want, 1e-9, 0)) << "loss, shard " << s;
      for (std::size_t r = 0; r < N; ++r) {
        ASSERT_TRUE(close(rl[r], want_rl[r], kUlps, 1e-30)) << "row_loss " << r;
        ASSERT_TRUE(close(lse[r], want_lse[r], kUlps, 1e-7)) << "lse " << r;
      }
    }
    for (std::size_t r = 0; r < N; ++r) {
      double scale = 0;
      for (std::size_t j = 0; j < C; ++j) scale = std::max(scale, std::abs(double(want_g[r * C + j])));
      if (!std::isfinite(scale)) scale = 0;
      for (std::size_t j = 0; j < C; ++j) {
        ASSERT_TRUE(close(got_g[r * C + j], want_g[r * C + j], kUlps, 0x1.0p-22 * scale + 1e-30))
            << "grad row " << r << " col " << j;
      }
    }
  }
}

TEST(ShardTest, CrossEntropyMatchesSingleProcess) {
  LOGITKIT_SEED_TRACE();
  std::uint64_t salt = 1000;
  for (const CeCase& cc : ce_cases()) {
    for (int k = 1; k <= 4; ++k) check_ce(cc, 9, 611, k, false, salt++);
    check_ce(cc, 4, 37, 3, true, salt++);  // every target ignored: the empty mean
  }
}

TEST(ShardTest, CrossEntropyLongRows) {
  LOGITKIT_SEED_TRACE();
  for (const CeCase& cc : ce_cases()) {
    if (cc.name != "all" && cc.name != "smooth_megatron" && cc.name != "plain") continue;
    check_ce(cc, 6, 35000, 3, false, 2000);
  }
}

TEST(ShardTest, CrossEntropyGradInPlace) {
  LOGITKIT_SEED_TRACE();
  Rng rng = make_rng(7);
  const std::size_t N = 3, C = 50;
  std::vector<float> x(N * C);
  for (auto& v : x) v = rng.uniform(-4, 4);
  std::vector<std::int64_t> t{3, 40, 17};
  CrossEntropyOptions o;
  o.label_smoothing = 0.1;
  std::vector<float> want(N * C);
  cross_entropy(Rows<const float>{x.data(), N, C, C}, t, o, {Rows<float>{want.data(), N, C, C}});
  std::vector<shard::CrossEntropyState> g(N), st(N);
  const std::size_t cut = 20;
  shard::cross_entropy_states(Rows<const float>{x.data(), N, cut, C}, t, {0, C}, o, g);
  shard::cross_entropy_states(Rows<const float>{x.data() + cut, N, C - cut, C}, t, {cut, C}, o, st);
  shard::merge_states(g, st);
  shard::cross_entropy_finish(Rows<const float>{x.data(), N, cut, C}, t, {0, C}, o, g,
                              {Rows<float>{x.data(), N, cut, C}});
  shard::cross_entropy_finish(Rows<const float>{x.data() + cut, N, C - cut, C}, t, {cut, C}, o, g,
                              {Rows<float>{x.data() + cut, N, C - cut, C}});
  for (std::size_t i = 0; i < N * C; ++i) ASSERT_TRUE(close(x[i], want[i], kUlps, 1e-9)) << i;
}

TEST(ShardTest, CrossEntropyErrors) {
  std::vector<float> x(2 * 4, 0.5f);
  std::vector<shard::CrossEntropyState> st(2);
  const Rows<const float> X{x.data(), 2, 4, 4};
  std::vector<std::int64_t> t{0, 9};
  // The target 9 lies outside the global vocabulary of 8 columns.
  EXPECT_THROW(shard::cross_entropy_states(X, t, {4, 8}, {}, st), std::invalid_argument);
  t[1] = 7;
  EXPECT_NO_THROW(shard::cross_entropy_states(X, t, {4, 8}, {}, st));
  // The shard does not fit in total_cols; total_cols unknown.
  EXPECT_THROW(shard::cross_entropy_states(X, t, {6, 8}, {}, st), std::invalid_argument);
  EXPECT_THROW(shard::cross_entropy_states(X, t, {0, 0}, {}, st), std::invalid_argument);
  // Weights are the shard's: 4 entries, not 8.
  std::vector<double> w(8, 1.0);
  CrossEntropyOptions o;
  o.weight = w;
  EXPECT_THROW(shard::cross_entropy_states(X, t, {4, 8}, o, st), std::invalid_argument);
  try {
    shard::cross_entropy_check(X, t, Rows<const float>{nullptr, 0, 0, 0}, {0, 0}, o, {},
                               "mpi::cross_entropy");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("logitkit::mpi::cross_entropy: weight"), std::string::npos)
        << e.what();
  }
  std::vector<shard::CrossEntropyState> wrong(3);
  EXPECT_THROW(shard::merge_states(std::span<shard::CrossEntropyState>(wrong),
                                   std::span<const shard::CrossEntropyState>(st)),
               std::invalid_argument);
}


// ---- one shard: the whole row's bits ---------------------------------------------------------
// A shard that spans the whole row (offset 0, total_cols = x.cols) gives the single-process
// call's bits for every option: the shard and the whole-row paths share their setup, kernels
// and per-row arithmetic (cross-entropy: the whole-row driver finishes such a shard).

std::vector<float> as_floats(const std::vector<double>& v) { return {v.begin(), v.end()}; }

TEST(ShardTest, OneShardSoftmaxFamilyIsBitwiseTheWholeRow) {
  LOGITKIT_SEED_TRACE();
  std::uint64_t salt = 3000;
  for (std::size_t C : {std::size_t{997}, std::size_t{40000}}) {
    for (double tau : {1.0, 0.7, 3.0, 1e-3, 1e-300, 1e300, 0.0,
                       std::numeric_limits<double>::infinity()}) {
      for (EmptyRow e : {EmptyRow::kZeros, EmptyRow::kNaN}) {
        SCOPED_TRACE("C " + std::to_string(C) + " tau " + std::to_string(tau));
        const std::size_t N = 8;
        Rng rng = make_rng(salt++);
        const std::vector<float> x = batch(rng, N, C);
        SoftmaxOptions o;
        o.temperature = tau;
        o.empty_row = e;
        const Rows<const float> X{x.data(), N, C, C};
        std::vector<float> ws(N * C), wl(N * C), wz(N), gs(N * C), gl(N * C), gz(N);
        softmax(X, Rows<float>{ws.data(), N, C, C}, o);
        log_softmax(X, Rows<float>{wl.data(), N, C, C}, o);
        logsumexp(X, wz, o);
        std::vector<LseState> global(N), st(N);
        shard::softmax_states(X, st, o);
        shard::merge_states(global, st);
        shard::softmax_finish(X, global, Rows<float>{gs.data(), N, C, C}, o);
        shard::log_softmax_finish(X, global, Rows<float>{gl.data(), N, C, C}, o);
        shard::logsumexp_finish(global, gz, o);
        EXPECT_TRUE(bitwise_equal(gs, ws)) << "softmax";
        EXPECT_TRUE(bitwise_equal(gl, wl)) << "log_softmax";
        EXPECT_TRUE(bitwise_equal(gz, wz)) << "logsumexp";
      }
    }
  }
}

TEST(ShardTest, OneShardCrossEntropyIsBitwiseTheWholeRow) {
  LOGITKIT_SEED_TRACE();
  std::uint64_t salt = 4000;
  std::vector<CeCase> cases = ce_cases();
  for (const CeCase& base : ce_cases()) {  // every case again with kFast
    CeCase f = base;
    f.name += " kFast";
    f.o.precision = Precision::kFast;
    cases.push_back(f);
  }
  for (const CeCase& cc : cases) {
    for (std::size_t C : {std::size_t{611}, std::size_t{35000}}) {
      SCOPED_TRACE(cc.name + " C " + std::to_string(C));
      const std::size_t N = 9;
      Rng rng = make_rng(salt++);
      std::vector<float> x = batch(rng, N, C);
      std::vector<std::int64_t> t(N);
      for (std::size_t r = 0; r < N; ++r) t[r] = static_cast<std::int64_t>(rng.below(C));
      t[5] = 1;
      t[1] = 0;
      t[7] = cc.o.ignore_index;
      std::vector<float> y(N * C);
      for (auto& v : y) v = rng.uniform(0, 1) < 0.2 ? 0.0f : rng.uniform(0, 1);
      std::vector<double> w(C);
      for (auto& v : w) v = rng.uniform(0, 2);
      CrossEntropyOptions o = cc.o;
      if (cc.weights) o.weight = w;
      const Rows<const float> X{x.data(), N, C, C}, Y{y.data(), N, C, C};
      std::vector<float> wg(N * C), wrl(N), wlse(N);
      const double want = cc.prob
          ? cross_entropy(X, Y, o, {Rows<float>{wg.data(), N, C, C}, wrl, wlse})
          : cross_entropy(X, t, o, {Rows<float>{wg.data(), N, C, C}, wrl, wlse});
      const shard::Shard sh{0, C};
      for (int stored = 0; stored < 2; ++stored) {
        SCOPED_TRACE(stored ? "stored exponentials" : "two passes");
        std::vector<float> gg(N * C, 123.0f), grl(N), glse(N);
        std::vector<shard::CrossEntropyState> local(N), global(N);
        const Rows<float> G{gg.data(), N, C, C};
        if (stored) {
          if (cc.prob) shard::cross_entropy_states(X, Y, sh, o, local, G);
          else shard::cross_entropy_states(X, t, sh, o, local, G);
        } else {
          if (cc.prob) shard::cross_entropy_states(X, Y, sh, o, local);
          else shard::cross_entropy_states(X, t, sh, o, local);
        }
        shard::merge_states(global, local);
        const LossOutputs<float> out{G, grl, glse};
        double got;
        if (stored) {
          got = cc.prob ? shard::cross_entropy_finish(X, Y, sh, o, local, global, out)
                        : shard::cross_entropy_finish(X, t, sh, o, local, global, out);
        } else {
          got = cc.prob ? shard::cross_entropy_finish(X, Y, sh, o, global, out)
                        : shard::cross_entropy_finish(X, t, sh, o, global, out);
        }
        EXPECT_TRUE(bitwise_equal(std::vector<float>{static_cast<float>(got)},
                                  std::vector<float>{static_cast<float>(want)}) &&
                    std::memcmp(&got, &want, sizeof got) == 0)
            << "loss " << got << " vs " << want;
        EXPECT_TRUE(bitwise_equal(grl, wrl)) << "row_loss";
        EXPECT_TRUE(bitwise_equal(glse, wlse)) << "lse";
        EXPECT_TRUE(bitwise_equal(gg, wg)) << "grad";
      }
    }
  }
}

TEST(ShardTest, OneShardDistillationIsBitwiseTheWholeRow) {
  LOGITKIT_SEED_TRACE();
  std::uint64_t salt = 5000;
  for (std::size_t C : {std::size_t{611}, std::size_t{35000}}) {
    for (double tau : {1.0, 0.6, 2.5}) {
      for (bool sq : {true, false}) {
        SCOPED_TRACE("C " + std::to_string(C) + " tau " + std::to_string(tau));
        const std::size_t N = 6;
        Rng rng = make_rng(salt++);
        std::vector<float> s(N * C), t(N * C);
        for (auto& v : s) v = rng.uniform(-8, 8);
        for (auto& v : t) v = rng.uniform(-8, 8);
        for (std::size_t j = 0; j < C; j += 5) s[j] = t[j] = -kInf;  // row 0: masked on both
        s[C + 3] = 25.0f;                                             // row 1: confident student
        // row 2: student masked on a quarter (a 16384-entry chunk with no student mass would
        // send the whole-row driver to its long double engine: within the bound, not bitwise)
        for (std::size_t j = 0; j < C / 4; ++j) s[2 * C + j] = -kInf;
        t[3 * C + 7] = 30.0f;                                         // row 3: confident teacher
        DistillationOptions o;
        o.temperature = tau;
        o.tau_squared = sq;
        o.reduction = Reduction::kSum;
        const Rows<const float> S{s.data(), N, C, C}, T{t.data(), N, C, C};
        std::vector<float> wg(N * C), wrl(N), wlse(N);
        distillation_loss(S, T, o, {Rows<float>{wg.data(), N, C, C}, wrl, wlse});
        std::vector<shard::DistillationState> st(N), global(N);
        shard::distillation_states(S, T, o, st);
        shard::merge_states(global, st);
        std::vector<double> grl(N);
        std::vector<float> gg(N * C), glse(N);
        shard::distillation_finish(S, T, o, global, grl, Rows<float>{gg.data(), N, C, C}, 1.0,
                                   glse);
        EXPECT_TRUE(bitwise_equal(as_floats(grl), wrl)) << "row_loss";
        EXPECT_TRUE(bitwise_equal(glse, wlse)) << "lse";
        EXPECT_TRUE(bitwise_equal(gg, wg)) << "grad";
      }
    }
  }
}

}  // namespace
}  // namespace logitkit::test
