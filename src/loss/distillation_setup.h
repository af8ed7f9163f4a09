// SPDX-License-Identifier: Apache-2.0
// Distillation's options and scalar divergence terms, one definition for the whole-row driver
// (distillation.cc), the vocabulary-shard functions (distillation_shard.cc) and logitkit::mpi:
// the argument checks and their messages, the reduction's scale, and the long double per-entry
// terms of the forward / reverse KL and Jensen-Shannon divergences and their gradients.
#ifndef LOGITKIT_SRC_LOSS_DISTILLATION_SETUP_H_
#define LOGITKIT_SRC_LOSS_DISTILLATION_SETUP_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "logitkit/loss.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit::internal::distill {

using L = long double;
inline constexpr L kInfL = std::numeric_limits<L>::infinity();

// student, teacher, the scalar options and the outputs (every path; fn names the caller).
template <class T>
void check_arguments(const char* fn, Rows<const T> s, Rows<const T> t, const DistillationOptions& o,
                     const LossOutputs<T>& out) {
  check_rows(fn, "student", s);
  check_rows(fn, "teacher", t);
  check_same_shape(fn, "student", s, "teacher", t);
  check_temperature(fn, o.temperature, TauRange::kPositive);
  if (o.divergence == Divergence::kJensenShannon && !(o.js_beta > 0.0 && o.js_beta < 1.0)) {
    fail(fn, "js_beta must be in (0, 1), got " + std::to_string(o.js_beta));
  }
  if (!(o.alpha >= 0.0) || std::isinf(o.alpha)) {
    fail(fn, "alpha must be >= 0 and finite, got " + std::to_string(o.alpha));
  }
  if (out.grad.data) {
    check_rows(fn, "grad", out.grad);
    check_same_shape(fn, "student", s, "grad", out.grad);
  }
  check_per_row(fn, "row_loss", out.row_loss.size(), "student", s.rows);
  check_per_row(fn, "lse", out.lse.size(), "student", s.rows);
  if (o.alpha > 0 && o.target.size() != s.rows) {
    fail(fn, "target has " + std::to_string(o.target.size()) + " entries but student has " +
                 std::to_string(s.rows) + " rows");
  }
}

// The hard-label term's targets (alpha > 0): each in [0, C) or ignore_index.
inline void check_targets(const char* fn, const DistillationOptions& o, std::size_t C) {
  if (!(o.alpha > 0)) return;
  for (std::size_t r = 0; r < o.target.size(); ++r) {
    const std::int64_t v = o.target[r];
    if (v != o.ignore_index && (v < 0 || static_cast<std::size_t>(v) >= C)) {
      fail(fn, "target at row " + std::to_string(r) + " is " + std::to_string(v) +
                   ", outside [0, " + std::to_string(C) + ") and not ignore_index");
    }
  }
}

// The gradient's factor of the reduction over n rows of C classes (NaN for an empty mean).
inline double reduction_scale(const DistillationOptions& o, std::size_t n, std::size_t C) {
  double den = 1.0;
  switch (o.reduction) {
    case Reduction::kBatchMean: den = static_cast<double>(n); break;
    case Reduction::kMean: den = static_cast<double>(n) * static_cast<double>(C); break;
    default: break;
  }
  return den == 0.0 ? std::numeric_limits<double>::quiet_NaN() : 1.0 / den;
}

// Adds chunk statistics c (relative to the chunk's max) to a row's ties and rest relative to the
// row's max m, in the chunks' order; *f receives the chunk's factor exp((c.max - m) * inv_tau).
inline void merge_chunk(const ChunkStats& c, float m, double inv_tau, double* f, double* ties,
                        double* rest) {
  *f = c.max == m ? 1.0 : std::exp((static_cast<double>(c.max) - m) * inv_tau);
  if (*f == 1.0) {
    *ties += c.ties;
    *rest += c.rest;
  } else {
    *rest += (c.ties + c.rest) * *f;
  }
}

// One entry of sum_j a_j (la_j - lb_j) over a_j > 0, a = exp(la): 0 where la = -inf; +inf where
// lb = -inf (a_j > 0 wherever la_j > -inf, even when exp(la_j) underflows, below about -11400:
// such a term is +inf against b_j = 0, and 0 * (la_j - lb_j) otherwise, not 0 * inf = NaN).
inline L kl_term(L la, L lb) {
  if (la == -kInfL) return 0.0L;
  if (lb == -kInfL) return kInfL;
  return std::exp(la) * (la - lb);
}

// log M_j = log(beta p_j + (1 - beta) q_j), summed in the log domain (M_j > 0 wherever p_j or q_j
// is, also when both exponentials underflow at a tiny tau); log_beta = log(beta),
// log_1m_beta = log1p(-beta).
inline L log_mixture(L lp, L lq, L log_beta, L log_1m_beta) {
  const L a = lp == -kInfL ? -kInfL : log_beta + lp;
  const L b = lq == -kInfL ? -kInfL : log_1m_beta + lq;
  const L hi = std::max(a, b), lo = std::min(a, b);
  return hi == -kInfL ? -kInfL : hi + std::log1p(std::exp(lo - hi));
}

// d D / d s_j for the reverse KL and Jensen-Shannon: c w q_j (h_j - mean_h), h_j = lq_j - lo_j
// (lo = log p for the reverse KL, log M for JS; w = 1 or 1 - beta), mean_h = sum_k q_k h_k;
// 0 where q_j = 0.
inline L divergence_grad(L c, L w, L lq, L lo, L mean_h) {
  const L q = std::exp(lq);
  return q == 0 ? 0.0L : c * w * q * ((lq - lo) - mean_h);
}

}  // namespace logitkit::internal::distill

#endif  // LOGITKIT_SRC_LOSS_DISTILLATION_SETUP_H_
