// SPDX-License-Identifier: Apache-2.0
// Fused linear + cross-entropy against materialised logits (an independent long double product,
// then the public cross_entropy on the whole [N, V] matrix, then the gradient products in long
// double), against central finite differences, for every option, odd chunk sizes, bf16 inputs,
// strided views; bad input.
//
// Most cases use inputs that are multiples of 1/64 in [-2, 2] (8 significant bits: exact in
// bf16): every product h_rk w_jk is exact in float and every partial sum of D = 19 of them is a
// multiple of 2^-12 below 2^7, so the logits come out of ANY summation order exactly. The fused
// row losses and lse must then equal the materialised float cross_entropy bit for bit, and the
// only error left in the gradients is the products' own rounding, bounded below.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/linear_cross_entropy.h"
#include "logitkit/loss.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

using L = long double;
using test::Rng;
constexpr float kSentinel = 12345.0f;
constexpr double kU = 0x1.0p-24;  // float unit roundoff

struct Problem {
  std::size_t N, D, V;
  std::size_t hs, ws;  // row strides (padded)
  std::vector<float> h, w;
  std::vector<std::int64_t> t;
  Rows<const float> H() const { return {h.data(), N, D, hs}; }
  Rows<const float> W() const { return {w.data(), V, D, ws}; }
  float hv(std::size_t r, std::size_t k) const { return h[r * hs + k]; }
  float wv(std::size_t j, std::size_t k) const { return w[j * ws + k]; }
};

// Multiples of 1/64 in [-2, 2] (exact products, exact sums; bf16-representable) or, with
// exact == false, ordinary floats in [-1.5, 1.5].
Problem make_problem(std::size_t N, std::size_t D, std::size_t V, Rng& rng, bool exact = true,
                     double ignore_frac = 0.0, std::int64_t ignore_index = -100) {
  Problem p{N, D, V, D + 3, D + 1, {}, {}, {}};
  auto val = [&]() {
    return exact ? static_cast<float>(static_cast<int>(rng.below(257)) - 128) / 64.0f
                 : rng.uniform(-1.5, 1.5);
  };
  p.h.assign(N * p.hs, std::numeric_limits<float>::quiet_NaN());  // padding poisoned
  p.w.assign(V * p.ws, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t k = 0; k < D; ++k) p.h[r * p.hs + k] = val();
  for (std::size_t j = 0; j < V; ++j)
    for (std::size_t k = 0; k < D; ++k) p.w[j * p.ws + k] = val();
  p.t.resize(N);
  for (std::size_t r = 0; r < N; ++r) {
    p.t[r] = rng.unit() < ignore_frac ? ignore_index : static_cast<std::int64_t>(rng.below(V));
  }
  return p;
}

// The materialised reference.
struct Reference {
  std::vector<float> logits_f;      // exact logits rounded to float ([N, V])
  std::vector<double> logits_d;     // exact logits rounded to double
  double loss_f = 0, loss_d = 0;    // public float / double cross_entropy on them
  std::vector<float> row_loss_f, lse_f;
  std::vector<double> row_loss_d, lse_d;  // the double cross_entropy's
  std::vector<double> G;            // double cross_entropy's gradient
  std::vector<L> dh, dw;            // G W and G^T H in long double
  std::vector<L> bdh, bdw;          // sum |G_rj| |W_jk| + max_j|G_rj| |W_jk| (error scale)
};

Reference reference(const Problem& p, const CrossEntropyOptions& o) {
  const std::size_t N = p.N, D = p.D, V = p.V;
  Reference ref;
  ref.logits_f.resize(N * V);
  ref.logits_d.resize(N * V);
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t j = 0; j < V; ++j) {
      L s = 0;
      for (std::size_t k = 0; k < D; ++k) s += static_cast<L>(p.hv(r, k)) * p.wv(j, k);
      ref.logits_f[r * V + j] = static_cast<float>(s);
      ref.logits_d[r * V + j] = static_cast<double>(s);
    }
  ref.row_loss_f.resize(N);
  ref.lse_f.resize(N);
  std::vector<float> gf(N * V);
  ref.loss_f = cross_entropy(Rows<const float>{ref.logits_f.data(), N, V, V}, p.t, o,
                             LossOutputs<float>{Rows<float>{gf.data(), N, V, V}, ref.row_loss_f,
                                                ref.lse_f});
  ref.G.resize(N * V);
  ref.row_loss_d.resize(N);
  ref.lse_d.resize(N);
  ref.loss_d = cross_entropy(Rows<const double>{ref.logits_d.data(), N, V, V}, p.t, o,
                             LossOutputs<double>{Rows<double>{ref.G.data(), N, V, V},
                                                 ref.row_loss_d, ref.lse_d});
  ref.dh.assign(N * D, 0);
  ref.bdh.assign(N * D, 0);
  ref.dw.assign(V * D, 0);
  ref.bdw.assign(V * D, 0);
  std::vector<L> gmax_row(N, 0), gmax_col(V, 0);
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t j = 0; j < V; ++j) {
      const L g = std::fabs(static_cast<L>(ref.G[r * V + j]));
      if (g > gmax_row[r]) gmax_row[r] = g;
      if (g > gmax_col[j]) gmax_col[j] = g;
    }
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t j = 0; j < V; ++j) {
      const L g = ref.G[r * V + j];
      for (std::size_t k = 0; k < D; ++k) {
        ref.dh[r * D + k] += g * p.wv(j, k);
        ref.bdh[r * D + k] += (std::fabs(g) + gmax_row[r]) * std::fabs(static_cast<L>(p.wv(j, k)));
        ref.dw[j * D + k] += g * p.hv(r, k);
        ref.bdw[j * D + k] += (std::fabs(g) + gmax_col[j]) * std::fabs(static_cast<L>(p.hv(r, k)));
      }
    }
  return ref;
}

struct Outputs;
void expect_same_bits(const Outputs& a, const Outputs& b, const std::string& tag);

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_close_nan(double got, L want, L tol, const std::string& what) {
  if (std::isnan(static_cast<double>(want))) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
  } else {
    EXPECT_LE(std::fabs(static_cast<L>(got) - want), tol)
        << what << ": got " << got << ", want " << static_cast<double>(want);
  }
}

struct Outputs {
  std::vector<float> dh, dw, row_loss, lse;
  std::size_t dhs, dws;
  double loss;
};

// Strided gradient outputs with sentinel padding.
template <class Fn>
Outputs run_fused(const Problem& p, const LinearCrossEntropyOptions& lo, Fn&& call) {
  Outputs o;
  o.dhs = p.D + 2;
  o.dws = p.D + 5;
  o.dh.assign(p.N * o.dhs, kSentinel);
  o.dw.assign(p.V * o.dws, kSentinel);
  o.row_loss.assign(p.N, kSentinel);
  o.lse.assign(p.N, kSentinel);
  LinearCrossEntropyOutputs out{Rows<float>{o.dh.data(), p.N, p.D, o.dhs},
                                Rows<float>{o.dw.data(), p.V, p.D, o.dws}, o.row_loss, o.lse};
  o.loss = call(lo, out);
  return o;
}

Outputs run_f32(const Problem& p, const LinearCrossEntropyOptions& lo) {
  return run_fused(p, lo, [&](const LinearCrossEntropyOptions& l, const LinearCrossEntropyOutputs& out) {
    return linear_cross_entropy(p.H(), p.W(), p.t, l, out);
  });
}

// The vocabulary mode's row losses and lse (merged shard states, double arithmetic rounded to
// float) against the double reference: shard.h's bound, each side 2 ULP plus merge slack.
constexpr double kVocabRel = 8 * kU;

// Checks one fused result against the reference. vocab: the result of the vocabulary mode,
// whose row losses and lse come from merged states (within kVocabRel of the double reference)
// instead of the materialised float cross_entropy's bits; it ignores kFast.
void check(const Problem& p, const Reference& ref, const Outputs& o, const std::string& tag,
           bool fast = false, bool vocab = false) {
  SCOPED_TRACE(tag);
  const std::size_t N = p.N, D = p.D, V = p.V;
  if (!vocab) {
    // Row losses and lse: the logits are exact, so the fused pass must give the materialised
    // bits.
    for (std::size_t r = 0; r < N; ++r) {
      EXPECT_TRUE(same_float(o.row_loss[r], ref.row_loss_f[r]))
          << "row_loss[" << r << "] " << o.row_loss[r] << " vs " << ref.row_loss_f[r];
      EXPECT_TRUE(same_float(o.lse[r], ref.lse_f[r])) << "lse[" << r << "] " << o.lse[r] << " vs "
                                                      << ref.lse_f[r];
    }
    // The loss: equal to the materialised float call up to the order of its double sum.
    expect_close_nan(o.loss, ref.loss_f, 1e-13 * (1 + std::fabs(ref.loss_f)), "loss vs float");
  } else {
    for (std::size_t r = 0; r < N; ++r) {
      expect_close_nan(o.row_loss[r], ref.row_loss_d[r],
                       kVocabRel * std::fabs(ref.row_loss_d[r]) + 1e-30,
                       "row_loss[" + std::to_string(r) + "]");
      expect_close_nan(o.lse[r], ref.lse_d[r], kVocabRel * std::fabs(ref.lse_d[r]) + 1e-30,
                       "lse[" + std::to_string(r) + "]");
    }
    fast = false;  // the vocabulary mode uses the accurate arithmetic
  }
  // The loss: within cross_entropy()'s 4 ULP per row of the double reference.
  double scale = 0;
  for (float v : ref.row_loss_f) scale += std::fabs(v);
  const double den_scale = std::fabs(ref.loss_d) > 0 && scale > 0 ? std::fabs(ref.loss_d) / scale : 1.0;
  if (!fast) expect_close_nan(o.loss, ref.loss_d, 8 * kU * scale * std::max(den_scale, 1.0) + 1e-30,
                   "loss vs double");
  // Gradients: the products' rounding, at most (V + D) u sum |G||W| (plus the gradient's own
  // 2 ULP + u * row scale, included through the max term of the bound).
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t k = 0; k < D; ++k) {
      expect_close_nan(o.dh[r * o.dhs + k], ref.dh[r * D + k],
                       2 * (V + D + 8) * kU * ref.bdh[r * D + k] + 1e-37L,
                       "grad_hidden[" + std::to_string(r) + "," + std::to_string(k) + "]");
    }
  for (std::size_t j = 0; j < V; ++j)
    for (std::size_t k = 0; k < D; ++k) {
      expect_close_nan(o.dw[j * o.dws + k], ref.dw[j * D + k],
                       2 * (N + D + 8) * kU * ref.bdw[j * D + k] + 1e-37L,
                       "grad_weight[" + std::to_string(j) + "," + std::to_string(k) + "]");
    }
  // Padding untouched.
  for (std::size_t r = 0; r < N; ++r)
    for (std::size_t k = D; k < o.dhs; ++k) ASSERT_EQ(o.dh[r * o.dhs + k], kSentinel);
  for (std::size_t j = 0; j < V; ++j)
    for (std::size_t k = D; k < o.dws; ++k) ASSERT_EQ(o.dw[j * o.dws + k], kSentinel);
}

struct Case {
  std::string name;
  CrossEntropyOptions o;
  double ignore_frac = 0.0;
};

std::vector<Case> all_cases(std::size_t V, std::vector<double>* weights, Rng& rng) {
  weights->resize(V);
  for (std::size_t j = 0; j < V; ++j) (*weights)[j] = rng.below(5) == 0 ? 0.0 : rng.unit() * 2;
  std::vector<Case> cs;
  auto add = [&](std::string n, CrossEntropyOptions o, double ig = 0.0) {
    cs.push_back({std::move(n), o, ig});
  };
  add("mean", {});
  add("sum", {.reduction = Reduction::kSum});
  add("none", {.reduction = Reduction::kNone});
  add("weights", {.weight = *weights});
  add("weights-sum", {.reduction = Reduction::kSum, .weight = *weights});
  add("smooth-pytorch", {.label_smoothing = 0.1});
  add("smooth-pytorch-weights", {.weight = *weights, .label_smoothing = 0.3});
  add("smooth-megatron", {.label_smoothing = 0.2, .smoothing = LabelSmoothing::kMegatron});
  add("smooth-megatron-weights-sum", {.reduction = Reduction::kSum, .weight = *weights,
                                      .label_smoothing = 0.25,
                                      .smoothing = LabelSmoothing::kMegatron});
  add("ignore", {}, 0.3);
  add("ignore-weights-smooth", {.weight = *weights, .label_smoothing = 0.1}, 0.3);
  add("ignore-custom-index", {.ignore_index = 7}, 0.3);
  add("all-ignored-nan", {}, 1.0);
  add("all-ignored-zero", {.empty_mean = EmptyMean::kZero}, 1.0);
  add("all-ignored-sum", {.reduction = Reduction::kSum}, 1.0);
  add("z-loss", {.z_loss = 0.05});
  add("z-loss-ignore-none", {.reduction = Reduction::kNone, .z_loss = 1e-3}, 0.2);
  add("softcap", {.softcap = 3.0});
  add("softcap-z-weights", {.weight = *weights, .z_loss = 0.01, .softcap = 5.0});
  add("tau-0.7", {.temperature = 0.7});
  add("tau-2.5-smooth", {.label_smoothing = 0.1, .temperature = 2.5});
  add("everything", {.reduction = Reduction::kMean, .weight = *weights, .label_smoothing = 0.15,
                     .smoothing = LabelSmoothing::kMegatron, .z_loss = 0.02, .softcap = 4.0,
                     .temperature = 1.3}, 0.25);
  add("fast", {.precision = Precision::kFast});
  return cs;
}

TEST(LinearCrossEntropy, EveryOptionEveryChunkMatchesMaterialised) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(1);
  const std::size_t N = 37, D = 19, V = 301;
  std::vector<double> weights;
  const std::vector<Case> cases = all_cases(V, &weights, rng);
  for (const Case& c : cases) {
    const std::int64_t ig = c.o.ignore_index;
    Problem p = make_problem(N, D, V, rng, true, c.ignore_frac, ig);
    const Reference ref = reference(p, c.o);
    const bool fast = c.o.precision == Precision::kFast;  // its own bound: compared with float only
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{8},
                              std::size_t{36}, std::size_t{100}}) {
      LinearCrossEntropyOptions lo{c.o, chunk};
      check(p, ref, run_f32(p, lo), c.name + " chunk " + std::to_string(chunk), fast);
    }
    LinearCrossEntropyOptions own{c.o, 7};
    own.own_matmul = true;
    check(p, ref, run_f32(p, own), c.name + " own matmul, chunk 7", fast);
  }
}

// Row losses, lse and loss of two results within the vocabulary mode's bound of each other.
void expect_agree(const Outputs& a, const Outputs& b, const Problem& p, const Reference& ref,
                  const std::string& tag) {
  SCOPED_TRACE(tag);
  for (std::size_t r = 0; r < p.N; ++r) {
    expect_close_nan(a.row_loss[r], b.row_loss[r],
                     2 * kVocabRel * std::fabs(ref.row_loss_d[r]) + 1e-30,
                     "row_loss[" + std::to_string(r) + "]");
    expect_close_nan(a.lse[r], b.lse[r], 2 * kVocabRel * std::fabs(ref.lse_d[r]) + 1e-30,
                     "lse[" + std::to_string(r) + "]");
  }
  double scale = 0;
  for (double v : ref.row_loss_d) scale += std::fabs(v);
  const double den_scale =
      std::fabs(ref.loss_d) > 0 && scale > 0 ? std::fabs(ref.loss_d) / scale : 1.0;
  expect_close_nan(a.loss, b.loss, 16 * kU * scale * std::max(den_scale, 1.0) + 1e-30, "loss");
  for (std::size_t r = 0; r < p.N; ++r)
    for (std::size_t k = 0; k < p.D; ++k) {
      expect_close_nan(a.dh[r * a.dhs + k], b.dh[r * b.dhs + k],
                       4 * (p.V + p.D + 8) * kU * ref.bdh[r * p.D + k] + 1e-37L, "grad_hidden");
    }
  for (std::size_t j = 0; j < p.V; ++j)
    for (std::size_t k = 0; k < p.D; ++k) {
      expect_close_nan(a.dw[j * a.dws + k], b.dw[j * b.dws + k],
                       4 * (p.N + p.D + 8) * kU * ref.bdw[j * p.D + k] + 1e-37L, "grad_weight");
    }
}

// The vocabulary-chunk mode: every option, vocabulary chunks that do not divide V (1, 7, 64,
// V - 1) with row chunks that do not divide N, against the same materialised reference and
// against the row mode; chunk_vocab >= V is the row mode, bit for bit.
TEST(LinearCrossEntropy, VocabModeEveryOptionEveryChunkMatchesMaterialised) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(12);
  const std::size_t N = 37, D = 19, V = 301;
  std::vector<double> weights;
  const std::vector<Case> cases = all_cases(V, &weights, rng);
  for (const Case& c : cases) {
    const std::int64_t ig = c.o.ignore_index;
    Problem p = make_problem(N, D, V, rng, true, c.ignore_frac, ig);
    const Reference ref = reference(p, c.o);
    const bool fast = c.o.precision == Precision::kFast;
    const Outputs row = run_f32(p, {c.o, 5});
    // {vocabulary chunk, row chunks} (kept few for speed; 7 and 64 with two row chunk sizes;
    // one-column blocks, 301 per row chunk, for every third case and "everything").
    std::vector<std::pair<std::size_t, std::vector<std::size_t>>> plan{
        {7, {0, 5}}, {64, {5, 36}}, {V - 1, {0}}};
    if ((&c - cases.data()) % 3 == 0 || c.name == "everything") {
      plan.push_back({1, {36}});
    }
    for (const auto& [cv, chunks] : plan) {
      std::vector<float> first_rl, first_lse;
      for (std::size_t chunk : chunks) {
        LinearCrossEntropyOptions lo{c.o, chunk};
        lo.chunk_vocab = cv;
        const std::string tag = c.name + " vocab " + std::to_string(cv) + " rows " +
                                std::to_string(chunk);
        const Outputs o = run_f32(p, lo);
        check(p, ref, o, tag, fast, true);
        if (!fast) expect_agree(o, row, p, ref, tag + " vs row mode");
        // The logits are exact: row losses and lse depend on chunk_vocab, never on chunk_rows.
        if (first_rl.empty()) {
          first_rl = o.row_loss;
          first_lse = o.lse;
        }
        for (std::size_t r = 0; r < N; ++r) {
          EXPECT_TRUE(same_float(o.row_loss[r], first_rl[r])) << tag << " row_loss " << r;
          EXPECT_TRUE(same_float(o.lse[r], first_lse[r])) << tag << " lse " << r;
        }
      }
    }
    // chunk_vocab >= V: the row mode's bits.
    for (std::size_t cv : {V, V + 1000}) {
      LinearCrossEntropyOptions lo{c.o, 5};
      lo.chunk_vocab = cv;
      expect_same_bits(run_f32(p, lo), row, c.name + " vocab " + std::to_string(cv));
    }
    LinearCrossEntropyOptions own{c.o, 7};
    own.chunk_vocab = 30;
    own.own_matmul = true;
    check(p, ref, run_f32(p, own), c.name + " own matmul, vocab 30, rows 7", fast, true);
  }
}

TEST(LinearCrossEntropy, ZeroTotalWeightFollowsEmptyMean) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(2);
  const std::size_t N = 11, D = 19, V = 31;
  Problem p = make_problem(N, D, V, rng);
  std::vector<double> w(V, 1.0);
  for (std::size_t r = 0; r < N; ++r) w[static_cast<std::size_t>(p.t[r])] = 0.0;  // den = 0
  p.t[3] = -100;
  for (EmptyMean em : {EmptyMean::kNaN, EmptyMean::kZero}) {
    CrossEntropyOptions o{.weight = w, .label_smoothing = 0.1, .empty_mean = em};
    const Reference ref = reference(p, o);
    for (std::size_t chunk : {std::size_t{0}, std::size_t{4}}) {
      check(p, ref, run_f32(p, {o, chunk}),
            std::string(em == EmptyMean::kNaN ? "nan" : "zero") + " chunk " + std::to_string(chunk));
      LinearCrossEntropyOptions lo{o, chunk};
      lo.chunk_vocab = 7;
      check(p, ref, run_f32(p, lo),
            std::string(em == EmptyMean::kNaN ? "nan" : "zero") + " vocab 7, chunk " +
                std::to_string(chunk), false, true);
    }
  }
}

TEST(LinearCrossEntropy, Bf16InputsEqualTheirF32Values) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(3);
  // V above the 2048-row block of a converted bf16 weight, so the blocked path is exercised.
  for (std::size_t V : {std::size_t{301}, std::size_t{2100}}) {
    const std::size_t N = 23, D = 19;
    Problem p = make_problem(N, D, V, rng, true, 0.2);
    const CrossEntropyOptions o{.weight = {}, .label_smoothing = 0.1, .z_loss = 0.01,
                                .softcap = 6.0};
    const Reference ref = reference(p, o);
    std::vector<bfloat16> hb(p.h.size()), wb(p.w.size());
    for (std::size_t i = 0; i < p.h.size(); ++i) hb[i] = bfloat16::from_float(p.h[i]);
    for (std::size_t i = 0; i < p.w.size(); ++i) wb[i] = bfloat16::from_float(p.w[i]);
    const Rows<const bfloat16> H{hb.data(), N, D, p.hs}, W{wb.data(), V, D, p.ws};
    // Vocabulary mode: 7 columns; V - 1 (2099 > the 2048-row conversion block: sub-blocks).
    for (const auto& [chunk, cv] : {std::pair<std::size_t, std::size_t>{0, 0}, {6, 0}, {6, 7},
                                    {0, V - 1}, {5, 64}}) {
      LinearCrossEntropyOptions lo{o, chunk};
      lo.chunk_vocab = cv;
      const bool vocab = cv != 0;
      const std::string tag = "V " + std::to_string(V) + " chunk " + std::to_string(chunk) +
                              " vocab " + std::to_string(cv);
      check(p, ref, run_fused(p, lo, [&](auto& l, auto& out) {
              return linear_cross_entropy(H, W, p.t, l, out);
            }), "bf16 x bf16, " + tag, false, vocab);
      check(p, ref, run_fused(p, lo, [&](auto& l, auto& out) {
              return linear_cross_entropy(H, p.W(), p.t, l, out);
            }), "bf16 x f32, " + tag, false, vocab);
      check(p, ref, run_fused(p, lo, [&](auto& l, auto& out) {
              return linear_cross_entropy(p.H(), W, p.t, l, out);
            }), "f32 x bf16, " + tag, false, vocab);
    }
  }
}

// Ordinary (inexact) floats: gradients against central differences of the double reference
// loss L(H, W) = cross_entropy(H W^T) (its loss only, never its gradient).
TEST(LinearCrossEntropy, GradientsMatchFiniteDifferences) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(4);
  const std::size_t N = 5, D = 4, V = 9;
  std::vector<double> weights;
  Rng wrng = test::make_rng(5);
  for (const Case& c : all_cases(V, &weights, wrng)) {
    if (c.ignore_frac == 1.0 || c.o.precision == Precision::kFast) continue;
    Problem p = make_problem(N, D, V, rng, false, c.ignore_frac > 0 ? 0.3 : 0.0,
                             c.o.ignore_index);
    // At least one counted row of positive weight (an empty mean has no derivative).
    p.t[0] = 0;
    while (!c.o.weight.empty() && c.o.weight[static_cast<std::size_t>(p.t[0])] == 0.0 &&
           static_cast<std::size_t>(p.t[0]) + 1 < V) {
      ++p.t[0];
    }
    std::vector<double> h(N * D), w(V * D);
    for (std::size_t r = 0; r < N; ++r)
      for (std::size_t k = 0; k < D; ++k) h[r * D + k] = p.hv(r, k);
    for (std::size_t j = 0; j < V; ++j)
      for (std::size_t k = 0; k < D; ++k) w[j * D + k] = p.wv(j, k);
    auto loss_of = [&]() {
      std::vector<double> x(N * V);
      for (std::size_t r = 0; r < N; ++r)
        for (std::size_t j = 0; j < V; ++j) {
          L s = 0;
          for (std::size_t k = 0; k < D; ++k) s += static_cast<L>(h[r * D + k]) * w[j * D + k];
          x[r * V + j] = static_cast<double>(s);
        }
      return cross_entropy(Rows<const double>{x.data(), N, V, V}, p.t, c.o);
    };
    LinearCrossEntropyOptions vlo{c.o, 2};
    vlo.chunk_vocab = 4;  // V = 9: blocks of 4, 4, 1
    for (const Outputs& o : {run_f32(p, {c.o, 2}), run_f32(p, vlo)}) {
    const double step = 1e-6;
    auto fd = [&](double* v) {
      const double keep = *v;
      *v = keep + step;
      const double up = loss_of();
      *v = keep - step;
      const double down = loss_of();
      *v = keep;
      return (up - down) / (2 * step);
    };
    for (std::size_t r = 0; r < N; ++r)
      for (std::size_t k = 0; k < D; ++k) {
        const double want = fd(&h[r * D + k]);
        EXPECT_NEAR(o.dh[r * o.dhs + k], want, 1e-4 * (1 + std::fabs(want)))
            << c.name << " grad_hidden[" << r << "," << k << "]";
      }
    for (std::size_t j = 0; j < V; ++j)
      for (std::size_t k = 0; k < D; ++k) {
        const double want = fd(&w[j * D + k]);
        EXPECT_NEAR(o.dw[j * o.dws + k], want, 1e-4 * (1 + std::fabs(want)))
            << c.name << " grad_weight[" << j << "," << k << "]";
      }
    }
  }
}

void expect_same_bits(const Outputs& a, const Outputs& b, const std::string& tag) {
  EXPECT_EQ(0, std::memcmp(&a.loss, &b.loss, sizeof a.loss)) << tag << ": " << a.loss << " vs "
                                                                << b.loss;
  EXPECT_EQ(0, std::memcmp(a.dh.data(), b.dh.data(), a.dh.size() * 4)) << tag;
  EXPECT_EQ(0, std::memcmp(a.dw.data(), b.dw.data(), a.dw.size() * 4)) << tag;
  EXPECT_EQ(0, std::memcmp(a.row_loss.data(), b.row_loss.data(), a.row_loss.size() * 4)) << tag;
  EXPECT_EQ(0, std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * 4)) << tag;
}

// ce.threads (the cross-entropy pass, the bf16 conversions) never changes a bit; the BLAS runs
// with its own, unchanged, threads.
TEST(LinearCrossEntropy, SameBitsForEveryThreadCount) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(6);
  Problem p = make_problem(67, 19, 1201, rng, false, 0.1);
  CrossEntropyOptions o{.label_smoothing = 0.1, .z_loss = 0.01};
  o.threads = 1;
  const Outputs one = run_f32(p, {o, 9});
  LinearCrossEntropyOptions vlo{o, 9};
  vlo.chunk_vocab = 100;
  const Outputs vone = run_f32(p, vlo);
  for (int t : {2, 3, 8}) {
    o.threads = t;
    expect_same_bits(run_f32(p, {o, 9}), one, "threads " + std::to_string(t));
    vlo.ce.threads = t;
    expect_same_bits(run_f32(p, vlo), vone, "vocab mode, threads " + std::to_string(t));
  }
}

// The own product (no BLAS) splits output rows over the library's threads: the same bits for
// every thread count (the test the ThreadSanitizer build can run: no BLAS threads involved).
TEST(LinearCrossEntropy, OwnProductSameBitsForEveryThreadCount) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(11);
  Problem p = make_problem(67, 19, 1201, rng, false, 0.1);
  CrossEntropyOptions o{.label_smoothing = 0.1, .z_loss = 0.01, .softcap = 8.0};
  o.threads = 1;
  LinearCrossEntropyOptions lo{o, 33};  // 33 x 1201 x 19 per product: several threads
  lo.own_matmul = true;
  const Outputs one = run_f32(p, lo);
  LinearCrossEntropyOptions vlo = lo;
  vlo.chunk_vocab = 250;
  const Outputs vone = run_f32(p, vlo);
  for (int t : {2, 3, 8}) {
    lo.ce.threads = t;
    expect_same_bits(run_f32(p, lo), one, "threads " + std::to_string(t));
    vlo.ce.threads = t;
    expect_same_bits(run_f32(p, vlo), vone, "vocab mode, threads " + std::to_string(t));
  }
}

TEST(LinearCrossEntropy, AccumulatesTheWeightGradient) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(7);
  Problem p = make_problem(13, 19, 101, rng);
  const Reference ref = reference(p, {});
  std::vector<float> dw(p.V * p.D, 0.0f);
  LinearCrossEntropyOptions lo{{}, 4};
  lo.accumulate_grad_weight = true;
  for (int i = 0; i < 2; ++i) {
    lo.chunk_vocab = i == 0 ? 0 : 10;  // one row-mode call, one vocabulary-mode call
    linear_cross_entropy(p.H(), p.W(), p.t, lo,
                         {.grad_weight = Rows<float>{dw.data(), p.V, p.D, p.D}});
  }
  for (std::size_t i = 0; i < dw.size(); ++i) {
    EXPECT_LE(std::fabs(dw[i] - 2 * ref.dw[i]), 4 * (p.N + p.D + 8) * kU * ref.bdw[i] + 1e-37L)
        << i;
  }
  // Without accumulate, whatever was there is overwritten.
  std::fill(dw.begin(), dw.end(), 7.0f);
  linear_cross_entropy(p.H(), p.W(), p.t, {{}, 4},
                       {.grad_weight = Rows<float>{dw.data(), p.V, p.D, p.D}});
  for (std::size_t i = 0; i < dw.size(); ++i) {
    EXPECT_LE(std::fabs(dw[i] - ref.dw[i]), 2 * (p.N + p.D + 8) * kU * ref.bdw[i] + 1e-37L) << i;
  }
}

TEST(LinearCrossEntropy, OptionalOutputsAndEmptyShapes) {
  LOGITKIT_SEED_TRACE();
  Rng rng = test::make_rng(8);
  Problem p = make_problem(9, 19, 41, rng);
  const Reference ref = reference(p, {});
  // Loss only; then only one gradient.
  EXPECT_NEAR(linear_cross_entropy(p.H(), p.W(), p.t, {{}, 4}), ref.loss_f, 1e-13);
  {
    LinearCrossEntropyOptions vlo{{}, 4};
    vlo.chunk_vocab = 6;
    EXPECT_NEAR(linear_cross_entropy(p.H(), p.W(), p.t, vlo), ref.loss_d,
                8 * kU * std::fabs(ref.loss_d));
    std::vector<float> dh(p.N * p.D), rl(p.N);
    linear_cross_entropy(p.H(), p.W(), p.t, vlo,
                         {.grad_hidden = Rows<float>{dh.data(), p.N, p.D, p.D}, .row_loss = rl});
    for (std::size_t i = 0; i < dh.size(); ++i) {
      EXPECT_LE(std::fabs(dh[i] - ref.dh[i]), 2 * (p.V + p.D + 8) * kU * ref.bdh[i] + 1e-37L);
    }
    for (std::size_t r = 0; r < p.N; ++r) {
      EXPECT_NEAR(rl[r], ref.row_loss_d[r], kVocabRel * std::fabs(ref.row_loss_d[r]));
    }
  }
  std::vector<float> dh(p.N * p.D);
  linear_cross_entropy(p.H(), p.W(), p.t, {{}, 4},
                       {.grad_hidden = Rows<float>{dh.data(), p.N, p.D, p.D}});
  for (std::size_t i = 0; i < dh.size(); ++i) {
    EXPECT_LE(std::fabs(dh[i] - ref.dh[i]), 2 * (p.V + p.D + 8) * kU * ref.bdh[i] + 1e-37L);
  }
  // N = 0: mean of nothing; grad_weight zeroed.
  std::vector<float> dw(41 * 19, 3.0f);
  const double l0 = linear_cross_entropy(Rows<const float>{nullptr, 0, 19, 19}, p.W(), {}, {},
                                         {.grad_weight = Rows<float>{dw.data(), 41, 19, 19}});
  EXPECT_TRUE(std::isnan(l0));
  for (float v : dw) EXPECT_EQ(v, 0.0f);
  // D = 0: every logit is 0, the loss log V per row.
  const std::vector<std::int64_t> t{0, 5};
  std::vector<float> rl(2);
  const double ld = linear_cross_entropy(Rows<const float>{nullptr, 2, 0, 0},
                                         Rows<const float>{nullptr, 6, 0, 0}, t, {},
                                         {.row_loss = rl});
  EXPECT_NEAR(ld, std::log(6.0), 1e-6);
  EXPECT_NEAR(rl[1], std::log(6.0), 1e-6);
}

TEST(LinearCrossEntropy, NaNInAHiddenRowStaysInThatRow) {
  Rng rng = test::make_rng(9);
  Problem p = make_problem(8, 19, 50, rng);
  p.h[2 * p.hs + 3] = std::numeric_limits<float>::quiet_NaN();
  LinearCrossEntropyOptions vlo{{.reduction = Reduction::kSum}, 3};
  vlo.chunk_vocab = 7;
  for (const Outputs& o : {run_f32(p, {{.reduction = Reduction::kSum}, 3}), run_f32(p, vlo)}) {
    EXPECT_TRUE(std::isnan(o.loss));
    for (std::size_t r = 0; r < p.N; ++r) {
      EXPECT_EQ(std::isnan(o.row_loss[r]), r == 2) << r;
      EXPECT_EQ(std::isnan(o.lse[r]), r == 2) << r;
      EXPECT_EQ(std::isnan(o.dh[r * o.dhs]), r == 2) << r;
    }
    EXPECT_TRUE(std::isnan(o.dw[0]));
  }
}

template <class Fn>
void expect_throws_and_untouched(Fn&& fn, const std::vector<std::string>& words) {
  std::vector<float> dh(37 * 19, kSentinel), dw(301 * 19, kSentinel), rl(37, kSentinel);
  try {
    fn(dh, dw, rl);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("linear_cross_entropy"), std::string::npos) << msg;
    for (const std::string& w : words) EXPECT_NE(msg.find(w), std::string::npos) << msg;
  }
  for (float v : dh) ASSERT_EQ(v, kSentinel);
  for (float v : dw) ASSERT_EQ(v, kSentinel);
  for (float v : rl) ASSERT_EQ(v, kSentinel);
}

TEST(LinearCrossEntropy, BadInputThrowsAndWritesNothing) {
  Rng rng = test::make_rng(10);
  const Problem p = make_problem(37, 19, 301, rng);
  using VF = std::vector<float>;
  auto outs = [&](VF& dh, VF& dw, VF& rl) {
    return LinearCrossEntropyOutputs{Rows<float>{dh.data(), 37, 19, 19},
                                     Rows<float>{dw.data(), 301, 19, 19}, rl, {}};
  };
  // D mismatch.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), Rows<const float>{p.w.data(), 301, 18, p.ws}, p.t, {},
                         outs(dh, dw, rl));
  }, {"weight", "D = 18", "D = 19"});
  // Targets length.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<std::int64_t> t(p.t.begin(), p.t.end() - 1);
    linear_cross_entropy(p.H(), p.W(), t, {}, outs(dh, dw, rl));
  }, {"target", "36", "37"});
  // Target out of range, negative, at row 5 (rows before it valid).
  for (std::int64_t bad : {std::int64_t{301}, std::int64_t{-1}, std::int64_t{1} << 40}) {
    expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
      std::vector<std::int64_t> t = p.t;
      t[5] = bad;
      linear_cross_entropy(p.H(), p.W(), t, {}, outs(dh, dw, rl));
    }, {"target", "row 5", std::to_string(bad)});
  }
  // Target out of range at the last row (after chunks that would already have been written).
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<std::int64_t> t = p.t;
    t[36] = 1000;
    linear_cross_entropy(p.H(), p.W(), t, {{}, 4}, outs(dh, dw, rl));
  }, {"target", "row 36"});
  // The same in the vocabulary mode (no block written before the check).
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<std::int64_t> t = p.t;
    t[36] = 1000;
    LinearCrossEntropyOptions lo{{}, 4};
    lo.chunk_vocab = 10;
    linear_cross_entropy(p.H(), p.W(), t, lo, outs(dh, dw, rl));
  }, {"target", "row 36"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<double> w(301, 1.0);
    w[300] = -1.0;
    LinearCrossEntropyOptions lo{{.weight = w}, 4};
    lo.chunk_vocab = 10;
    linear_cross_entropy(p.H(), p.W(), p.t, lo, outs(dh, dw, rl));
  }, {"weight[300]"});
  // Class weights of the wrong length; a negative / NaN weight.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<double> w(300, 1.0);
    linear_cross_entropy(p.H(), p.W(), p.t, {{.weight = w}}, outs(dh, dw, rl));
  }, {"weight", "300", "301"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<double> w(301, 1.0);
    w[17] = std::numeric_limits<double>::quiet_NaN();
    linear_cross_entropy(p.H(), p.W(), p.t, {{.weight = w}}, outs(dh, dw, rl));
  }, {"weight[17]"});
  // Options cross_entropy() rejects.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), p.W(), p.t, {{.temperature = 0.0}}, outs(dh, dw, rl));
  }, {"temperature"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), p.W(), p.t, {{.label_smoothing = 1.5}}, outs(dh, dw, rl));
  }, {"label_smoothing"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), p.W(), p.t, {{.z_loss = -1}}, outs(dh, dw, rl));
  }, {"z_loss"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), p.W(), p.t, {{.softcap = -2}}, outs(dh, dw, rl));
  }, {"softcap"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(p.H(), p.W(), p.t, {{.reduction = Reduction::kBatchMean}},
                         outs(dh, dw, rl));
  }, {"kBatchMean"});
  // Output shapes.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    auto o = outs(dh, dw, rl);
    o.grad_hidden.rows = 36;
    linear_cross_entropy(p.H(), p.W(), p.t, {}, o);
  }, {"grad_hidden"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    auto o = outs(dh, dw, rl);
    o.grad_weight.rows = 300;
    linear_cross_entropy(p.H(), p.W(), p.t, {}, o);
  }, {"grad_weight"});
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    auto o = outs(dh, dw, rl);
    o.row_loss = std::span<float>(rl).first(36);
    linear_cross_entropy(p.H(), p.W(), p.t, {}, o);
  }, {"row_loss"});
  // A bad stride.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    linear_cross_entropy(Rows<const float>{p.h.data(), 37, 19, 10}, p.W(), p.t, {},
                         outs(dh, dw, rl));
  }, {"hidden", "row_stride"});
  // bf16 overloads validate the same way.
  expect_throws_and_untouched([&](VF& dh, VF& dw, VF& rl) {
    std::vector<bfloat16> hb(37 * 19), wb(301 * 19);
    std::vector<std::int64_t> t = p.t;
    t[2] = 301;
    linear_cross_entropy(Rows<const bfloat16>{hb.data(), 37, 19, 19},
                         Rows<const bfloat16>{wb.data(), 301, 19, 19}, t, {}, outs(dh, dw, rl));
  }, {"target", "row 2"});
}

}  // namespace
}  // namespace logitkit
