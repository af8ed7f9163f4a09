// SPDX-License-Identifier: Apache-2.0
// Vocabulary-sharded softmax family and cross-entropy (include/logitkit/shard.h): per-row states
// of a shard, their merge, and the per-shard finish from the merged states. Ordinary rows run on
// the softmax and loss kernels; limits and special rows follow the single-process code.

#include "logitkit/shard.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "src/internal/check.h"
#include "src/loss/loss_internal.h"
#include "src/loss/loss_kernels.h"
#include "src/parallel/parallel.h"
#include "src/sampling/sampling_kernels.h"
#include "src/softmax/kernels.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit::shard {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

using internal::fail;

// Row r of a view, or null for a view without data (an empty shard: no arithmetic on null).
template <class T>
T* rowp(const Rows<T>& v, std::size_t r) {
  return v.data ? v.row(r) : nullptr;
}

enum class TauMode { kNormal, kZero, kInf };

// LseState::merge, with the empty state of any temperature as the identity (so that
// default-constructed accumulators can start a merge).
LseState merge_lse(const LseState& a, const LseState& b) {
  const auto empty = [](const LseState& s) { return s.max == -kInf && s.ties == 0 && s.rest == 0; };
  if (empty(b)) return a;
  if (empty(a)) return b;
  return a.merge(b);
}

TauMode tau_mode(double tau) {
  if (tau == 0.0) return TauMode::kZero;
  if (std::isinf(tau)) return TauMode::kInf;
  if (std::isinf(1.0 / tau)) return TauMode::kZero;
  return TauMode::kNormal;
}

void check_size(const char* fn, const char* name, std::size_t got, std::size_t want,
                const char* what) {
  if (got != want) {
    fail(fn, std::string(name) + " has " + std::to_string(got) + " entries but x has " +
                 std::to_string(want) + " " + what);
  }
}

// The state of a row in the limit modes (tau = 0 / +inf), or any row with NaN / +inf.
LseState limit_state(const float* x, std::size_t n, double tau, TauMode mode) {
  LseState s{-kInf, 0.0, 0.0, tau};
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return LseState{kNaN, 0.0, 0.0, tau};
    s.max = std::max(s.max, static_cast<double>(x[i]));
  }
  if (s.max == -kInf) return s;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == s.max) {
      s.ties += 1;
    } else if (mode == TauMode::kInf && s.max != kInf && x[i] != -kInfF) {
      s.rest += 1;
    }
  }
  return s;
}

void throw_on_nan(const char* fn, Rows<const float> x, std::size_t offset) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    const std::size_t c = internal::find_nan(rowp(x, r), x.cols);
    if (c < x.cols) {
      fail(fn, "x has NaN at row " + std::to_string(r) + ", column " + std::to_string(c + offset) +
                   " (NanPolicy::kThrow)");
    }
  }
}

enum class Op { kSoftmax, kLogSoftmax };

void finish(Op op, const char* fn, Rows<const float> x, std::span<const LseState> global,
            Rows<float> y, const SoftmaxOptions& o) {
  internal::check_rows(fn, "x", x);
  internal::check_rows(fn, "y", y);
  internal::check_same_shape(fn, "x", x, "y", y);
  internal::check_temperature(fn, o.temperature);
  check_size(fn, "global", global.size(), x.rows, "rows");
  const TauMode mode = tau_mode(o.temperature);
  const double inv_tau = mode == TauMode::kNormal ? 1.0 / o.temperature : 1.0;
  const auto k = internal::softmax_kernels(false);
  const std::size_t n = x.cols;
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    const LseState& s = global[r];
    const float* xr = rowp(x, r);
    float* yr = rowp(y, r);
    if (n == 0) return;
    if (std::isnan(s.max)) {
      std::fill(yr, yr + n, kNaNF);
      return;
    }
    if (s.max == -kInf) {
      const bool nan = o.empty_row == EmptyRow::kNaN;
      std::fill(yr, yr + n, op == Op::kSoftmax ? (nan ? kNaNF : 0.0f) : (nan ? kNaNF : -kInfF));
      return;
    }
    if (s.max == kInf || mode != TauMode::kNormal) {
      const bool uniform = s.max != kInf && mode == TauMode::kInf;
      const double count = uniform ? s.ties + s.rest : s.ties;
      const float share = static_cast<float>(1.0 / count);
      const float log_share = static_cast<float>(-std::log(count));
      const float winner = static_cast<float>(s.max);
      for (std::size_t i = 0; i < n; ++i) {
        const bool win = uniform ? xr[i] != -kInfF : xr[i] == winner;
        yr[i] = op == Op::kSoftmax ? (win ? share : 0.0f) : (win ? log_share : -kInfF);
      }
      return;
    }
    const double Z = s.ties + s.rest;
    const double log_norm = internal::LogNormalizer(s.ties, s.rest);
    const float m = static_cast<float>(s.max);
    const double inv_sum = 1.0 / Z;
    for (std::size_t c = 0; c < internal::chunk_count(n); ++c) {
      const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
      if (op == Op::kLogSoftmax) {
        k.log_out(xr + off, len, m, inv_tau, log_norm, yr + off);
        continue;
      }
      const internal::ChunkStats st = k.stats(xr + off, len, inv_tau, yr + off);
      if (st.max == -kInfF) {
        std::fill(yr + off, yr + off + len, 0.0f);
        continue;
      }
      const double f = st.max == m ? 1.0 : std::exp((static_cast<double>(st.max) - s.max) * inv_tau);
      k.scale(yr + off, len, f == 1.0 ? inv_sum : f * inv_sum, yr + off);
    }
  });
}

// ---- cross-entropy ------------------------------------------------------------------------

using L = long double;

struct Setup {
  const CrossEntropyOptions* o;
  Shard shard;
  std::size_t n;   // this shard's columns
  double inv_tau;
  double s_coef;   // eps/C or eps/(C-1)
  bool megatron;
  bool prob;
  const double* w;
  double eps;
};

Setup make_setup(const CrossEntropyOptions& o, const Shard& sh, std::size_t n, bool prob) {
  Setup s{};
  s.o = &o;
  s.shard = sh;
  s.n = n;
  s.inv_tau = 1.0 / o.temperature;
  s.megatron = !prob && o.smoothing == LabelSmoothing::kMegatron;
  const std::size_t C = sh.total_cols;
  s.s_coef = o.label_smoothing == 0.0
                 ? 0.0
                 : o.label_smoothing / static_cast<double>(s.megatron ? C - 1 : C);
  s.prob = prob;
  s.w = o.weight.empty() ? nullptr : o.weight.data();
  s.eps = o.label_smoothing;
  return s;
}

double weight(const Setup& s, std::size_t j) { return s.w ? s.w[j] : 1.0; }

// a_j for local column j; t_local: the target's local column or SIZE_MAX.
double coef(const Setup& s, std::size_t t_local, const float* y, std::size_t j) {
  if (s.prob) return weight(s, j) * ((1.0 - s.eps) * static_cast<double>(y[j]) + s.s_coef);
  const bool is_t = j == t_local;
  double c = (s.megatron && is_t) ? 0.0 : s.s_coef;
  if (is_t) c += 1.0 - s.eps;
  return weight(s, j) * c;
}

float softcapped(double c, float x) {
  if (c == 0.0 || x == -kInfF) return x;
  return static_cast<float>(static_cast<L>(c) * std::tanh(static_cast<L>(x) / static_cast<L>(c)));
}

double softcap_slope(double c, float x) {
  if (c == 0.0) return 1.0;
  if (std::isinf(x)) return 0.0;
  const L th = std::tanh(static_cast<L>(x) / static_cast<L>(c));
  return static_cast<double>((1.0L - th) * (1.0L + th));
}

// z of row x into buf when soft-capped, else x itself.
const float* capped_row(const Setup& s, const float* x, float* buf) {
  if (s.o->softcap == 0.0) return x;
  for (std::size_t j = 0; j < s.n; ++j) buf[j] = softcapped(s.o->softcap, x[j]);
  return buf;
}

constexpr std::size_t kNoTarget = static_cast<std::size_t>(-1);

std::size_t local_target(const Setup& s, std::int64_t t) {
  if (s.prob || t < 0) return kNoTarget;
  const std::size_t tg = static_cast<std::size_t>(t);
  if (tg < s.shard.offset || tg >= s.shard.offset + s.n) return kNoTarget;
  return tg - s.shard.offset;
}

bool ignored(const Setup& s, std::int64_t t) { return !s.prob && t == s.o->ignore_index; }

// The shard row's LseState; with e_out (not aliasing x), also writes e_j = exp((z_j - max)/tau)
// relative to the shard row's max (0 where z_j = -inf; all 0 for an all -inf shard row; nothing
// meaningful for NaN / +inf rows, whose gradient the finish fills).
LseState row_lse(const Setup& s, const internal::SoftmaxKernels& sk, const float* z, float* e_out) {
  if (!e_out || s.n == 0) return LseState::of(std::span<const float>(z, s.n), s.o->temperature);
  const internal::RowStats st = internal::row_stats(sk, z, s.n, s.inv_tau, e_out, 1);
  if (st.status != internal::kChunkOk) {
    return LseState::of(std::span<const float>(z, s.n), s.o->temperature);
  }
  for (std::size_t c = 0; c < internal::chunk_count(s.n); ++c) {
    const std::size_t off = c * internal::kChunk, len = internal::chunk_len(s.n, c);
    if (st.max == -kInfF || st.chunks[c].max == -kInfF) {
      std::fill(e_out + off, e_out + off + len, 0.0f);
    } else if (st.factors[c] != 1.0) {
      sk.scale(e_out + off, len, st.factors[c], e_out + off);
    }
  }
  return LseState{st.max, st.ties, st.rest, s.o->temperature};
}

CrossEntropyState row_state(const Setup& s, const internal::SoftmaxKernels& sk, const float* x,
                            std::int64_t t, const float* y, float* e_out) {
  CrossEntropyState st;
  float* buf = s.o->softcap != 0.0 ? internal::scratch(s.n) : nullptr;
  const float* z = capped_row(s, x, buf);
  st.lse = row_lse(s, sk, z, ignored(s, t) ? nullptr : e_out);
  if (ignored(s, t)) return st;
  const std::size_t tl = local_target(s, t);
  const double m = st.lse.max;
  auto add = [&](std::size_t j, double a, double& S, double& G) {
    S += a;
    if (!(a > 0)) return;
    if (z[j] == -kInfF) G = kInf;
    else if (static_cast<double>(z[j]) != m) G += a * (m - static_cast<double>(z[j]));
  };
  double S = 0.0, G = 0.0;
  if (s.prob || s.s_coef > 0) {
    for (std::size_t j = 0; j < s.n; ++j) add(j, coef(s, tl, y, j), S, G);
  } else if (tl != kNoTarget) {
    add(tl, coef(s, tl, y, tl), S, G);
  }
  st.coef = S;
  st.gap = G;
  if (tl != kNoTarget) {
    st.target = z[tl];
    st.target_weight = weight(s, tl);
  }
  return st;
}

struct RowResult {
  double loss, lse;
};

RowResult row_result(const Setup& s, const CrossEntropyState& g, bool ign) {
  const LseState& l = g.lse;
  if (ign) return {0.0, l.logsumexp()};
  if (std::isnan(l.max)) return {kNaN, kNaN};
  if (l.max == -kInf) return {g.coef > 0 ? kInf : 0.0, -kInf};
  const double lambda = s.o->z_loss;
  if (l.max == kInf) {
    double loss = g.gap > 0 ? kInf : g.coef * std::log(l.ties);
    if (lambda > 0) loss = kInf;
    return {loss, kInf};
  }
  const double log_norm = internal::LogNormalizer(l.ties, l.rest);
  const double lse = l.max * s.inv_tau + log_norm;
  return {g.coef * log_norm + g.gap * s.inv_tau + lambda * lse * lse, lse};
}

void row_grad(const Setup& s, const internal::SoftmaxKernels& sk, const internal::LossKernels& lk,
              const CrossEntropyState& g, const CrossEntropyState* local, const float* x,
              std::int64_t t, const float* y, float* gr, double red, bool ign) {
  const std::size_t n = s.n;
  if (n == 0) return;
  const LseState& l = g.lse;
  if (ign || l.max == -kInf || l.max == kInf) {
    std::fill(gr, gr + n, 0.0f);
    return;
  }
  if (std::isnan(l.max)) {
    std::fill(gr, gr + n, kNaNF);
    return;
  }
  const double M = l.max;
  const double Z = l.ties + l.rest;
  const double lse = M * s.inv_tau + internal::LogNormalizer(l.ties, l.rest);
  const double Sz = g.coef + 2.0 * s.o->z_loss * lse;
  const double scale = red * s.inv_tau;
  const double b1 = scale * (1.0 - s.eps), b0 = scale * s.s_coef;
  if (local) {
    // gr holds exp((z_j - local max)/tau) from the states pass: rescale to the global max.
    const double lm = local->lse.max;
    const double f = lm == -kInf ? 0.0 : (lm == M ? 1.0 : std::exp((lm - M) * s.inv_tau));
    for (std::size_t c = 0; c < internal::chunk_count(n); ++c) {
      const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
      lk.grad_affine(gr + off, s.w ? s.w + off : nullptr, y ? y + off : nullptr, len,
                     scale * Sz * f / Z, b1, b0, gr + off);
    }
  }
  float* buf = !local && s.o->softcap != 0.0 ? internal::scratch(n) : nullptr;
  const float* z = local ? nullptr : capped_row(s, x, buf);
  for (std::size_t c = 0; !local && c < internal::chunk_count(n); ++c) {
    const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
    const internal::ChunkStats st = sk.stats(z + off, len, s.inv_tau, gr + off);
    double f = 0.0;
    if (st.max == -kInfF) {
      std::fill(gr + off, gr + off + len, 0.0f);
    } else {
      f = static_cast<double>(st.max) == M ? 1.0
                                           : std::exp((static_cast<double>(st.max) - M) * s.inv_tau);
    }
    lk.grad_affine(gr + off, s.w ? s.w + off : nullptr, y ? y + off : nullptr, len,
                   scale * Sz * f / Z, b1, b0, gr + off);
  }
  const std::size_t tl = local_target(s, t);
  if (tl != kNoTarget) {
    const double zt = g.target;
    const double et = std::exp(-(M - zt) * s.inv_tau);
    const double other = (zt == M) ? (l.ties - 1.0) + l.rest : Z - et;
    const double at = (1.0 - s.eps) * weight(s, tl);
    const double smooth_t = s.megatron ? 0.0 : s.s_coef * weight(s, tl);
    gr[tl] = static_cast<float>(scale * (-at * other / Z + (Sz - at) * et / Z - smooth_t));
  }
  if (s.o->softcap > 0) {
    for (std::size_t j = 0; j < n; ++j) {
      gr[j] = static_cast<float>(static_cast<double>(gr[j]) * softcap_slope(s.o->softcap, x[j]));
    }
  }
}

void check_impl(const char* fn, Rows<const float> x, std::span<const std::int64_t> target,
                Rows<const float> y, bool prob, const Shard& sh, const CrossEntropyOptions& o,
                const LossOutputs<float>& out) {
  internal::check_rows(fn, "x", x);
  if (o.reduction == Reduction::kBatchMean) {
    fail(fn, "reduction kBatchMean is for distillation_loss; use kMean, kSum or kNone");
  }
  if (!(o.temperature > 0.0) || std::isinf(o.temperature)) {
    fail(fn, "temperature must be > 0 and finite, got " + std::to_string(o.temperature));
  }
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    fail(fn, "label_smoothing must be in [0, 1], got " + std::to_string(o.label_smoothing));
  }
  if (o.smoothing == LabelSmoothing::kMegatron && prob && o.label_smoothing > 0) {
    fail(fn, "label_smoothing kMegatron needs class-index targets");
  }
  if (!(o.z_loss >= 0.0) || std::isinf(o.z_loss)) {
    fail(fn, "z_loss must be >= 0 and finite, got " + std::to_string(o.z_loss));
  }
  if (!(o.softcap >= 0.0) || std::isinf(o.softcap)) {
    fail(fn, "softcap must be >= 0 and finite, got " + std::to_string(o.softcap));
  }
  if (!o.weight.empty()) {
    if (o.weight.size() != x.cols) {
      fail(fn, "weight has " + std::to_string(o.weight.size()) + " entries but this shard of x has " +
                   std::to_string(x.cols) + " columns (pass the shard's class weights)");
    }
    for (std::size_t j = 0; j < x.cols; ++j) {
      if (!(o.weight[j] >= 0.0) || std::isinf(o.weight[j])) {
        fail(fn, "weight[" + std::to_string(j + sh.offset) + "] must be finite and >= 0, got " +
                     std::to_string(o.weight[j]));
      }
    }
  }
  if (out.grad.data) {
    internal::check_rows(fn, "grad", out.grad);
    internal::check_same_shape(fn, "x", x, "grad", out.grad);
    if (static_cast<const void*>(out.grad.data) == static_cast<const void*>(x.data) &&
        (o.softcap != 0.0 || out.grad.row_stride != x.row_stride)) {
      fail(fn, "grad may alias x only in place (same row_stride) and without softcap");
    }
  }
  if (!out.row_loss.empty()) check_size(fn, "row_loss", out.row_loss.size(), x.rows, "rows");
  if (!out.lse.empty()) check_size(fn, "lse", out.lse.size(), x.rows, "rows");
  if (prob) {
    internal::check_rows(fn, "y", y);
    internal::check_same_shape(fn, "x", x, "y", y);
    for (std::size_t r = 0; r < y.rows; ++r) {
      for (std::size_t j = 0; j < y.cols; ++j) {
        const float v = rowp(y, r)[j];
        if (!(v >= 0) || std::isinf(v)) {
          fail(fn, "y at row " + std::to_string(r) + ", column " + std::to_string(j + sh.offset) +
                       " must be finite and >= 0, got " + std::to_string(v));
        }
      }
    }
  } else {
    check_size(fn, "target", target.size(), x.rows, "rows");
  }
  if (sh.total_cols == 0) return;  // the global checks need the vocabulary
  if (sh.offset > sh.total_cols || x.cols > sh.total_cols - sh.offset) {
    fail(fn, "the shard's columns [" + std::to_string(sh.offset) + ", " +
                 std::to_string(sh.offset + x.cols) + ") exceed total_cols (" +
                 std::to_string(sh.total_cols) + ")");
  }
  if (o.smoothing == LabelSmoothing::kMegatron && o.label_smoothing > 0 && sh.total_cols < 2) {
    fail(fn, "label_smoothing kMegatron needs at least 2 classes");
  }
  if (!prob) {
    for (std::size_t r = 0; r < x.rows; ++r) {
      const std::int64_t t = target[r];
      if (t == o.ignore_index) continue;
      if (t < 0 || static_cast<std::size_t>(t) >= sh.total_cols) {
        fail(fn, "target at row " + std::to_string(r) + " is " + std::to_string(t) +
                     ", outside [0, " + std::to_string(sh.total_cols) + ") and not ignore_index (" +
                     std::to_string(o.ignore_index) + ")");
      }
    }
  }
}

void check_global(const char* fn, const Shard& sh) {
  if (sh.total_cols == 0) fail(fn, "shard.total_cols is 0 (the full vocabulary's size is needed)");
}

void states_impl(const char* fn, Rows<const float> x, std::span<const std::int64_t> target,
                 Rows<const float> y, bool prob, const Shard& sh, const CrossEntropyOptions& o,
                 std::span<CrossEntropyState> states, Rows<float> e_out) {
  check_global(fn, sh);
  check_impl(fn, x, target, y, prob, sh, o, {});
  check_size(fn, "states", states.size(), x.rows, "rows");
  if (e_out.data) {
    internal::check_rows(fn, "grad", e_out);
    internal::check_same_shape(fn, "x", x, "grad", e_out);
    if (static_cast<const void*>(e_out.data) == static_cast<const void*>(x.data)) {
      fail(fn, "grad may not alias x in the states pass (use the overload without grad)");
    }
  }
  const Setup s = make_setup(o, sh, x.cols, prob);
  const auto sk = internal::softmax_kernels(false);
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    states[r] = row_state(s, sk, rowp(x, r), prob ? -1 : target[r], prob ? rowp(y, r) : nullptr,
                          e_out.data ? rowp(e_out, r) : nullptr);
  });
}

double finish_impl(const char* fn, Rows<const float> x, std::span<const std::int64_t> target,
                   Rows<const float> y, bool prob, const Shard& sh, const CrossEntropyOptions& o,
                   std::span<const CrossEntropyState> global, const LossOutputs<float>& out,
                   std::span<const CrossEntropyState> local = {}, double den_override = 0.0) {
  check_global(fn, sh);
  check_impl(fn, x, target, y, prob, sh, o, out);
  check_size(fn, "global", global.size(), x.rows, "rows");
  const bool stored = !local.empty();
  if (stored) {
    check_size(fn, "local", local.size(), x.rows, "rows");
    if (!out.grad.data) fail(fn, "local states are given but out.grad is null");
  }
  const Setup s = make_setup(o, sh, x.cols, prob);
  double den = 0.0;
  if (prob) {
    den = static_cast<double>(x.rows);
  } else {
    for (std::size_t r = 0; r < x.rows; ++r) {
      if (target[r] != o.ignore_index) den += global[r].target_weight;
    }
  }
  if (den_override > 0.0) den = den_override;
  double red = 1.0;
  if (o.reduction == Reduction::kMean) {
    red = den == 0.0 ? (o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0) : 1.0 / den;
  }
  std::vector<double> row_loss(x.rows);
  const auto sk = internal::softmax_kernels(false);
  const auto lk = internal::loss_kernels(false);
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    const std::int64_t t = prob ? -1 : target[r];
    const bool ign = ignored(s, t);
    const RowResult res = row_result(s, global[r], ign);
    row_loss[r] = res.loss;
    if (!out.row_loss.empty()) out.row_loss[r] = static_cast<float>(res.loss);
    if (!out.lse.empty()) out.lse[r] = static_cast<float>(res.lse);
    if (out.grad.data) {
      row_grad(s, sk, lk, global[r], stored ? &local[r] : nullptr, rowp(x, r), t,
               prob ? rowp(y, r) : nullptr, rowp(out.grad, r), red, ign);
    }
  });
  double sum = 0.0;
  for (double v : row_loss) sum += v;
  if (o.reduction != Reduction::kMean) return sum;
  if (den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return sum / den;
}

}  // namespace

// ---- softmax family -------------------------------------------------------------------------

void softmax_states(Rows<const float> x, std::span<LseState> states, const SoftmaxOptions& o) {
  constexpr char fn[] = "shard::softmax_states";
  internal::check_rows(fn, "x", x);
  internal::check_temperature(fn, o.temperature);
  check_size(fn, "states", states.size(), x.rows, "rows");
  if (o.nan == NanPolicy::kThrow) throw_on_nan(fn, x, 0);
  const TauMode mode = tau_mode(o.temperature);
  const double tau = o.temperature;
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    const float* xr = rowp(x, r);
    if (mode != TauMode::kNormal) {
      states[r] = limit_state(xr, x.cols, tau, mode);
    } else {
      states[r] = LseState::of(std::span<const float>(xr, x.cols), tau);
    }
  });
}

void merge_states(std::span<LseState> inout, std::span<const LseState> in) {
  if (inout.size() != in.size()) {
    fail("shard::merge_states", "inout has " + std::to_string(inout.size()) + " entries but in has " +
                                    std::to_string(in.size()));
  }
  for (std::size_t i = 0; i < in.size(); ++i) inout[i] = merge_lse(inout[i], in[i]);
}

void softmax_finish(Rows<const float> x, std::span<const LseState> global, Rows<float> y,
                    const SoftmaxOptions& o) {
  finish(Op::kSoftmax, "shard::softmax_finish", x, global, y, o);
}

void log_softmax_finish(Rows<const float> x, std::span<const LseState> global, Rows<float> y,
                        const SoftmaxOptions& o) {
  finish(Op::kLogSoftmax, "shard::log_softmax_finish", x, global, y, o);
}

void logsumexp_finish(std::span<const LseState> global, std::span<float> out,
                      const SoftmaxOptions& o) {
  constexpr char fn[] = "shard::logsumexp_finish";
  internal::check_temperature(fn, o.temperature);
  if (out.size() != global.size()) {
    fail(fn, "out has " + std::to_string(out.size()) + " entries but global has " +
                 std::to_string(global.size()));
  }
  const TauMode mode = tau_mode(o.temperature);
  for (std::size_t r = 0; r < global.size(); ++r) {
    const LseState& s = global[r];
    double v;
    if (std::isnan(s.max) || std::isinf(s.max)) {
      v = s.max;
    } else if (mode == TauMode::kZero) {
      v = s.max > 0 ? kInf : (s.max < 0 ? -kInf : std::log(s.ties));
    } else if (mode == TauMode::kInf) {
      v = std::log(s.ties + s.rest);
    } else {
      v = s.max / o.temperature + internal::LogNormalizer(s.ties, s.rest);
    }
    out[r] = static_cast<float>(v);
  }
}

// ---- cross-entropy --------------------------------------------------------------------------

CrossEntropyState CrossEntropyState::merge(const CrossEntropyState& o) const {
  CrossEntropyState m;
  m.lse = merge_lse(lse, o.lse);
  const double M = m.lse.max;
  auto shifted = [&](const CrossEntropyState& s) {
    if (s.coef > 0 && s.lse.max != M) return s.gap + s.coef * (M - s.lse.max);
    return s.gap;
  };
  m.gap = shifted(*this) + shifted(o);
  m.coef = coef + o.coef;
  m.target = std::isnan(target) ? o.target : target;
  m.target_weight = target_weight + o.target_weight;
  return m;
}

void merge_states(std::span<CrossEntropyState> inout, std::span<const CrossEntropyState> in) {
  if (inout.size() != in.size()) {
    fail("shard::merge_states", "inout has " + std::to_string(inout.size()) + " entries but in has " +
                                    std::to_string(in.size()));
  }
  for (std::size_t i = 0; i < in.size(); ++i) inout[i] = inout[i].merge(in[i]);
}

void cross_entropy_states(Rows<const float> x, std::span<const std::int64_t> target,
                          const Shard& shard, const CrossEntropyOptions& o,
                          std::span<CrossEntropyState> states) {
  states_impl("shard::cross_entropy_states", x, target, Rows<const float>{nullptr, 0, 0, 0}, false,
              shard, o, states, Rows<float>{nullptr, 0, 0, 0});
}

void cross_entropy_states(Rows<const float> x, Rows<const float> y, const Shard& shard,
                          const CrossEntropyOptions& o, std::span<CrossEntropyState> states) {
  states_impl("shard::cross_entropy_states", x, {}, y, true, shard, o, states,
              Rows<float>{nullptr, 0, 0, 0});
}

void cross_entropy_states(Rows<const float> x, std::span<const std::int64_t> target,
                          const Shard& shard, const CrossEntropyOptions& o,
                          std::span<CrossEntropyState> states, Rows<float> grad) {
  states_impl("shard::cross_entropy_states", x, target, Rows<const float>{nullptr, 0, 0, 0}, false,
              shard, o, states, grad);
}

void cross_entropy_states(Rows<const float> x, Rows<const float> y, const Shard& shard,
                          const CrossEntropyOptions& o, std::span<CrossEntropyState> states,
                          Rows<float> grad) {
  states_impl("shard::cross_entropy_states", x, {}, y, true, shard, o, states, grad);
}

double cross_entropy_finish(Rows<const float> x, std::span<const std::int64_t> target,
                            const Shard& shard, const CrossEntropyOptions& o,
                            std::span<const CrossEntropyState> local,
                            std::span<const CrossEntropyState> global,
                            const LossOutputs<float>& out, double mean_denominator) {
  return finish_impl("shard::cross_entropy_finish", x, target, Rows<const float>{nullptr, 0, 0, 0},
                     false, shard, o, global, out, local, mean_denominator);
}

double cross_entropy_finish(Rows<const float> x, Rows<const float> y, const Shard& shard,
                            const CrossEntropyOptions& o, std::span<const CrossEntropyState> local,
                            std::span<const CrossEntropyState> global,
                            const LossOutputs<float>& out, double mean_denominator) {
  return finish_impl("shard::cross_entropy_finish", x, {}, y, true, shard, o, global, out, local,
                     mean_denominator);
}

double cross_entropy_finish(Rows<const float> x, std::span<const std::int64_t> target,
                            const Shard& shard, const CrossEntropyOptions& o,
                            std::span<const CrossEntropyState> global,
                            const LossOutputs<float>& out) {
  return finish_impl("shard::cross_entropy_finish", x, target, Rows<const float>{nullptr, 0, 0, 0},
                     false, shard, o, global, out);
}

double cross_entropy_finish(Rows<const float> x, Rows<const float> y, const Shard& shard,
                            const CrossEntropyOptions& o, std::span<const CrossEntropyState> global,
                            const LossOutputs<float>& out) {
  return finish_impl("shard::cross_entropy_finish", x, {}, y, true, shard, o, global, out);
}

void cross_entropy_check(Rows<const float> x, std::span<const std::int64_t> target,
                         Rows<const float> y, const Shard& shard, const CrossEntropyOptions& o,
                         const LossOutputs<float>& out, const char* fn) {
  check_impl(fn, x, target, y, y.data != nullptr, shard, o, out);
}

// ---- distillation (forward KL, teacher logits) -----------------------------------------------

DistillationState DistillationState::merge(const DistillationState& o) const {
  DistillationState m;
  m.teacher = merge_lse(teacher, o.teacher);
  m.student = merge_lse(student, o.student);
  m.masked = (masked != 0.0 || o.masked != 0.0) ? 1.0 : 0.0;
  const double Mt = m.teacher.max, Ms = m.student.max;
  if (m.special()) return m;
  const double inv_tau = 1.0 / m.teacher.temperature;
  auto part = [&](const DistillationState& s) {
    const double zt = s.teacher.ties + s.teacher.rest;
    if (zt == 0.0 || s.masked != 0.0 || !std::isfinite(s.student.max)) return 0.0;
    const double dt = s.teacher.max - Mt, ds = s.student.max - Ms;
    const double f = dt == 0.0 ? 1.0 : std::exp(dt * inv_tau);
    return f * (s.cross + zt * (dt - ds) * inv_tau);
  };
  m.cross = part(*this) + part(o);
  return m;
}

bool DistillationState::special() const {
  return !std::isfinite(teacher.max) || !std::isfinite(student.max);
}

void merge_states(std::span<DistillationState> inout, std::span<const DistillationState> in) {
  if (inout.size() != in.size()) {
    fail("shard::merge_states", "inout has " + std::to_string(inout.size()) + " entries but in has " +
                                    std::to_string(in.size()));
  }
  for (std::size_t i = 0; i < in.size(); ++i) inout[i] = inout[i].merge(in[i]);
}

namespace {

void check_distill(const char* fn, Rows<const float> s, Rows<const float> t,
                   const DistillationOptions& o) {
  internal::check_rows(fn, "student", s);
  internal::check_rows(fn, "teacher", t);
  internal::check_same_shape(fn, "student", s, "teacher", t);
  if (!(o.temperature > 0.0) || std::isinf(o.temperature)) {
    fail(fn, "temperature must be > 0 and finite, got " + std::to_string(o.temperature));
  }
}

}  // namespace

void distillation_states(Rows<const float> s, Rows<const float> t, const DistillationOptions& o,
                         std::span<DistillationState> states) {
  constexpr char fn[] = "shard::distillation_states";
  check_distill(fn, s, t, o);
  check_size(fn, "states", states.size(), s.rows, "rows");
  const double tau = o.temperature, inv_tau = 1.0 / tau;
  const auto lk = internal::loss_kernels(false, /*comp_dual=*/true);
  internal::for_each_row(s.rows, s.cols, o.threads, [&](std::size_t r, int) {
    const float* sr = rowp(s, r);
    const float* tr = rowp(t, r);
    const std::size_t n = s.cols;
    DistillationState st;
    st.teacher = LseState::of(std::span<const float>(tr, n), tau);
    st.student = LseState::of(std::span<const float>(sr, n), tau);
    if (std::isnan(st.teacher.max) || std::isnan(st.student.max) || st.teacher.max == kInf ||
        st.student.max == kInf || st.teacher.max == -kInf) {
      states[r] = st;
      return;
    }
    if (st.student.max == -kInf) {  // teacher has mass here, student none
      st.masked = 1.0;
      states[r] = st;
      return;
    }
    // Chunk sums come relative to the chunk maxima (dual_stats); shift them to the shard's row
    // maxima as the single-process distillation does: with f = exp(dt),
    // cross += f (cross_c + (ties_c + rest_c) (dt - ds)), dt, ds the shifts of the two maxima.
    double cross = 0.0;
    bool masked = false;
    const double mt = st.teacher.max, ms = st.student.max;
    for (std::size_t c = 0; c < internal::chunk_count(n); ++c) {
      const std::size_t off = c * internal::kChunk;
      const internal::DualStats k = lk.dual_stats(tr + off, sr + off, internal::chunk_len(n, c),
                                                  inv_tau, inv_tau, nullptr, nullptr);
      if (k.t.max == -kInfF) continue;  // no teacher mass in this chunk: adds nothing
      if (k.s.max == -kInfF) {          // teacher mass where the student has none
        masked = true;
        continue;
      }
      masked |= k.student_masked;
      const double dt = (static_cast<double>(k.t.max) - mt) * inv_tau;
      const double ds = (static_cast<double>(k.s.max) - ms) * inv_tau;
      const double f = static_cast<double>(k.t.max) == mt ? 1.0 : std::exp(dt);
      cross += f * (k.cross_t + (k.t.ties + k.t.rest) * (dt - ds));
    }
    st.cross = cross;
    st.masked = masked ? 1.0 : 0.0;
    states[r] = st;
  });
}

void distillation_finish(Rows<const float> s, Rows<const float> t, const DistillationOptions& o,
                         std::span<const DistillationState> global, std::span<double> row_loss,
                         Rows<float> grad, double grad_scale, std::span<float> lse) {
  constexpr char fn[] = "shard::distillation_finish";
  check_distill(fn, s, t, o);
  check_size(fn, "global", global.size(), s.rows, "rows");
  check_size(fn, "row_loss", row_loss.size(), s.rows, "rows");
  if (!lse.empty()) check_size(fn, "lse", lse.size(), s.rows, "rows");
  if (grad.data) {
    internal::check_rows(fn, "grad", grad);
    internal::check_same_shape(fn, "student", s, "grad", grad);
  }
  const double inv_tau = 1.0 / o.temperature;
  const double factor = o.tau_squared ? o.temperature * o.temperature : 1.0;
  const auto sk = internal::softmax_kernels(false);
  const auto lk = internal::loss_kernels(false, /*comp_dual=*/true);
  internal::for_each_row(s.rows, s.cols, o.threads, [&](std::size_t r, int) {
    const DistillationState& g = global[r];
    if (g.special()) return;
    const double zt = g.teacher.ties + g.teacher.rest, zs = g.student.ties + g.student.rest;
    const double lt = internal::LogNormalizer(g.teacher.ties, g.teacher.rest);
    const double ls = internal::LogNormalizer(g.student.ties, g.student.rest);
    const double kl = g.masked != 0.0 ? kInf : g.cross / zt + (ls - lt);
    row_loss[r] = factor * std::max(kl, 0.0);
    if (!lse.empty()) lse[r] = static_cast<float>(g.student.max * inv_tau + ls);
    if (!grad.data) return;
    const float* sr = rowp(s, r);
    const float* tr = rowp(t, r);
    float* gr = rowp(grad, r);
    const double c = grad_scale * factor * inv_tau;
    for (std::size_t ch = 0; ch < internal::chunk_count(s.cols); ++ch) {
      const std::size_t off = ch * internal::kChunk, len = internal::chunk_len(s.cols, ch);
      const internal::ChunkStats st = sk.stats(sr + off, len, inv_tau, gr + off);
      double f = 0.0;
      if (st.max == -kInfF) {
        std::fill(gr + off, gr + off + len, 0.0f);
      } else {
        f = static_cast<double>(st.max) == g.student.max
                ? 1.0
                : std::exp((static_cast<double>(st.max) - g.student.max) * inv_tau);
      }
      // The teacher's exponentials of this chunk (relative to its own maximum), then
      // grad = c (q - p) from both stored exponentials, each scaled to the global maxima.
      float* te = internal::scratch(len, 1);
      const internal::ChunkStats tst = sk.stats(tr + off, len, inv_tau, te);
      double ft = 0.0;
      if (tst.max == -kInfF) {
        std::fill(te, te + len, 0.0f);
      } else {
        ft = static_cast<double>(tst.max) == g.teacher.max
                 ? 1.0
                 : std::exp((static_cast<double>(tst.max) - g.teacher.max) * inv_tau);
      }
      lk.kl_grad(gr + off, te, len, c * f / zs, c * ft / zt, gr + off, false);
    }
  });
}

// ---- sampling ---------------------------------------------------------------------------------

double sampling_weights(std::span<const float> x, float m, double inv_tau, std::span<float> e,
                        Precision precision) {
  if (e.size() != x.size()) {
    fail("shard::sampling_weights", "e has " + std::to_string(e.size()) + " entries but x has " +
                                        std::to_string(x.size()));
  }
  if (x.empty()) return 0.0;
  // The sampler's own choice of exp (sampling.cc): the float exp for tau in [1e-30, 1e30]
  // (compensated shift for kAccurate, rounded for kFast), the double exp elsewhere.
  const bool float_ok = inv_tau >= 1e-30 && inv_tau <= 1e30;
  const internal::ExpMode mode = !float_ok ? internal::kExpDouble
                                 : precision == Precision::kAccurate ? internal::kExpComp
                                                                     : internal::kExpPlain;
  const auto k = internal::sampling_kernels(mode);
  const double c = 1.4426950408889634 * inv_tau;
  internal::ExpArgs args{};
  args.m = m;
  args.c_hi = float_ok ? static_cast<float>(c) : 0.0f;
  args.c_lo = float_ok ? static_cast<float>(c - static_cast<double>(args.c_hi)) : 0.0f;
  args.inv_tau = inv_tau;
  std::vector<double> sums((x.size() + internal::kSampleBlock - 1) / internal::kSampleBlock);
  k.exp_blocks(x.data(), x.size(), args, e.data(), sums.data());
  double t = 0.0;
  for (double v : sums) t += v;
  return t;
}

}  // namespace logitkit::shard
