// SPDX-License-Identifier: Apache-2.0
// Distillation loss: forward/reverse KL and Jensen-Shannon between teacher and student at
// temperature tau, with the tau^2 factor, reductions, and an optional hard-label term.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "logitkit/loss.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/loss/distillation_setup.h"
#include "src/loss/loss_internal.h"
#include "src/loss/loss_kernels.h"
#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"

namespace logitkit {
namespace {

using L = long double;
using internal::distill::kInfL;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kFn[] = "distillation_loss";

// log p of a row at temperature tau with the limits of docs/design.md §2: +inf entries share
// the mass, an all -inf row has p = 0 everywhere. *limit is set for those two cases; *nan for NaN.
template <class T>
std::vector<L> log_probs(const T* x, std::size_t n, L inv_tau, bool log_prob_input, bool* limit,
                         bool* nan, L* lse) {
  std::vector<L> lp(n);
  L m = -kInfL;
  std::size_t pinf = 0;
  *nan = false;
  for (std::size_t j = 0; j < n; ++j) {
    if (std::isnan(x[j])) *nan = true;
    m = std::max(m, static_cast<L>(x[j]));
    pinf += x[j] == std::numeric_limits<T>::infinity();
  }
  *limit = pinf > 0 || m == -kInfL;
  if (*nan) return lp;
  if (pinf > 0) {
    for (std::size_t j = 0; j < n; ++j) {
      lp[j] = x[j] == std::numeric_limits<T>::infinity() ? -std::log(static_cast<L>(pinf)) : -kInfL;
    }
    *lse = kInfL;
    return lp;
  }
  if (m == -kInfL) {
    std::fill(lp.begin(), lp.end(), -kInfL);
    *lse = -kInfL;
    return lp;
  }
  const L it = log_prob_input ? 1.0L : inv_tau;
  L ties = 0, rest = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const L d = (static_cast<L>(x[j]) - m) * it;
    if (d == 0) ties += 1;
    else rest += std::exp(d);
  }
  const L log_norm = ties == 1 ? std::log1p(rest) : std::log(ties + rest);
  for (std::size_t j = 0; j < n; ++j) lp[j] = (static_cast<L>(x[j]) - m) * it - log_norm;
  *lse = m * it + log_norm;
  return lp;
}

// sum_j a_j (la_j - lb_j) over a_j > 0 (exp(la) = a), +inf once a term is.
L kl_of(const std::vector<L>& la, const std::vector<L>& lb) {
  L s = 0;
  for (std::size_t j = 0; j < la.size(); ++j) {
    const L term = internal::distill::kl_term(la[j], lb[j]);
    if (term == kInfL) return kInfL;
    s += term;
  }
  return s;
}

struct RowResult {
  double loss, lse;
};

// One row in long double; g receives scale * d row_divergence / d s (scale includes tau^2 and
// the reduction).
template <class T>
RowResult row_scalar(const DistillationOptions& o, const T* s, const T* t, std::size_t n,
                     double scale, T* g) {
  const L inv_tau = internal::inv_tau_long(o.temperature);
  bool s_limit, s_nan, t_limit, t_nan;
  L lse_s, lse_t;
  const std::vector<L> lq = log_probs(s, n, inv_tau, false, &s_limit, &s_nan, &lse_s);
  const std::vector<L> lp =
      log_probs(t, n, inv_tau, o.teacher_input == TeacherInput::kLogProbs, &t_limit, &t_nan, &lse_t);
  const L factor = o.tau_squared ? static_cast<L>(o.temperature) * o.temperature : 1.0L;
  if (s_nan || t_nan) {
    if (g) std::fill(g, g + n, static_cast<T>(kNaN));
    return {kNaN, s_nan ? kNaN : static_cast<double>(lse_s)};
  }
  L div = 0;
  std::vector<L> lm;
  const L beta = o.js_beta;
  switch (o.divergence) {
    case Divergence::kForwardKL: div = kl_of(lp, lq); break;
    case Divergence::kReverseKL: div = kl_of(lq, lp); break;
    case Divergence::kJensenShannon: {
      lm.resize(n);
      const L lb = std::log(beta), l1b = std::log1p(-beta);
      for (std::size_t j = 0; j < n; ++j) lm[j] = internal::distill::log_mixture(lp[j], lq[j], lb, l1b);
      div = beta * kl_of(lp, lm) + (1 - beta) * kl_of(lq, lm);
      break;
    }
  }
  if (g) {
    const L c = static_cast<L>(scale) * factor * inv_tau;
    if (s_limit) {
      std::fill(g, g + n, T(0));
    } else if (o.divergence == Divergence::kForwardKL) {
      for (std::size_t j = 0; j < n; ++j) g[j] = static_cast<T>(c * (std::exp(lq[j]) - std::exp(lp[j])));
    } else {
      // d D / d s_j = (1/tau) q_j (h_j - sum_k q_k h_k), h = log(q/p) (reverse KL) or
      // (1 - beta) log(q/M) (JS).
      const std::vector<L>& other = o.divergence == Divergence::kReverseKL ? lp : lm;
      const L w = o.divergence == Divergence::kReverseKL ? 1.0L : 1 - beta;
      const L mean_h = kl_of(lq, other);
      for (std::size_t j = 0; j < n; ++j) {
        g[j] = static_cast<T>(internal::distill::divergence_grad(c, w, lq[j], other[j], mean_h));
      }
    }
  }
  return {static_cast<double>(factor * div), static_cast<double>(lse_s)};
}

struct Fused {
  internal::SoftmaxKernels sk;
  internal::LossKernels lk;
};

// Gradients at least this large are written with non-temporal stores (see cross_entropy.cc).
constexpr std::size_t kStreamBytes = std::size_t{16} << 20;

// A chunk's statistics of both rows and the cross sum of the divergence (dual_stats).
struct Chunk {
  internal::ChunkStats ts, ss;
  double cross;
  bool masked, usable;
};

// The statistics pass of a fused row: one dual_stats per 16384-entry chunk (threads over the
// chunks), the exponentials written to et, es (each nullable) relative to the chunk maxima.
std::vector<Chunk> chunk_pass(const Fused& k, Divergence dv, const float* s, const float* t,
                              std::size_t n, double itt, double its, float* et, float* es,
                              int threads) {
  const std::size_t chunks = internal::chunk_count(n);
  std::vector<Chunk> ch(chunks);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  auto stats_body = [&](std::size_t cb, std::size_t ce) {
    for (std::size_t c = cb; c < ce; ++c) {
      const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
      Chunk& r = ch[c];
      const internal::DualStats ds = k.lk.dual_stats(t + off, s + off, len, itt, its,
                                                     et ? et + off : nullptr,
                                                     es ? es + off : nullptr);
      r.ts = ds.t;
      r.ss = ds.s;
      r.usable = r.ts.status == internal::kChunkOk && r.ss.status == internal::kChunkOk &&
                 r.ts.max != kNegInf && r.ss.max != kNegInf;
      r.cross = dv == Divergence::kReverseKL ? ds.cross_s : ds.cross_t;
      r.masked = dv == Divergence::kReverseKL ? ds.teacher_masked : ds.student_masked;
    }
  };
  if (chunks > 1 && threads > 1) internal::parallel_for(chunks, threads, stats_body);
  else stats_body(0, chunks);
  return ch;
}

// One row in float on the SIMD kernels, every divergence and teacher input. Two exponentials
// per entry: one pass per 16384-entry chunk over both rows (dual_stats) takes both sides'
// statistics and the forward / reverse KL cross sums, and writes the exponentials (relative to
// the chunk maxima) to per-thread row buffers, which the gradient pass reuses (Jensen-Shannon:
// one more pass for its sums, with one log per entry). Rows with NaN, +inf, a chunk with no finite entry on either side
// or (reverse KL) a teacher -inf where the student has mass go to row_scalar.
RowResult row_fused(const DistillationOptions& o, const Fused& k, const float* s, const float* t,
                    std::size_t n, double scale, float* g, int threads, bool stream) {
  const double its = internal::decode_temperature(o.temperature).inv_tau;
  // Below tau ~ 3.8e-270 a shift (x - max) / tau, up to 2 FLT_MAX / tau, can overflow a double
  // (and 1/tau itself below 2^-1024), making the KL sums 0 * inf = NaN: such rows go to the
  // long double path.
  constexpr double kMaxInvTau = std::numeric_limits<double>::max() /
                                (2.0 * std::numeric_limits<float>::max());
  if (!(its <= kMaxInvTau)) return row_scalar<float>(o, s, t, n, scale, g);
  const double itt = o.teacher_input == TeacherInput::kLogProbs ? 1.0 : its;
  const Divergence dv = o.divergence;
  const std::size_t chunks = internal::chunk_count(n);
  const bool need_et = dv != Divergence::kReverseKL;
  const bool need_es = g != nullptr || dv != Divergence::kForwardKL;
  float* et = need_et ? internal::scratch(n, 0) : nullptr;
  float* es = need_es ? internal::scratch(n, 1) : nullptr;
  const std::vector<Chunk> ch = chunk_pass(k, dv, s, t, n, itt, its, et, es, threads);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float mt = kNegInf, ms = kNegInf;
  bool masked = false;
  for (const Chunk& c : ch) {
    if (!c.usable) return row_scalar<float>(o, s, t, n, scale, g);
    mt = std::max(mt, c.ts.max);
    ms = std::max(ms, c.ss.max);
    masked |= c.masked;
  }
  if (masked && dv == Divergence::kReverseKL) return row_scalar<float>(o, s, t, n, scale, g);
  // Merge the chunks (the order is fixed: the same bits for every thread count).
  std::vector<double> ft(chunks), fs(chunks);
  double tt = 0, tr = 0, st = 0, sr = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    internal::distill::merge_chunk(ch[c].ts, mt, itt, &ft[c], &tt, &tr);
    internal::distill::merge_chunk(ch[c].ss, ms, its, &fs[c], &st, &sr);
  }
  const double zt = tt + tr, zs = st + sr;
  const double lt = internal::LogNormalizer(tt, tr), ls = internal::LogNormalizer(st, sr);
  const double factor = o.tau_squared ? o.temperature * o.temperature : 1.0;
  // Chunk sums are relative to the chunk maxima: shift them to the row maxima.
  auto row_cross = [&](bool forward) {
    double cross = 0.0;
    for (std::size_t c = 0; c < chunks; ++c) {
      const double dt = (static_cast<double>(ch[c].ts.max) - mt) * itt;
      const double ds = (static_cast<double>(ch[c].ss.max) - ms) * its;
      const internal::ChunkStats& w = forward ? ch[c].ts : ch[c].ss;
      const double f = forward ? ft[c] : fs[c];
      cross += f * (ch[c].cross + (w.ties + w.rest) * (forward ? dt - ds : ds - dt));
    }
    return cross;
  };
  const double c_grad = scale * factor * its;
  double div = 0.0;
  internal::JsParams jp{ms, mt, its, itt, ls, lt, o.js_beta, 0.0, 0.0};
  double kq = 0.0;
  if (dv == Divergence::kForwardKL) {
    // KL(p || q) = sum_j p_j ((t_j - mt) itt - (s_j - ms) its) + log Zs - log Zt.
    div = masked ? std::numeric_limits<double>::infinity() : row_cross(true) / zt + (ls - lt);
  } else if (dv == Divergence::kReverseKL) {
    kq = row_cross(false) / zs;  // = KL(q || p) + ls - lt: the gradient's centring term
    div = kq + (lt - ls);
  } else {
    std::vector<double> sums(2 * chunks);
    auto js_body = [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        const std::size_t off = c * internal::kChunk;
        internal::JsParams p = jp;
        p.qa = fs[c] / zs;
        p.pa = ft[c] / zt;
        k.lk.js_sums(es + off, et + off, s + off, t + off, internal::chunk_len(n, c), p,
                     &sums[2 * c]);
      }
    };
    if (chunks > 1 && threads > 1) internal::parallel_for(chunks, threads, js_body);
    else js_body(0, chunks);
    double sp = 0, sq = 0;
    for (std::size_t c = 0; c < chunks; ++c) {
      sp += sums[2 * c];
      sq += sums[2 * c + 1];
    }
    kq = sq;
    div = o.js_beta * sp + (1.0 - o.js_beta) * sq;
  }
  // NaN rows never reach this point, so a NaN here is an internal 0 * inf: kFast's float shift
  // (x - max) / tau overflowing to -inf where its exponential is 0 (logits near +-FLT_MAX at a
  // small tau). The long double path takes the row again, before anything is written.
  if (std::isnan(div)) return row_scalar<float>(o, s, t, n, scale, g);
  if (g) {
    auto grad_body = [&](std::size_t cb, std::size_t ce) {
      for (std::size_t c = cb; c < ce; ++c) {
        const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
        switch (dv) {
          case Divergence::kForwardKL:
            k.lk.kl_grad(es + off, et + off, len, c_grad * fs[c] / zs, c_grad * ft[c] / zt,
                         g + off, stream);
            break;
          case Divergence::kReverseKL:
            k.lk.rkl_grad(es + off, s + off, t + off, len, ms, mt, its, itt, c_grad * fs[c] / zs,
                          kq, g + off, stream);
            break;
          case Divergence::kJensenShannon: {
            internal::JsParams p = jp;
            p.qa = fs[c] / zs;
            p.pa = ft[c] / zt;
            k.lk.js_grad(es + off, et + off, s + off, len, p, c_grad * (1.0 - o.js_beta), kq,
                         g + off, stream);
            break;
          }
        }
      }
    };
    if (chunks > 1 && threads > 1) internal::parallel_for(chunks, threads, grad_body);
    else grad_body(0, chunks);
  }
  return {factor * std::max(div, 0.0), ms * its + ls};
}

template <class T>
double run(Rows<const T> s, Rows<const T> t, const DistillationOptions& o,
           const LossOutputs<T>& out) {
  internal::distill::check_arguments(kFn, s, t, o, out);
  internal::distill::check_targets(kFn, o, s.cols);
  CrossEntropyOptions ce;
  if (o.alpha > 0) {
    ce.ignore_index = o.ignore_index;
    ce.precision = o.precision;
    ce.threads = o.threads;
  }
  const std::size_t n = s.rows, c = s.cols;
  const double scale = internal::distill::reduction_scale(o, n, c);
  std::vector<double> row_loss(n, 0.0);
  Fused k{};
  const bool stream = out.grad.data != nullptr && n * c * sizeof(T) >= kStreamBytes;
  if constexpr (std::is_same_v<T, float>) {
    // kFast carries 1/tau in float; where it overflows float the accurate kernels take over.
    const bool fast = o.precision == Precision::kFast &&
                      internal::float_path(internal::decode_temperature(o.temperature).inv_tau);
    k.sk = internal::softmax_kernels(fast);
    k.lk = internal::loss_kernels(fast, o.divergence == Divergence::kForwardKL);
  }
  if (c == 0) {
    // No classes: each divergence is an empty sum (0) and the student's lse that of an empty
    // row (-inf), as cross_entropy reports them; the outputs are written all the same.
    for (std::size_t r = 0; r < n; ++r) {
      if (!out.row_loss.empty()) out.row_loss[r] = 0;
      if (!out.lse.empty()) out.lse[r] = -std::numeric_limits<T>::infinity();
    }
  } else {
    const int threads = internal::threads_for(o.threads, n * c * 3);
    auto row_fn = [&](std::size_t r, int inner) {
      T* gr = out.grad.data ? out.grad.row(r) : nullptr;
      RowResult res;
      if constexpr (std::is_same_v<T, float>) {
        res = row_fused(o, k, s.row(r), t.row(r), c, scale, gr, inner, stream);
        if (!out.lse.empty()) {
          // A cancelling student lse is summed again (forward KL's exponentials are floats).
          res.lse = internal::RetakeCancellingLse(
              res.lse, s.row(r), c, o.temperature,
              o.precision == Precision::kAccurate && o.divergence == Divergence::kForwardKL);
        }
      } else {
        res = row_scalar<T>(o, s.row(r), t.row(r), c, scale, gr);
      }
      row_loss[r] = res.loss;
      if (!out.row_loss.empty()) out.row_loss[r] = static_cast<T>(res.loss);
      if (!out.lse.empty()) out.lse[r] = static_cast<T>(res.lse);
    };
    if (threads > 1 && n >= static_cast<std::size_t>(threads)) {
      internal::parallel_for(n, threads, [&](std::size_t b, std::size_t e) {
        for (std::size_t r = b; r < e; ++r) row_fn(r, 1);
      });
    } else {
      for (std::size_t r = 0; r < n; ++r) row_fn(r, threads);
    }
  }
  double sum = 0.0;
  for (double v : row_loss) sum += v;
  double loss = o.reduction == Reduction::kNone || o.reduction == Reduction::kSum ? sum : sum * scale;
  if (o.alpha > 0) {
    // The hard-label term: its gradient is added to grad (an extra pass over the rows).
    std::vector<T> ce_grad;
    LossOutputs<T> ce_out;
    if (out.grad.data) {
      ce_grad.resize(n * c);
      ce_out.grad = Rows<T>{ce_grad.data(), n, c, c};
    }
    loss += o.alpha * cross_entropy(s, o.target, ce, ce_out);
    if (out.grad.data) {
      for (std::size_t r = 0; r < n; ++r) {
        T* gr = out.grad.row(r);
        for (std::size_t j = 0; j < c; ++j) {
          gr[j] = static_cast<T>(gr[j] + o.alpha * static_cast<double>(ce_grad[r * c + j]));
        }
      }
    }
  }
  return loss;
}

}  // namespace

double distillation_loss(Rows<const float> student, Rows<const float> teacher,
                         const DistillationOptions& options, const LossOutputs<float>& out) {
  return run<float>(student, teacher, options, out);
}
double distillation_loss(Rows<const double> student, Rows<const double> teacher,
                         const DistillationOptions& options, const LossOutputs<double>& out) {
  return run<double>(student, teacher, options, out);
}

}  // namespace logitkit
