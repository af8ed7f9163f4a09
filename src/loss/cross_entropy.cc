// SPDX-License-Identifier: Apache-2.0
// Cross-entropy fused with log-softmax: validation, the fused per-row pass, reductions.
// Ordinary float rows run on the SIMD kernels (the statistics pass reads x and keeps the
// exponentials in a per-thread row buffer; the gradient pass writes grad from it). In a batch
// each thread pipelines its rows: row r's gradient chunk c is written while row r + 1's
// statistics reach chunk c of the same buffer (inside that pass's loop when grad is streamed
// and aligned), the same values as row by row. Special rows, double inputs and limits run in
// the scalar long double engine below.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "logitkit/loss.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/loss/cross_entropy_setup.h"
#include "src/loss/loss_internal.h"
#include "src/loss/loss_kernels.h"
#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit {
namespace {

using L = long double;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kFn[] = "cross_entropy";

// What every row shares: cross-entropy's setup (cross_entropy_setup.h) and the whole-row
// driver's own choices.
struct Setup : internal::ce::Setup {
  double red = 1.0;       // gradient factor of the reduction (1/denominator for kMean)
  bool stream = false;    // write grad with non-temporal stores (the gradient is larger than the cache)
  bool want_lse = false;  // the row's lse is returned or enters the z-loss
};

// Gradients at least this large are written with non-temporal stores: they cannot stay in the
// last-level cache anyway, and streaming saves the read for ownership of every line.
constexpr std::size_t kStreamBytes = std::size_t{16} << 20;

using internal::ce::coef;
using internal::ce::weight;

template <class T>
L softcapped(const Setup& s, T x) {
  return internal::ce::softcapped(s.o->softcap, x);
}

template <class T>
L softcap_slope(const Setup& s, T x) {
  return internal::ce::softcap_slope(s.o->softcap, x);
}

struct RowResult {
  double loss, lse;
};

// The whole row in long double, every special case included. g (if non-null) receives the
// gradient times s.red.
template <class T>
RowResult row_scalar(const Setup& s, const T* x, std::int64_t t, const T* y, T* g) {
  const std::size_t n = s.C;
  // In long double: 1/tau overflows a double below tau = 2^-1024 (s.inv_tau is then +inf).
  const L inv_tau = internal::inv_tau_long(s.o->temperature);
  std::vector<L> z(n);
  bool nan = false;
  L m = -static_cast<L>(kInf);
  std::size_t pinf = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (std::isnan(x[j])) nan = true;
    z[j] = softcapped(s, x[j]);
    m = std::max(m, z[j]);
    pinf += (z[j] == static_cast<L>(kInf));
  }
  auto fill = [&](double v) {
    if (g) std::fill(g, g + n, static_cast<T>(v));
  };
  if (nan) {
    fill(kNaN);
    return {kNaN, kNaN};
  }
  L S = 0;
  for (std::size_t j = 0; j < n; ++j) S += coef(s, t, y, j);
  const double lambda = s.o->z_loss;
  if (m == -static_cast<L>(kInf)) {  // all -inf
    fill(0.0);
    return {S > 0 ? kInf : 0.0, -kInf};
  }
  if (pinf > 0) {  // the limit: uniform over the +inf entries; gradient 0
    L loss = 0;
    const L log_k = std::log(static_cast<L>(pinf));
    for (std::size_t j = 0; j < n; ++j) {
      const double a = coef(s, t, y, j);
      if (a > 0) loss += z[j] == static_cast<L>(kInf) ? a * log_k : static_cast<L>(kInf);
    }
    if (lambda > 0) loss = kInf;
    fill(0.0);
    return {static_cast<double>(loss), kInf};
  }
  L ties = 0, rest = 0;
  std::vector<L> e(n);
  for (std::size_t j = 0; j < n; ++j) {
    const L d = (m - z[j]) * inv_tau;
    e[j] = std::exp(-d);
    if (d == 0) ties += 1;
    else rest += e[j];
  }
  const L Z = ties + rest;
  const L log_norm = ties == 1 ? std::log1p(rest) : std::log(Z);
  const L lse = m * inv_tau + log_norm;
  L loss = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const double a = coef(s, t, y, j);
    if (a > 0) loss += a * ((m - z[j]) * inv_tau + log_norm);
  }
  loss += static_cast<L>(lambda) * lse * lse;
  if (g) {
    const L Sz = S + 2.0L * lambda * lse;
    const L scale = static_cast<L>(s.red) * inv_tau;
    for (std::size_t j = 0; j < n; ++j) {
      L dj;
      if (!s.prob && static_cast<std::int64_t>(j) == t) {
        // p_t - 1 = -sum_{j != t} p_j, without cancellation.
        L other = 0;
        for (std::size_t i = 0; i < n; ++i) other += (i == j) ? 0.0L : e[i];
        const L at = (1.0L - s.o->label_smoothing) * weight(s, j);
        dj = -at * other / Z + (Sz - at) * e[j] / Z - (coef(s, t, y, j) - at);
      } else {
        dj = Sz * e[j] / Z - coef(s, t, y, j);
      }
      g[j] = static_cast<T>(dj * scale * softcap_slope(s, x[j]));
    }
  }
  return {static_cast<double>(loss), static_cast<double>(lse)};
}

// ---- the fused float row ---------------------------------------------------------------------

struct Fused {
  internal::SoftmaxKernels sk;  // the losses' statistics (accurate: ExpCompF32)
  internal::LossKernels lk;
  internal::LossKernels lk_double;  // the accurate kernels: factors beyond float go through them
  bool fast = false;                // sk and lk are the kFast kernels
};

// Sums over finite z_j of c_j (max - z_j) and of c_j, with c_j = w_j (times y_j when y), skipping
// index `skip`; *inf is set when some z_j = -inf has c_j > 0. 16 logical lanes: same bits on
// every target.
struct Gap {
  double g = 0.0, w = 0.0;
  bool inf = false;
};
Gap gap_sums(const Setup& s, const float* z, const float* y, std::size_t n, float m,
             std::size_t skip) {
  internal::LaneSum gs, ws;
  Gap r;
  for (std::size_t j = 0; j < n; ++j) {
    if (j == skip) continue;
    const double c = weight(s, j) * (y ? static_cast<double>(y[j]) : 1.0);
    if (z[j] == -std::numeric_limits<float>::infinity()) {
      r.inf |= c > 0;
      ws.add(j, c);
      continue;
    }
    gs.add(j, c * (static_cast<double>(m) - z[j]));
    ws.add(j, c);
  }
  r.g = gs.total();
  r.w = ws.total();
  return r;
}

// The gradient of one fused row, chunk by chunk from the row buffer e: run right after the row's
// statistics, or (pipelined) chunk c while the next row's statistics pass reaches chunk c of the
// same buffer, so that the gradient's streamed writes overlap that pass's reads and exps.
struct GradJob {
  float* g = nullptr;  // null: nothing pending
  const float* e = nullptr;
  const float* y = nullptr;
  std::size_t n = 0;
  std::vector<double> kc;  // per chunk: the factor of its exponentials
  double b1 = 0.0, b0 = 0.0;
  bool stream = false;
  std::size_t t = 0;  // the target entry (when has_t), written after its chunk
  bool has_t = false;
  float gt = 0.0f;
};

// Whether chunk c's factors fit float (else: grad_scale's float split of k and kFast's float
// factors would overflow to inf, and e = 0 times inf is NaN, at a tiny tau).
bool float_factors(const GradJob& j, std::size_t c) {
  constexpr double kFltMax = std::numeric_limits<float>::max();
  return std::fabs(j.kc[c]) <= kFltMax && std::fabs(j.b0) <= kFltMax && std::fabs(j.b1) <= kFltMax;
}

void grad_chunk(const Setup& s, const Fused& k, const GradJob& j, std::size_t c) {
  const std::size_t off = c * internal::kChunk;
  const std::size_t len = internal::chunk_len(j.n, c);
  if (!float_factors(j, c)) {
    // The accurate grad_affine works in double (e * k - b0, rounded once), where 0 * k = 0.
    k.lk_double.grad_affine(j.e + off, s.w ? s.w + off : nullptr, j.y ? j.y + off : nullptr, len,
                            j.kc[c], j.b1, j.b0, j.g + off);
  } else if (s.w == nullptr && j.y == nullptr) {
    // The common case (class-index targets, no weights): e * k - b0, in one kernel.
    k.lk.grad_scale(j.e + off, len, j.kc[c], j.b0, j.g + off, j.stream);
  } else {
    k.lk.grad_affine(j.e + off, s.w ? s.w + off : nullptr, j.y ? j.y + off : nullptr, len,
                     j.kc[c], j.b1, j.b0, j.g + off);
  }
  // p_t - 1, computed without cancellation, replaces the kernel's value.
  if (j.has_t && j.t >= off && j.t < off + len) j.g[j.t] = j.gt;
}

// Loss and lse of a fused row from its statistics; with g, fills `job` with its gradient (the
// exponentials are in e).
RowResult finish_row(const Setup& s, const float* x, const float* src, std::int64_t t,
                     const float* y, const internal::RowStats& st, float* g, const float* e,
                     GradJob& job) {
  const std::size_t n = s.C;
  const CrossEntropyOptions& o = *s.o;
  const float zt = s.prob ? 0.0f : src[t];
  const double m = st.max;
  const double Z = st.ties + st.rest;
  const double log_norm = internal::LogNormalizer(st.ties, st.rest);
  double lse = m * s.inv_tau + log_norm;
  if (s.want_lse && o.precision == Precision::kAccurate) {
    // A cancelling lse (logits that are log-probabilities, say) is summed again: the float
    // exponentials' 2^-24 would be many ULPs of it. The loss, a sum of non-negative terms,
    // does not need it.
    lse = internal::RetakeCancellingLse(lse, src, n, o.temperature, true);
  }
  const double eps = o.label_smoothing;
  // Row loss = S * log_norm + sum_j a_j d_j + lambda lse^2, d_j = (m - z_j) / tau >= 0: a sum
  // of non-negative terms, so a confident row's ~1e-8 loss keeps its relative accuracy.
  double S, dsum;
  double at = 0.0, dt = 0.0, et = 0.0;
  if (s.prob) {
    double Sy = 0, Gy = 0;
    bool inf = false;
    if (eps < 1.0) {
      const Gap gy = gap_sums(s, src, y, n, st.max, n);
      Sy = gy.w, Gy = gy.g, inf |= gy.inf;
    }
    Gap ge;
    if (s.s_coef > 0) ge = gap_sums(s, src, nullptr, n, st.max, n);
    inf |= ge.inf && s.s_coef > 0;
    S = (1.0 - eps) * Sy + s.s_coef * ge.w;
    dsum = inf ? kInf : ((1.0 - eps) * Gy + s.s_coef * ge.g) * s.inv_tau;
  } else {
    const std::size_t tt = static_cast<std::size_t>(t);
    at = (1.0 - eps) * weight(s, tt);
    dt = (m - zt) * s.inv_tau;
    et = std::exp(-dt);
    Gap ge;
    if (s.s_coef > 0) ge = gap_sums(s, src, nullptr, n, st.max, s.megatron ? tt : n);
    S = at + s.s_coef * ge.w;
    dsum = (at > 0 ? at * dt : 0.0) + (s.s_coef > 0 ? (ge.inf ? kInf : s.s_coef * ge.g * s.inv_tau) : 0.0);
  }
  const double loss = S * log_norm + dsum + o.z_loss * lse * lse;
  // The gradient's factors scale * (S + 2 lambda lse) / Z overflow a double only at absurd
  // temperatures (tau ~ 1e-300) with a z-loss: there e_j * inf = NaN where e_j underflowed.
  // Such rows (decided whether or not grad is asked for: the same loss either way) are taken
  // by the long double engine (job stays empty).
  if (std::isinf(s.red * s.inv_tau * (std::fabs(S + 2.0 * o.z_loss * lse) + S))) {
    return row_scalar<float>(s, x, t, y, g);
  }
  if (g) {
    const double Sz = S + 2.0 * o.z_loss * lse;
    const double scale = s.red * s.inv_tau;
    job.g = g;
    job.e = e;
    job.y = y;
    job.n = n;
    job.b1 = scale * (1.0 - eps);
    job.b0 = scale * s.s_coef;
    job.stream = s.stream && o.softcap == 0.0;
    const std::size_t chunks = internal::chunk_count(n);
    job.kc.resize(chunks);
    for (std::size_t c = 0; c < chunks; ++c) job.kc[c] = scale * Sz * st.factors[c] / Z;
    job.has_t = !s.prob;
    if (job.has_t) {
      // p_t - 1 = -sum_{j != t} p_j: the rest of the sum when t is the unique max, else Z - e_t
      // (then e_t <= Z - 1, no cancellation).
      const double other = (zt == st.max) ? (st.ties - 1.0) + st.rest : Z - et;
      const double smooth_t = s.megatron ? 0.0 : s.s_coef * weight(s, static_cast<std::size_t>(t));
      job.t = static_cast<std::size_t>(t);
      job.gt = static_cast<float>(scale * (-at * other / Z + (Sz - at) * et / Z - smooth_t));
    }
  }
  return {loss, lse};
}

RowResult row_fused(const Setup& s, const Fused& k, const float* x, std::int64_t t,
                    const float* y, float* g, int threads) {
  const std::size_t n = s.C;
  const CrossEntropyOptions& o = *s.o;
  // A temperature whose reciprocal overflows a double (tau < 2^-1024, subnormal) would make the
  // shifts 0 * inf = NaN; and kAccurate with a soft cap cannot round the capped logits to float
  // (2^-24 |z| in every shift: 20-100 ULP of a confident row's loss). Both rows go to the long
  // double engine.
  if (std::isinf(s.inv_tau) || (o.softcap > 0 && o.precision == Precision::kAccurate)) {
    return row_scalar<float>(s, x, t, y, g);
  }
  const float* src = x;
  if (o.softcap > 0) {
    float* zb = internal::scratch(n);
    for (std::size_t j = 0; j < n; ++j) zb[j] = static_cast<float>(softcapped(s, x[j]));
    src = zb;
  }
  // The exponentials go to a per-thread row buffer (it stays in cache for the gradient pass),
  // not to grad: grad is then written once, streamed when large, and may alias x.
  float* e = g ? internal::scratch(n, 1) : nullptr;
  const internal::RowStats st = internal::row_stats(k.sk, src, n, s.inv_tau, e, threads);
  if (st.status != internal::kChunkOk || st.max == -std::numeric_limits<float>::infinity()) {
    return row_scalar<float>(s, x, t, y, g);
  }
  GradJob job;
  const RowResult res = finish_row(s, x, src, t, y, st, g, e, job);
  if (job.g) {
    const std::size_t chunks = internal::chunk_count(n);
    auto body = [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) grad_chunk(s, k, job, c);
    };
    if (chunks > 1 && threads > 1) {
      internal::parallel_for(chunks, threads, body);
    } else {
      body(0, chunks);
    }
    if (o.softcap > 0) {
      bool finite = true;
      for (std::size_t j = 0; j < n; ++j) {
        finite &= std::isfinite(g[j]);
        g[j] = static_cast<float>(static_cast<double>(g[j]) * static_cast<double>(softcap_slope(s, x[j])));
      }
      // An entry that overflowed float before the slope (a tiny tau, a large z-loss) would give
      // inf * 0 = NaN where the cap saturates: the gradient is taken again in long double. The
      // loss and lse stay the fused row's, so that they do not depend on whether a gradient
      // was asked for.
      if (!finite) row_scalar<float>(s, x, t, y, g);
    }
  }
  return res;
}

// Rows [b, e) of a float batch on one thread, each row's gradient written while the next row's
// statistics run (GradJob). The same kernels on the same data in the same order per row: the
// same bits as row_fused. Needs a gradient, 1 thread per row and no soft cap (its slope pass
// reads the row again after the gradient).
template <class PlainRow, class Store>
void rows_pipelined(const Setup& s, const Fused& k, Rows<const float> xs,
                    std::span<const std::int64_t> target, Rows<const float> ys, Rows<float> gs,
                    std::size_t b, std::size_t e_row, PlainRow&& plain_row, Store&& store) {
  const std::size_t n = s.C;
  const std::size_t chunks = internal::chunk_count(n);
  float* buf = internal::scratch(n, 1);
  GradJob job;
  auto flush_from = [&](std::size_t c0) {
    if (job.g == nullptr) return;
    for (std::size_t c = c0; c < chunks; ++c) grad_chunk(s, k, job, c);
    job.g = nullptr;
  };
  internal::RowStats st;
  st.chunks.resize(chunks);
  for (std::size_t r = b; r < e_row; ++r) {
    const std::int64_t t = s.prob ? -1 : target[r];
    if (!s.prob && t == s.o->ignore_index) {
      flush_from(0);
      store(r, plain_row(r));
      continue;
    }
    const float* x = xs.row(r);
    int status = internal::kChunkOk;
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t off = c * internal::kChunk;
      const std::size_t len = internal::chunk_len(n, c);
      // The statistics kernel writes the previous row's gradient chunk inside its pass
      // (internal::SideGrad, grad_scale's formula): the streamed stores overlap the exps.
      // kAccurate with smoothing (grad_scale in double) keeps the separate pass.
      const bool fast = k.fast;  // the kernels in use (kFast falls back at a tiny tau)
      const bool side = job.g && k.sk.stats_side && s.w == nullptr && job.y == nullptr &&
                        job.stream && (fast || job.b0 == 0.0) && float_factors(job, c);
      if (side) {
        const float k_hi = static_cast<float>(job.kc[c]);
        const internal::SideGrad sg{job.g + off, k_hi, static_cast<float>(job.b0),
                                    static_cast<float>(job.kc[c] - static_cast<double>(k_hi)),
                                    !fast};
        st.chunks[c] = k.sk.stats_side(x + off, len, s.inv_tau, buf + off, sg);
        if (job.has_t && job.t >= off && job.t < off + len) job.g[job.t] = job.gt;
      } else {
        if (job.g) grad_chunk(s, k, job, c);
        st.chunks[c] = k.sk.stats(x + off, len, s.inv_tau, buf + off);
      }
      if (st.chunks[c].status != internal::kChunkOk) {
        status = st.chunks[c].status;
        flush_from(c + 1);
        break;
      }
    }
    job.g = nullptr;
    float* g = gs.row(r);
    const float* y = s.prob ? ys.row(r) : nullptr;
    if (status == internal::kChunkOk) internal::merge_row_stats(st, s.inv_tau);
    if (status != internal::kChunkOk || st.max == -std::numeric_limits<float>::infinity()) {
      store(r, row_scalar<float>(s, x, t, y, g));
      continue;
    }
    store(r, finish_row(s, x, x, t, y, st, g, buf, job));
  }
  flush_from(0);
}

// ---- validation --------------------------------------------------------------------------

Setup make_setup(const CrossEntropyOptions& o, std::size_t C, bool prob) {
  Setup s;
  static_cast<internal::ce::Setup&>(s) = internal::ce::make_setup(o, C, C, 0, prob);
  return s;
}

double reduce(const CrossEntropyOptions& o, const std::vector<double>& row_loss, double den) {
  double sum = 0.0;
  for (double v : row_loss) sum += v;
  if (o.reduction != Reduction::kMean) return sum;
  if (den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return sum / den;
}

double mean_factor(const CrossEntropyOptions& o, double den) {
  if (o.reduction != Reduction::kMean) return 1.0;
  if (den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return 1.0 / den;
}

template <class T>
double run(Rows<const T> x, std::span<const std::int64_t> target, Rows<const T> y, bool prob,
           const CrossEntropyOptions& o, const LossOutputs<T>& out, double den_override = 0.0) {
  internal::check_rows(kFn, "x", x);
  internal::ce::check_options(kFn, o, prob);
  internal::ce::check_classes(kFn, o, x.cols);
  internal::ce::check_weights(kFn, o, x.cols, 0, /*shard=*/false);
  internal::ce::check_outputs(kFn, x, out, o.softcap == 0.0);
  double den = 0.0;
  if (prob) {
    internal::check_rows(kFn, "y", y);
    internal::check_same_shape(kFn, "x", x, "y", y);
    internal::ce::check_prob_targets(kFn, y, 0);
    den = static_cast<double>(x.rows);
  } else {
    internal::ce::check_targets(kFn, target, x.rows, x.cols, o.ignore_index);
    for (std::size_t r = 0; r < x.rows; ++r) {
      const std::int64_t t = target[r];
      if (t != o.ignore_index) den += o.weight.empty() ? 1.0 : o.weight[static_cast<std::size_t>(t)];
    }
  }
  if (den_override > 0.0) den = den_override;
  Setup s = make_setup(o, x.cols, prob);
  s.red = mean_factor(o, den);
  s.want_lse = !out.lse.empty() || o.z_loss > 0.0;
  s.stream = out.grad.data != nullptr && x.rows * x.cols * sizeof(T) >= kStreamBytes;
  std::vector<double> row_loss(x.rows, 0.0);
  if (x.cols == 0) {
    // No classes: only ignored rows or empty probability rows can exist (targets were checked).
    for (std::size_t r = 0; r < x.rows; ++r) {
      if (!out.lse.empty()) out.lse[r] = -std::numeric_limits<T>::infinity();
      if (!out.row_loss.empty()) out.row_loss[r] = 0;
    }
    return reduce(o, row_loss, den);
  }
  Fused k{};
  if constexpr (std::is_same_v<T, float>) {
    // kFast carries 1/tau in float; where it overflows float the accurate kernels take over.
    const bool fast = o.precision == Precision::kFast && internal::float_path(s.inv_tau);
    k.sk = internal::loss_softmax_kernels(fast);
    k.lk = internal::loss_kernels(fast);
    k.lk_double = internal::loss_kernels(false);
    k.fast = fast;
  }
  auto store = [&](std::size_t r, const RowResult& res) {
    row_loss[r] = res.loss;
    if (!out.row_loss.empty()) out.row_loss[r] = static_cast<T>(res.loss);
    if (!out.lse.empty()) out.lse[r] = static_cast<T>(res.lse);
  };
  auto one_row = [&](std::size_t r, int threads) {
    const T* xr = x.row(r);
    T* gr = out.grad.data ? out.grad.row(r) : nullptr;
    const T* yr = prob ? y.row(r) : nullptr;
    const std::int64_t t = prob ? -1 : target[r];
    RowResult res;
    if (!prob && t == o.ignore_index) {
      res.loss = 0.0;
      res.lse = 0.0;
      if (!out.lse.empty()) {
        Setup plain = s;
        plain.s_coef = 0.0;
        plain.w = nullptr;
        plain.red = 0.0;
        plain.prob = false;
        res.lse = row_scalar<T>(plain, xr, 0, static_cast<const T*>(nullptr), nullptr).lse;
      }
      if (gr) std::fill(gr, gr + x.cols, T(0));
    } else if constexpr (std::is_same_v<T, float>) {
      res = row_fused(s, k, xr, t, yr, gr, threads);
    } else {
      res = row_scalar<T>(s, xr, t, yr, gr);
    }
    return res;
  };
  const int threads = internal::threads_for(o.threads, x.rows * x.cols);
  bool pipelined = false;
  if constexpr (std::is_same_v<T, float>) {
    pipelined = out.grad.data != nullptr && o.softcap == 0.0 && !std::isinf(s.inv_tau) &&
                (threads <= 1 || x.rows >= static_cast<std::size_t>(threads));
    if (pipelined) {
      auto range = [&](std::size_t b, std::size_t e) {
        rows_pipelined(s, k, x, target, y, out.grad, b, e,
                       [&](std::size_t r) { return one_row(r, 1); }, store);
      };
      if (threads > 1) {
        internal::parallel_for(x.rows, threads, range);
      } else {
        range(0, x.rows);
      }
    }
  }
  if (!pipelined) {
    internal::for_each_row(x.rows, x.cols, o.threads,
                           [&](std::size_t r, int th) { store(r, one_row(r, th)); });
  }
  return reduce(o, row_loss, den);
}

}  // namespace

namespace internal::ce {

double cross_entropy_rows(Rows<const float> x, std::span<const std::int64_t> target,
                          Rows<const float> y, bool prob, const CrossEntropyOptions& o,
                          const LossOutputs<float>& out, double mean_denominator) {
  return run<float>(x, target, y, prob, o, out, mean_denominator);
}

}  // namespace internal::ce

double cross_entropy(Rows<const float> x, std::span<const std::int64_t> target,
                     const CrossEntropyOptions& options, const LossOutputs<float>& out) {
  return run<float>(x, target, Rows<const float>{nullptr, 0, 0, 0}, false, options, out);
}
double cross_entropy(Rows<const double> x, std::span<const std::int64_t> target,
                     const CrossEntropyOptions& options, const LossOutputs<double>& out) {
  return run<double>(x, target, Rows<const double>{nullptr, 0, 0, 0}, false, options, out);
}
double cross_entropy(Rows<const float> x, Rows<const float> y, const CrossEntropyOptions& options,
                     const LossOutputs<float>& out) {
  return run<float>(x, {}, y, true, options, out);
}
double cross_entropy(Rows<const double> x, Rows<const double> y, const CrossEntropyOptions& options,
                     const LossOutputs<double>& out) {
  return run<double>(x, {}, y, true, options, out);
}

}  // namespace logitkit
