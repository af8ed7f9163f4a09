// SPDX-License-Identifier: Apache-2.0
// logitkit::mpi under mpirun -np 1..4: every rank builds the same global problem, takes its own
// (unequal, sometimes empty or all -inf) vocabulary shard, calls the MPI op, and compares its
// shard of the result (and the per-row outputs) with the single-process call on the whole
// vocabulary, which every rank computes itself. Every test makes the same collective calls on
// every rank and checks only afterwards (non-fatal), so a failure cannot desynchronise the ranks.

#include "logitkit/mpi.h"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "logitkit/sampling.h"
#include "logitkit/softmax.h"
#include "tests/test_util.h"  // Rng (SplitMix64)

namespace logitkit::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kUlps = 8 * 0x1.0p-24;

int g_rank = 0, g_size = 1;
std::uint64_t g_seed = 0;

bool close(double got, double want, double rel, double abs) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= rel * std::abs(want) + abs;
}

// Collects mismatches; reports the first few and the count.
struct Diff {
  std::string what;
  int count = 0;
  std::ostringstream first;
  void check(bool ok, const std::string& where, double got, double want) {
    if (ok) return;
    if (count++ < 3) first << "  " << where << ": got " << got << ", want " << want << "\n";
  }
  ~Diff() { EXPECT_EQ(count, 0) << what << " (rank " << g_rank << " of " << g_size << ")\n" << first.str(); }
};

// The values every rank holds for the whole row (logsumexp, losses): the same bits on every
// rank (collective: every rank calls it with the same sizes).
template <class T>
void same_on_every_rank(Diff& d, const std::string& what, const std::vector<T>& v) {
  std::vector<T> all(v.size() * static_cast<std::size_t>(g_size));
  MPI_Allgather(v.data(), static_cast<int>(v.size() * sizeof(T)), MPI_BYTE, all.data(),
                static_cast<int>(v.size() * sizeof(T)), MPI_BYTE, MPI_COMM_WORLD);
  for (int r = 0; r < g_size; ++r) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      const T got = all[static_cast<std::size_t>(r) * v.size() + i], want = all[i];
      d.check(std::memcmp(&got, &want, sizeof(T)) == 0,
              what + " " + std::to_string(i) + " on rank " + std::to_string(r) + " vs rank 0",
              got, want);
    }
  }
}

// This rank's columns [lo, hi) of C: unequal cuts, the same on every rank (salted by the test).
std::pair<std::size_t, std::size_t> my_cols(std::size_t C, std::uint64_t salt) {
  Rng rng(g_seed * 31 + salt);
  std::vector<std::size_t> c{0};
  for (int i = 1; i < g_size; ++i) c.push_back(rng.below(C + 1));
  c.push_back(C);
  std::sort(c.begin(), c.end());
  if (salt % 3 == 0 && g_size >= 2) {
    // Rank 0 holds [0, C/4): inside the masked left half of batch()'s row 1, so its shard of that
    // row is all -inf; with 3 or more ranks, rank 1's shard is empty.
    for (int i = 1; i < g_size; ++i) c[i] = std::max(c[i], C / 4);
    c[1] = C / 4;
    if (g_size >= 3) c[2] = C / 4;
    std::sort(c.begin(), c.end());
  }
  return {c[g_rank], c[g_rank + 1]};
}

// Rows with masked entries, special rows and a left half all -inf (a shard can be all -inf).
std::vector<float> batch(Rng& rng, std::size_t N, std::size_t C) {
  std::vector<float> x(N * C);
  for (auto& v : x) v = rng.uniform(-8, 8);
  for (std::size_t j = 0; j < C; j += 7) x[0 * C + j] = -kInf;
  if (N > 1) for (std::size_t j = 0; j < C / 2; ++j) x[1 * C + j] = -kInf;
  if (N > 2) for (std::size_t j = 0; j < C; ++j) x[2 * C + j] = -kInf;
  if (N > 3) x[3 * C + C / 3] = kInf, x[3 * C + C - 1] = kInf;
  if (N > 4) x[4 * C + C / 2] = kNaN;
  if (N > 5) x[5 * C + 1] = 30.0f;
  if (N > 6) for (std::size_t j = 0; j < C; ++j) x[6 * C + j] = static_cast<float>(j % 3);
  return x;
}

// ---- softmax family -----------------------------------------------------------------------

void softmax_case(std::size_t N, std::size_t C, double tau, EmptyRow empty, std::uint64_t salt) {
  Rng rng(g_seed + salt);
  const std::vector<float> x = batch(rng, N, C);
  const auto [lo, hi] = my_cols(C, salt);
  const std::size_t V = hi - lo;
  SoftmaxOptions o;
  o.temperature = tau;
  o.empty_row = empty;
  std::vector<float> ws(N * C), wl(N * C), wz(N);
  const Rows<const float> X{x.data(), N, C, C};
  softmax(X, Rows<float>{ws.data(), N, C, C}, o);
  log_softmax(X, Rows<float>{wl.data(), N, C, C}, o);
  logsumexp(X, wz, o);
  std::vector<float> gs(N * V + 1), gl(N * V + 1), gz(N);
  const Rows<const float> Xs{x.data() + lo, N, V, C};
  mpi::softmax(MPI_COMM_WORLD, Xs, Rows<float>{gs.data(), N, V, V}, o);
  mpi::log_softmax(MPI_COMM_WORLD, Xs, Rows<float>{gl.data(), N, V, V}, o);
  mpi::logsumexp(MPI_COMM_WORLD, Xs, gz, o);
  Diff d;
  d.what = "softmax family, tau " + std::to_string(tau) + ", C " + std::to_string(C);
  // One rank holds the whole row: the single-process bits (shard.h); several: the bound.
  const bool one = g_size == 1;
  const double rel = one ? 0.0 : kUlps;
  same_on_every_rank(d, "lse row", gz);
  for (std::size_t r = 0; r < N; ++r) {
    d.check(close(gz[r], wz[r], rel, one ? 0.0 : 1e-9), "lse row " + std::to_string(r), gz[r], wz[r]);
    for (std::size_t j = 0; j < V; ++j) {
      const std::string at = "row " + std::to_string(r) + " col " + std::to_string(lo + j);
      d.check(close(gs[r * V + j], ws[r * C + lo + j], rel, one ? 0.0 : 0x1.0p-126), "softmax " + at,
              gs[r * V + j], ws[r * C + lo + j]);
      d.check(close(gl[r * V + j], wl[r * C + lo + j], rel, 0), "log_softmax " + at,
              gl[r * V + j], wl[r * C + lo + j]);
    }
  }
}

TEST(MpiTest, SoftmaxFamilyMatchesSingleProcess) {
  std::uint64_t salt = 1;
  for (double tau : {1.0, 0.7, 3.0, 0.0, std::numeric_limits<double>::infinity()}) {
    for (EmptyRow e : {EmptyRow::kZeros, EmptyRow::kNaN}) softmax_case(8, 997, tau, e, salt++);
  }
  softmax_case(5, 40000, 1.3, EmptyRow::kZeros, salt++);  // shards span several 16384 chunks
}

TEST(MpiTest, SoftmaxNaNThrowNamesGlobalColumnOnEveryRank) {
  const std::size_t N = 3, C = 40;
  std::vector<float> x(N * C, 1.0f);
  x[1 * C + 37] = kNaN;  // on the last rank that holds column 37
  x[2 * C + 2] = kNaN;   // a later row: not the first
  const auto [lo, hi] = my_cols(C, 77);
  const std::size_t V = hi - lo;
  std::vector<float> y(N * V + 1);
  SoftmaxOptions o;
  o.nan = NanPolicy::kThrow;
  std::string msg;
  try {
    mpi::softmax(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, N, V, C},
                 Rows<float>{y.data(), N, V, V}, o);
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("logitkit::mpi::softmax: x has NaN at row 1, column 37"), std::string::npos)
      << msg;
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
  add("megatron_weights", [](CrossEntropyOptions& o) {
    o.label_smoothing = 0.1;
    o.smoothing = LabelSmoothing::kMegatron;
  }, true);
  add("smooth_weights", [](CrossEntropyOptions& o) { o.label_smoothing = 0.3; }, true);
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
  add("prob_smooth_weights_zloss", [](CrossEntropyOptions& o) {
    o.label_smoothing = 0.1;
    o.z_loss = 1e-3;
    o.reduction = Reduction::kSum;
  }, true, true);
  return v;
}

// targets: 0 random, 1 all in the first tenth of the vocabulary (most shards hold none),
// 2 all ignored (the empty mean).
void ce_case(const CeCase& cc, std::size_t N, std::size_t C, int targets, std::uint64_t salt) {
  Rng rng(g_seed + salt);
  const std::vector<float> x = batch(rng, N, C);
  std::vector<std::int64_t> t(N);
  for (std::size_t r = 0; r < N; ++r) {
    t[r] = static_cast<std::int64_t>(rng.below(targets == 1 ? C / 10 + 1 : C));
  }
  if (N > 5) t[5] = 1;
  if (N > 1) t[1] = 0;
  if (N > 7) t[7] = cc.o.ignore_index;
  if (targets == 2) for (auto& v : t) v = cc.o.ignore_index;
  std::vector<float> y(N * C);
  for (auto& v : y) v = rng.uniform(0, 1) < 0.2 ? 0.0f : rng.uniform(0, 1);
  std::vector<double> w(C);
  for (auto& v : w) v = rng.uniform(0, 2);
  CrossEntropyOptions o = cc.o;
  if (cc.weights) o.weight = w;
  std::vector<float> wg(N * C), wrl(N), wlse(N);
  const Rows<const float> X{x.data(), N, C, C}, Y{y.data(), N, C, C};
  const LossOutputs<float> wout{Rows<float>{wg.data(), N, C, C}, wrl, wlse};
  const double want = cc.prob ? cross_entropy(X, Y, o, wout) : cross_entropy(X, t, o, wout);

  const auto [lo, hi] = my_cols(C, salt);
  const std::size_t V = hi - lo;
  CrossEntropyOptions so = o;
  if (cc.weights) so.weight = std::span<const double>(w).subspan(lo, V);
  std::vector<float> gg(N * V + 1, 123.0f), grl(N), glse(N);
  const Rows<const float> Xs{x.data() + lo, N, V, C}, Ys{y.data() + lo, N, V, C};
  const LossOutputs<float> gout{Rows<float>{gg.data(), N, V, V}, grl, glse};
  const double got = cc.prob ? mpi::cross_entropy(MPI_COMM_WORLD, Xs, Ys, so, gout)
                             : mpi::cross_entropy(MPI_COMM_WORLD, Xs, t, so, gout);
  Diff d;
  d.what = "cross_entropy " + cc.name + " targets " + std::to_string(targets) + " C " +
           std::to_string(C) + " shard [" + std::to_string(lo) + ", " + std::to_string(hi) + ")";
  // One rank holds the whole row: the single-process bits for every option (shard.h).
  const bool one = g_size == 1;
  const double rel = one ? 0.0 : kUlps;
  d.check(close(got, want, one ? 0.0 : 1e-9, 0), "loss", got, want);
  same_on_every_rank(d, "loss", std::vector<double>{got});
  same_on_every_rank(d, "row_loss", grl);
  same_on_every_rank(d, "lse", glse);
  for (std::size_t r = 0; r < N; ++r) {
    d.check(close(grl[r], wrl[r], rel, one ? 0.0 : 1e-30), "row_loss " + std::to_string(r), grl[r],
            wrl[r]);
    d.check(close(glse[r], wlse[r], rel, one ? 0.0 : 1e-7), "lse " + std::to_string(r), glse[r],
            wlse[r]);
    double scale = 0;
    for (std::size_t j = 0; j < C; ++j) scale = std::max(scale, std::abs(double(wg[r * C + j])));
    if (!std::isfinite(scale) || one) scale = 0;
    for (std::size_t j = 0; j < V; ++j) {
      d.check(close(gg[r * V + j], wg[r * C + lo + j], rel,
                    one ? 0.0 : 0x1.0p-22 * scale + 1e-30),
              "grad row " + std::to_string(r) + " col " + std::to_string(lo + j), gg[r * V + j],
              wg[r * C + lo + j]);
    }
  }
}

TEST(MpiTest, CrossEntropyMatchesSingleProcess) {
  std::uint64_t salt = 1000;
  for (const CeCase& cc : ce_cases()) {
    ce_case(cc, 9, 611, 0, salt++);
    if (!cc.prob) {
      ce_case(cc, 9, 611, 1, salt++);
      ce_case(cc, 4, 37, 2, salt++);
    }
  }
}

TEST(MpiTest, CrossEntropyRowBlocks) {
  // The gradient path finishes rows in blocks (one merge per block); force blocks of 2 rows.
  setenv("LOGITKIT_MPI_CE_BLOCK_ROWS", "2", 1);
  std::uint64_t salt = 4000;
  for (const CeCase& cc : ce_cases()) {
    ce_case(cc, 9, 211, 0, salt++);
    if (!cc.prob) ce_case(cc, 5, 31, 2, salt++);
  }
  unsetenv("LOGITKIT_MPI_CE_BLOCK_ROWS");
}

TEST(MpiTest, CrossEntropyLongRows) {
  std::uint64_t salt = 3000;
  for (const CeCase& cc : ce_cases()) {
    if (cc.name == "all" || cc.name == "smooth_megatron" || cc.name == "prob") {
      ce_case(cc, 6, 35000, 0, salt++);
    }
  }
}

TEST(MpiTest, ManyRowsMergeInSeveralPieces) {
  // The merge reduces at most 65536 rows per pair of collectives (src/mpi/collective.cc).
  softmax_case(65536 * 2 + 7, 6, 0.9, EmptyRow::kZeros, 101);
  CeCase cc;
  cc.name = "many rows";
  ce_case(cc, 65536 + 11, 5, 0, 103);
}

TEST(MpiTest, EmptyShapes) {
  // No rows.
  std::vector<float> x(8, 1.0f), y(8);
  std::vector<float> lse0;
  mpi::logsumexp(MPI_COMM_WORLD, Rows<const float>{x.data(), 0, 2, 2}, lse0);
  const double l0 = mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data(), 0, 2, 2},
                                       std::span<const std::int64_t>{});
  const double w0 = cross_entropy(Rows<const float>{x.data(), 0, 2, 2}, std::span<const std::int64_t>{});
  EXPECT_TRUE(close(l0, w0, 0, 0)) << l0 << " vs " << w0;
  const double lg = mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data(), 0, 2, 2},
                                       std::span<const std::int64_t>{}, {},
                                       {Rows<float>{y.data(), 0, 2, 2}});
  EXPECT_TRUE(close(lg, w0, 0, 0)) << lg << " vs " << w0;
  // No columns anywhere: lse -inf, ignored rows only, the empty mean.
  std::vector<float> lse(3, 0.0f), rl(3, 1.0f);
  mpi::logsumexp(MPI_COMM_WORLD, Rows<const float>{nullptr, 3, 0, 0}, lse);
  for (float v : lse) EXPECT_EQ(v, -kInf);
  std::vector<std::int64_t> t(3, -100);
  CrossEntropyOptions o;
  o.empty_mean = EmptyMean::kZero;
  const double l1 = mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{nullptr, 3, 0, 0}, t, o,
                                       {Rows<float>{nullptr, 0, 0, 0}, rl});
  const double w1 = cross_entropy(Rows<const float>{nullptr, 3, 0, 0}, t, o);
  EXPECT_TRUE(close(l1, w1, 0, 0)) << l1 << " vs " << w1;
  for (float v : rl) EXPECT_EQ(v, 0.0f);
  // A one-column vocabulary on the last rank only (every other shard empty).
  const bool last = g_rank == g_size - 1;
  std::vector<float> one{2.0f, -kInf, 3.0f};
  std::vector<float> ys(3, 7.0f);
  mpi::softmax(MPI_COMM_WORLD, Rows<const float>{one.data(), 3, last ? 1u : 0u, 1},
               Rows<float>{ys.data(), 3, last ? 1u : 0u, 1});
  if (last) {
    EXPECT_EQ(ys[0], 1.0f);
    EXPECT_EQ(ys[1], 0.0f);  // all -inf row: kZeros
    EXPECT_EQ(ys[2], 1.0f);
  }
}

// ---- distillation -------------------------------------------------------------------------

void distill_case(DistillationOptions o, std::size_t N, std::size_t C, std::uint64_t salt) {
  Rng rng(g_seed + salt);
  std::vector<float> s = batch(rng, N, C), t(N * C);
  for (auto& v : t) v = rng.uniform(-6, 6);
  if (N > 7) for (std::size_t j = 0; j < C; j += 3) t[7 * C + j] = -kInf;   // teacher masked
  if (N > 8) for (std::size_t j = 0; j < C; ++j) t[8 * C + j] = -kInf;      // teacher all -inf
  if (N > 9) t[9 * C + 5] = kInf;                                           // teacher +inf
  if (N > 10) t[10 * C + C - 2] = kNaN;                                     // teacher NaN
  std::vector<std::int64_t> tg(N);
  for (auto& v : tg) v = static_cast<std::int64_t>(rng.below(C));
  if (N > 2) tg[2] = o.ignore_index;
  o.target = tg;
  std::vector<float> wg(N * C), wrl(N), wlse(N);
  const double want = distillation_loss(Rows<const float>{s.data(), N, C, C},
                                        Rows<const float>{t.data(), N, C, C}, o,
                                        {Rows<float>{wg.data(), N, C, C}, wrl, wlse});
  const auto [lo, hi] = my_cols(C, salt);
  const std::size_t V = hi - lo;
  std::vector<float> gg(N * V + 1, 123.0f), grl(N), glse(N);
  const double got = mpi::distillation_loss(
      MPI_COMM_WORLD, Rows<const float>{s.data() + lo, N, V, C},
      Rows<const float>{t.data() + lo, N, V, C}, o, {Rows<float>{gg.data(), N, V, V}, grl, glse});
  Diff d;
  d.what = "distillation divergence " + std::to_string(static_cast<int>(o.divergence)) +
           " teacher_input " + std::to_string(static_cast<int>(o.teacher_input)) + " tau " +
           std::to_string(o.temperature) + " reduction " +
           std::to_string(static_cast<int>(o.reduction)) + " alpha " + std::to_string(o.alpha);
  d.check(close(got, want, 1e-6, 1e-7), "loss", got, want);
  same_on_every_rank(d, "loss", std::vector<double>{got});
  same_on_every_rank(d, "row_loss", grl);
  same_on_every_rank(d, "lse", glse);
  // loss.h bounds the single-process float gradient by 2 ULP + 2^-22 c (p_j + q_j), with c the
  // gradient's scale (reduction x tau^2 factor / tau) and p, q the teacher's and the student's
  // probabilities: that term (computed here) plus 2^-22 of the row's largest gradient.
  std::vector<float> p(N * C), q(N * C);
  const SoftmaxOptions so{.temperature = o.temperature};
  softmax(Rows<const float>{s.data(), N, C, C}, Rows<float>{q.data(), N, C, C}, so);
  if (o.teacher_input == TeacherInput::kLogProbs) {
    for (std::size_t i = 0; i < N * C; ++i) p[i] = std::exp(t[i]);
  } else {
    softmax(Rows<const float>{t.data(), N, C, C}, Rows<float>{p.data(), N, C, C}, so);
  }
  const double red = o.reduction == Reduction::kBatchMean ? 1.0 / N
                     : o.reduction == Reduction::kMean    ? 1.0 / (double(N) * C)
                                                          : 1.0;
  const double c_grad =
      red * (o.tau_squared ? o.temperature * o.temperature : 1.0) / o.temperature;
  for (std::size_t r = 0; r < N; ++r) {
    d.check(close(grl[r], wrl[r], 1e-6, 1e-7), "row_loss " + std::to_string(r), grl[r], wrl[r]);
    d.check(close(glse[r], wlse[r], kUlps, 1e-7), "lse " + std::to_string(r), glse[r], wlse[r]);
    double scale = 0;
    for (std::size_t j = 0; j < C; ++j) scale = std::max(scale, std::abs(double(wg[r * C + j])));
    if (!std::isfinite(scale)) scale = 0;
    for (std::size_t j = 0; j < V; ++j) {
      double pq = double(p[r * C + lo + j]) + double(q[r * C + lo + j]);
      if (!std::isfinite(pq)) pq = 0;
      d.check(close(gg[r * V + j], wg[r * C + lo + j], kUlps,
                    0x1.0p-22 * (scale + c_grad * pq) + 1e-30),
              "grad row " + std::to_string(r) + " col " + std::to_string(lo + j), gg[r * V + j],
              wg[r * C + lo + j]);
    }
  }
}

TEST(MpiTest, DistillationMatchesSingleProcess) {
  std::uint64_t salt = 5000;
  for (double tau : {1.0, 2.0, 0.5}) {
    for (Reduction red : {Reduction::kBatchMean, Reduction::kMean, Reduction::kSum, Reduction::kNone}) {
      DistillationOptions o;
      o.temperature = tau;
      o.reduction = red;
      distill_case(o, 12, 503, salt++);
    }
  }
  DistillationOptions o;
  o.temperature = 2.0;
  o.alpha = 0.3;
  o.tau_squared = false;
  distill_case(o, 12, 503, salt++);
  distill_case(DistillationOptions{}, 4, 33000, salt++);
  // The other divergences and log-probability teachers (two allreduces).
  for (Divergence dv : {Divergence::kReverseKL, Divergence::kJensenShannon, Divergence::kForwardKL}) {
    for (TeacherInput ti : {TeacherInput::kLogits, TeacherInput::kLogProbs}) {
      DistillationOptions g;
      g.divergence = dv;
      g.teacher_input = ti;
      g.temperature = 1.5;
      g.js_beta = 0.3;
      distill_case(g, 12, 503, salt++);
      g.reduction = Reduction::kSum;
      g.alpha = 0.2;
      distill_case(g, 12, 503, salt++);
    }
  }
}

// Runs fn on every rank; expects std::invalid_argument on every rank containing `needle`, then
// checks that all ranks are still in step (a collective succeeds).
template <class Fn>
void expect_all_throw(const std::string& needle, Fn fn) {
  std::string msg = "(no exception)";
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(needle), std::string::npos) << "rank " << g_rank << ": " << msg;
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(sum, g_size);
}

// ---- sampling -----------------------------------------------------------------------------

struct SampleCase {
  std::string name;
  SamplingParams p;
};

std::vector<SampleCase> sample_cases() {
  std::vector<SampleCase> v;
  auto add = [&](std::string n, auto f) {
    SampleCase c{n, {}};
    f(c.p);
    v.push_back(c);
  };
  add("greedy_tau0", [](SamplingParams& p) { p.temperature = 0; });
  add("greedy_top_p0", [](SamplingParams& p) { p.top_p = 0; });
  add("greedy_top_k1", [](SamplingParams& p) { p.top_k = 1; p.top_logprobs = 2; });
  add("temperature", [](SamplingParams& p) { p.temperature = 0.8; });
  add("temperature_logprobs", [](SamplingParams& p) { p.temperature = 1.3; p.top_logprobs = 4; });
  add("temperature_inf", [](SamplingParams& p) { p.temperature = std::numeric_limits<double>::infinity(); });
  add("top_k", [](SamplingParams& p) { p.top_k = 40; p.top_logprobs = 3; });
  add("top_k_big", [](SamplingParams& p) { p.top_k = 700; p.temperature = 2.0; });
  add("top_p", [](SamplingParams& p) { p.top_p = 0.9; });
  add("top_p_small", [](SamplingParams& p) { p.top_p = 0.3; p.temperature = 0.7; p.top_logprobs = 5; });
  add("top_p_keep", [](SamplingParams& p) { p.top_p = 1e-4; p.min_tokens_to_keep = 5; });
  add("min_p", [](SamplingParams& p) { p.min_p = 0.05; });
  add("min_p_keep", [](SamplingParams& p) { p.min_p = 0.999; p.min_tokens_to_keep = 3; });
  add("min_p_top_p", [](SamplingParams& p) { p.min_p = 0.01; p.top_p = 0.8; });
  add("min_p_top_p_keep", [](SamplingParams& p) { p.min_p = 0.9; p.top_p = 0.7; p.min_tokens_to_keep = 4; });
  add("chain", [](SamplingParams& p) {
    p.top_k = 40; p.top_p = 0.95; p.min_p = 0.05; p.temperature = 0.8; p.top_logprobs = 3;
  });
  add("chain_tau_inf", [](SamplingParams& p) {
    p.top_k = 100; p.top_p = 0.5; p.temperature = std::numeric_limits<double>::infinity();
  });
  return v;
}

void sample_row_case(const SampleCase& sc, std::size_t C, int kind, std::uint64_t salt) {
  Rng rng(g_seed + salt);
  std::vector<float> x(C);
  for (auto& v : x) v = rng.uniform(-6, 6);
  for (std::size_t j = 0; j < C / 3; ++j) x[j] = -kInf;  // the first third masked (a shard all -inf)
  if (kind == 1) x[C / 2] = kInf, x[C - 3] = kInf;      // the +inf limit
  if (kind == 2) for (std::size_t j = C / 3; j < C; j += 5) x[j] = 4.0f;  // many ties
  SamplingParams p = sc.p;
  std::vector<TokenBias> bias{{static_cast<std::int32_t>(C - 1), 9.0f}, {3, 50.0f},
                              {static_cast<std::int32_t>(C / 2 + 1), -kInf}};
  std::vector<std::int32_t> hist{static_cast<std::int32_t>(C - 1), 7, static_cast<std::int32_t>(C - 1)};
  if (kind == 3) {
    p.logit_bias = bias;
    p.history = hist;
    p.repetition_penalty = 1.3;
    p.frequency_penalty = 0.5;
  }
  const auto [lo, hi] = my_cols(C, salt);
  Diff d;
  d.what = "sample " + sc.name + " kind " + std::to_string(kind) + " C " + std::to_string(C) +
           " shard [" + std::to_string(lo) + ", " + std::to_string(hi) + ")";
  for (std::uint64_t step = 0; step < 12; ++step) {
    p.seed = salt * 7 + 1;
    const SampleResult want = sample(x, p, /*stream=*/salt, step);
    const SampleResult got =
        mpi::sample(MPI_COMM_WORLD, std::span<const float>(x).subspan(lo, hi - lo), p, salt, step);
    const std::string at = "step " + std::to_string(step);
    d.check(got.token == want.token, at + " token", got.token, want.token);
    d.check(close(got.logprob, want.logprob, 0, 1e-6), at + " logprob", got.logprob, want.logprob);
    d.check(got.top.size() == want.top.size(), at + " top size", got.top.size(), want.top.size());
    for (std::size_t j = 0; j < std::min(got.top.size(), want.top.size()); ++j) {
      d.check(got.top[j].token == want.top[j].token, at + " top token", got.top[j].token,
              want.top[j].token);
      d.check(close(got.top[j].logprob, want.top[j].logprob, 0, 1e-6), at + " top logprob",
              got.top[j].logprob, want.top[j].logprob);
    }
  }
}

TEST(MpiTest, SampleSameTokenAsSingleProcess) {
  std::uint64_t salt = 7000;
  for (const SampleCase& sc : sample_cases()) {
    for (int kind = 0; kind < 4; ++kind) sample_row_case(sc, 3001, kind, salt++);
  }
  for (const SampleCase& sc : sample_cases()) sample_row_case(sc, 40000, 0, salt++);
}

TEST(MpiTest, SampleErrorsOnEveryRank) {
  const std::size_t C = 50;
  std::vector<float> x(C, 1.0f);
  const auto [lo, hi] = my_cols(C, 4);
  const auto shard = std::span<const float>(x).subspan(lo, hi - lo);
  expect_all_throw("params.top_p must be in [0, 1]", [&] {
    SamplingParams p;
    p.top_p = 2;
    mpi::sample(MPI_COMM_WORLD, shard, p, 0, 0);
  });
  expect_all_throw("logit_bias[0].token (50) is outside [0, 50)", [&] {
    SamplingParams p;
    std::vector<TokenBias> b{{50, 1.0f}};
    p.logit_bias = b;
    mpi::sample(MPI_COMM_WORLD, shard, p, 0, 0);
  });
  std::vector<float> y = x;
  y[41] = kNaN;
  y[44] = kNaN;
  expect_all_throw("logits[41] is NaN", [&] {
    mpi::sample(MPI_COMM_WORLD, std::span<const float>(y).subspan(lo, hi - lo), SamplingParams{}, 0, 0);
  });
  std::vector<float> z(C, -kInf);
  expect_all_throw("every logit is -inf", [&] {
    mpi::sample(MPI_COMM_WORLD, std::span<const float>(z).subspan(lo, hi - lo), SamplingParams{}, 0, 0);
  });
  if (g_size > 1) {
    expect_all_throw("disagree on step", [&] {
      mpi::sample(MPI_COMM_WORLD, shard, SamplingParams{}, 0, g_rank == 1 ? 1 : 0);
    });
    expect_all_throw("disagree on the targets", [&] {
      SamplingParams p;
      p.seed = g_rank == 0 ? 1 : 2;
      mpi::sample(MPI_COMM_WORLD, shard, p, 0, 0);
    });
  }
}

// ---- errors: every rank throws, and the communicator is still in step afterwards ------------

TEST(MpiTest, MismatchedArgumentsThrowOnEveryRank) {
  const std::size_t C = 30;
  const auto [lo, hi] = my_cols(C, 9);
  const std::size_t V = hi - lo;
  std::vector<float> x(6 * C, 0.25f), g(6 * V + 1);
  std::vector<std::int64_t> t{1, 2, 3, 4, 5};
  const bool last = g_rank == g_size - 1;
  // Rows: the last rank passes one row more (needs two ranks to disagree).
  if (g_size > 1) {
    expect_all_throw("disagree on the number of rows", [&] {
      const std::size_t N = last ? 5 : 4;
      std::vector<std::int64_t> tt(t.begin(), t.begin() + N);
      mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, N, V, C}, tt);
    });
    expect_all_throw("disagree on temperature", [&] {
      SoftmaxOptions o;
      o.temperature = last ? 2.0 : 1.0;
      std::vector<float> z(5);
      mpi::logsumexp(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, z, o);
    });
    expect_all_throw("disagree on the targets", [&] {
      std::vector<std::int64_t> tt = t;
      if (last) tt[0] = 2;
      mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, tt);
    });
    expect_all_throw("disagree on label_smoothing", [&] {
      CrossEntropyOptions o;
      o.label_smoothing = last ? 0.1 : 0.0;
      mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, t, o);
    });
  }
  // A local problem on one rank only: the wrong number of class weights on the last rank.
  expect_all_throw("weight has", [&] {
    std::vector<double> w(V + (last ? 1 : 0), 1.0);
    CrossEntropyOptions o;
    o.weight = w;
    mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, t, o);
  });
  // grad of the wrong shape on rank 0 only.
  expect_all_throw("grad has shape", [&] {
    const std::size_t gv = g_rank == 0 ? V + 1 : V;
    mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, t, {},
                       {Rows<float>{g.data(), 5, gv, gv}});
  });
  // A target outside the global vocabulary: every rank sees it.
  expect_all_throw("target at row 2 is 30, outside [0, 30)", [&] {
    std::vector<std::int64_t> tt = t;
    tt[2] = 30;
    mpi::cross_entropy(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C}, tt);
  });
  // A negative temperature everywhere.
  expect_all_throw("temperature must be", [&] {
    SoftmaxOptions o;
    o.temperature = -1;
    mpi::softmax(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C},
                 Rows<float>{g.data(), 5, V, V}, o);
  });
  // Unsupported divergence.
  expect_all_throw("js_beta must be in (0, 1)", [&] {
    DistillationOptions o;
    o.divergence = Divergence::kJensenShannon;
    o.js_beta = 1.5;
    mpi::distillation_loss(MPI_COMM_WORLD, Rows<const float>{x.data() + lo, 5, V, C},
                           Rows<const float>{x.data() + lo, 5, V, C}, o);
  });
  // A null communicator: a local error (nothing to communicate with).
  EXPECT_THROW(mpi::softmax(MPI_COMM_NULL, Rows<const float>{x.data() + lo, 5, V, C},
                            Rows<float>{g.data(), 5, V, V}),
               std::invalid_argument);
}

}  // namespace
}  // namespace logitkit::test

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &logitkit::test::g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &logitkit::test::g_size);
  // One seed for all ranks (rank 0's), printed for replay; LOGITKIT_MPI_TEST_SEED fixes it.
  unsigned long long seed = 0;
  if (logitkit::test::g_rank == 0) {
    const char* env = std::getenv("LOGITKIT_MPI_TEST_SEED");
    seed = env ? std::strtoull(env, nullptr, 10)
               : static_cast<unsigned long long>(MPI_Wtime() * 1e6) ^ 0x5eedull;
    std::printf("mpi_test: %d ranks, seed %llu (replay: LOGITKIT_MPI_TEST_SEED=%llu)\n",
                logitkit::test::g_size, seed, seed);
  }
  MPI_Bcast(&seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  logitkit::test::g_seed = seed;
  ::testing::InitGoogleTest(&argc, argv);
  if (logitkit::test::g_rank != 0) {
    // Only rank 0 prints progress; every rank still reports failures.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    (void)listeners;
  }
  const int rc = RUN_ALL_TESTS();
  int any = rc != 0, worst = 0;
  MPI_Allreduce(&any, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
