// SPDX-License-Identifier: Apache-2.0
// Cross-entropy's options and per-call setup, one definition for the whole-row driver
// (cross_entropy.cc), the vocabulary-shard functions (cross_entropy_shard.cc) and, through
// shard.h, logitkit::mpi: the option checks and their messages, the label-smoothed coefficient
// a_j = w_j q_j of -log p_j, the class weights and the soft cap z = c tanh(x / c) with its slope.
#ifndef LOGITKIT_SRC_LOSS_CROSS_ENTROPY_SETUP_H_
#define LOGITKIT_SRC_LOSS_CROSS_ENTROPY_SETUP_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "logitkit/loss.h"
#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"

namespace logitkit::internal::ce {

using L = long double;

// What every row of a call shares. The columns at hand are the whole row (n = C, offset 0) or a
// shard of it (n of the C columns, from `offset`).
struct Setup {
  const CrossEntropyOptions* o = nullptr;
  std::size_t C = 0;       // classes of the whole vocabulary (the smoothing's denominator)
  std::size_t n = 0;       // columns at hand
  std::size_t offset = 0;  // global index of the first column at hand
  double inv_tau = 1.0;
  double s_coef = 0.0;     // smoothing mass per class: eps/C (kPyTorch) or eps/(C-1) (kMegatron)
  bool megatron = false;   // the smoothing mass skips the target
  const double* w = nullptr;  // the class weights of the columns at hand, or null
  bool prob = false;          // probability targets
};

inline Setup make_setup(const CrossEntropyOptions& o, std::size_t C, std::size_t n,
                        std::size_t offset, bool prob) {
  Setup s;
  s.o = &o;
  s.C = C;
  s.n = n;
  s.offset = offset;
  s.inv_tau = decode_temperature(o.temperature).inv_tau;
  s.megatron = !prob && o.smoothing == LabelSmoothing::kMegatron;
  s.s_coef = o.label_smoothing == 0.0
                 ? 0.0
                 : o.label_smoothing / static_cast<double>(s.megatron ? C - 1 : C);
  s.w = o.weight.empty() ? nullptr : o.weight.data();
  s.prob = prob;
  return s;
}

inline double weight(const Setup& s, std::size_t j) { return s.w ? s.w[j] : 1.0; }

// The coefficient w_j q_j of -log p_j in the row loss, j a column at hand; t: the target's
// column at hand, or negative when it is elsewhere (probability targets: y, the columns' targets).
template <class T>
double coef(const Setup& s, std::int64_t t, const T* y, std::size_t j) {
  const double eps = s.o->label_smoothing;
  if (s.prob) return weight(s, j) * ((1.0 - eps) * static_cast<double>(y[j]) + s.s_coef);
  const bool is_t = static_cast<std::int64_t>(j) == t;
  double c = (s.megatron && is_t) ? 0.0 : s.s_coef;
  if (is_t) c += 1.0 - eps;
  return weight(s, j) * c;
}

// The soft cap z = c tanh(x / c) (c = 0: off; -inf stays -inf). The tanh is taken in double
// (about 11 ns, against 51 for long double's): its ~2^-52 relative error moves z by about
// 2^-51 |z|, far below a float ULP of any result, and within the double overload's 1e-13 of
// PyTorch.
template <class T>
L softcapped(double c, T x) {
  if (c == 0.0 || x == -std::numeric_limits<T>::infinity()) return static_cast<L>(x);
  return static_cast<L>(c * std::tanh(static_cast<double>(x) / c));
}

// d z / d x of the soft cap at x: 1 - tanh^2 = 1 / cosh^2, without cancellation where the cap
// saturates (relative error ~2^-51; 0 once cosh overflows, |x / c| > 710, where the exact slope
// is below 1e-600).
template <class T>
L softcap_slope(double c, T x) {
  if (c == 0.0) return 1.0L;
  if (std::isinf(x)) return 0.0L;
  const double ch = std::cosh(static_cast<double>(x) / c);
  return static_cast<L>(1.0 / (ch * ch));
}

// The checks of the scalar options (every path; fn names the caller in messages).
inline void check_options(const char* fn, const CrossEntropyOptions& o, bool prob) {
  if (o.reduction == Reduction::kBatchMean) {
    fail(fn, "reduction kBatchMean is for distillation_loss; use kMean, kSum or kNone");
  }
  check_temperature(fn, o.temperature, TauRange::kPositive);
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
}

// kMegatron spreads the smoothing mass over the C - 1 other classes.
inline void check_classes(const char* fn, const CrossEntropyOptions& o, std::size_t C) {
  if (o.smoothing == LabelSmoothing::kMegatron && o.label_smoothing > 0 && C < 2) {
    fail(fn, "label_smoothing kMegatron needs at least 2 classes");
  }
}

// The class weights of the n columns at hand (from global column `offset`); `shard` words the
// size message for a shard's weights.
inline void check_weights(const char* fn, const CrossEntropyOptions& o, std::size_t n,
                          std::size_t offset, bool shard) {
  if (o.weight.empty()) return;
  if (o.weight.size() != n) {
    fail(fn, "weight has " + std::to_string(o.weight.size()) +
                 (shard ? " entries but this shard of x has " : " entries but x has ") +
                 std::to_string(n) +
                 (shard ? " columns (pass the shard's class weights)" : " columns"));
  }
  for (std::size_t j = 0; j < n; ++j) {
    if (!(o.weight[j] >= 0.0) || std::isinf(o.weight[j])) {
      fail(fn, "weight[" + std::to_string(j + offset) + "] must be finite and >= 0, got " +
                   std::to_string(o.weight[j]));
    }
  }
}

// Probability targets: every entry finite and >= 0 (columns named globally from `offset`).
template <class T>
void check_prob_targets(const char* fn, Rows<const T> y, std::size_t offset) {
  if (y.cols == 0) return;  // an empty shard's y may be null
  for (std::size_t r = 0; r < y.rows; ++r) {
    for (std::size_t j = 0; j < y.cols; ++j) {
      const T v = y.row(r)[j];
      if (!(v >= 0) || std::isinf(v)) {
        fail(fn, "y at row " + std::to_string(r) + ", column " + std::to_string(j + offset) +
                     " must be finite and >= 0, got " + std::to_string(v));
      }
    }
  }
}

// Class indices: rows entries, each in [0, C) or ignore_index.
inline void check_targets(const char* fn, std::span<const std::int64_t> target, std::size_t rows,
                          std::size_t C, std::int64_t ignore_index) {
  if (target.size() != rows) {
    fail(fn, "target has " + std::to_string(target.size()) + " entries but x has " +
                 std::to_string(rows) + " rows");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const std::int64_t t = target[r];
    if (t == ignore_index) continue;
    if (t < 0 || static_cast<std::size_t>(t) >= C) {
      fail(fn, "target at row " + std::to_string(r) + " is " + std::to_string(t) +
                   ", outside [0, " + std::to_string(C) + ") and not ignore_index (" +
                   std::to_string(ignore_index) + ")");
    }
  }
}

// The outputs: grad x's shape (aliasing x only in place, when allowed), row_loss and lse one
// entry per row.
template <class T>
void check_outputs(const char* fn, Rows<const T> x, const LossOutputs<T>& out,
                   bool allow_in_place) {
  if (out.grad.data) {
    check_rows(fn, "grad", out.grad);
    check_same_shape(fn, "x", x, "grad", out.grad);
    if (static_cast<const void*>(out.grad.data) == static_cast<const void*>(x.data) &&
        (!allow_in_place || out.grad.row_stride != x.row_stride)) {
      fail(fn, "grad may alias x only in place (same row_stride) and without softcap");
    }
  }
  check_per_row(fn, "row_loss", out.row_loss.size(), "x", x.rows);
  check_per_row(fn, "lse", out.lse.size(), "x", x.rows);
}

// The whole-row driver (cross_entropy.cc) for float logits; mean_denominator > 0 replaces kMean's
// denominator (the shard finish of a row block). A shard that spans the whole row is finished
// by it, so that it gives the whole-row call's bits.
double cross_entropy_rows(Rows<const float> x, std::span<const std::int64_t> target,
                          Rows<const float> y, bool prob, const CrossEntropyOptions& o,
                          const LossOutputs<float>& out, double mean_denominator);

// The shard finish from merged states (class-index targets, no stored exponentials) without the
// whole-row shortcut: the linear cross-entropy's vocabulary blocks, whose results follow this
// arithmetic whatever the block size.
double shard_finish(Rows<const float> x, std::span<const std::int64_t> target,
                    const shard::Shard& sh, const CrossEntropyOptions& o,
                    std::span<const shard::CrossEntropyState> global,
                    const LossOutputs<float>& out);

}  // namespace logitkit::internal::ce

#endif  // LOGITKIT_SRC_LOSS_CROSS_ENTROPY_SETUP_H_
