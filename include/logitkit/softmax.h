// SPDX-License-Identifier: Apache-2.0
// softmax, log_softmax, logsumexp with temperature, their backward passes, and LseState.
#ifndef LOGITKIT_SOFTMAX_H_
#define LOGITKIT_SOFTMAX_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "logitkit/export.h"
#include "logitkit/rows.h"

namespace logitkit {

// Policy for a row whose entries are all -inf (fully masked).
//   kZeros (default): softmax 0, log_softmax -inf, logsumexp -inf, gradients 0.
//   kNaN (PyTorch-compatible): softmax NaN, log_softmax NaN, logsumexp -inf, gradients NaN.
enum class EmptyRow { kZeros, kNaN };

// Policy for NaN in the input.
//   kPropagate (default): every output of that row is NaN (logsumexp NaN).
//   kThrow: std::invalid_argument naming the first NaN's row and column; nothing is written.
enum class NanPolicy { kPropagate, kThrow };

// kAccurate (default): the shift (x_i - max)/tau is carried in double, exp is evaluated in double,
//   sums in double: every output within 2 ULP of the exact result (docs/accuracy.md).
// kFast: the shift is rounded in float and exp evaluated in float; sums stay in double. Its error
//   grows with |x_i - max|/tau (measured bound in docs/accuracy.md); row sums still within 2.5e-7.
//   Rows of at most 16 entries, and temperatures below 2.9e-39 (1/tau overflows float), take the
//   accurate arithmetic.
enum class Precision { kAccurate, kFast };

struct SoftmaxOptions {
  double temperature = 1.0;  // tau in exp((x_i - max)/tau); 0 = argmax limit, +inf = uniform
  EmptyRow empty_row = EmptyRow::kZeros;
  NanPolicy nan = NanPolicy::kPropagate;
  Precision precision = Precision::kAccurate;
  int threads = 0;  // 0: library default (hardware threads); 1: the calling thread only
};

// ---------------------------------------------------------------------------------------------
// Forward. For every row r of x (n = cols entries) and tau = options.temperature:
//
//   softmax:     y_i = exp((x_i - m)/tau) / sum_j exp((x_j - m)/tau),   m = max_j x_j
//   log_softmax: y_i = (x_i - m)/tau - log(sum_j exp((x_j - m)/tau))
//   logsumexp:   out_r = log(sum_i exp(x_i/tau)) = m/tau + log(sum_j exp((x_j - m)/tau))
//
// so that log_softmax = x/tau - logsumexp. Temperature acts inside the exponent (never x/tau
// rounded first).
// Preconditions (else std::invalid_argument naming the argument, nothing written):
//   x.data and y.data non-null unless the view is empty; row_stride >= cols for each view with
//   more than one row (a single row's stride is never used);
//   y has the shape of x (out.size() == x.rows for logsumexp); tau >= 0 and not NaN.
// Aliasing: y may be exactly x (same data and row_stride): in-place. Partial overlap is undefined.
// Special values, the same on every SIMD target, thread count and batch composition:
//   -inf entries are masked: softmax 0, log_softmax -inf there; the rest is normalised as usual.
//   all -inf rows: see EmptyRow.
//   +inf entries: the limit; the mass is split evenly over the +inf entries (softmax 1/k there,
//     0 elsewhere; log_softmax -log(k) there, -inf elsewhere; logsumexp +inf), at any tau.
//   NaN: see NanPolicy.
//   tau = 0: the exact argmax limit; the mass is split evenly over the tied maxima (softmax 1/c,
//     log_softmax -log(c) there, -inf elsewhere); logsumexp is +inf if m > 0, -inf if m < 0,
//     log(c) if m == 0.
//   tau = +inf: uniform over the entries that are not -inf (softmax 1/k, log_softmax -log(k));
//     logsumexp = log(k).
// Accuracy (kAccurate, f32, finite rows, 0 < tau < inf): every softmax output within 2 ULP of the
//   exact value (outputs below FLT_MIN: absolute error <= FLT_MIN); row sums within 2.5e-7 of 1;
//   log_softmax within 2 ULP, including the winning entry (computed as -log1p(sum_{j != max} e_j));
//   logsumexp within 2 ULP except where m/tau and log(sum) cancel to below ~1e-9 in magnitude
//   (absolute error there <= 4e-16 * max(|m/tau|, 1)). Rows whose logsumexp comes out below
//   2^-8 in magnitude (logits that are log-probabilities, say) are summed again in long double
//   (scalar, those rows only). Measured figures: docs/accuracy.md.
// Memory passes: softmax reads x twice and writes y twice (the second pass rescales y in cache;
//   rows longer than 16384 are processed in 16384-entry chunks whose states are merged);
//   log_softmax reads x twice and writes y once; logsumexp reads x twice.
// Threads: rows are split across threads; a row longer than 2^16 entries is split into chunks
//   across threads. Results are bitwise identical for every thread count.
LOGITKIT_API void softmax(Rows<const float> x, Rows<float> y, const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax(Rows<const float> x, Rows<float> y,
                              const SoftmaxOptions& options = {});
LOGITKIT_API void logsumexp(Rows<const float> x, std::span<float> out,
                            const SoftmaxOptions& options = {});

// The same in double. Accuracy: the shift is rounded in double; measured bounds in
// docs/accuracy.md (a few ULP for |x_i - m|/tau below 1e3). precision is ignored.
LOGITKIT_API void softmax(Rows<const double> x, Rows<double> y, const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax(Rows<const double> x, Rows<double> y,
                              const SoftmaxOptions& options = {});
LOGITKIT_API void logsumexp(Rows<const double> x, std::span<double> out,
                            const SoftmaxOptions& options = {});

// 16-bit inputs, float outputs: each value converts exactly to float, then the f32 contract holds.
LOGITKIT_API void softmax(Rows<const bfloat16> x, Rows<float> y, const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax(Rows<const bfloat16> x, Rows<float> y,
                              const SoftmaxOptions& options = {});
LOGITKIT_API void logsumexp(Rows<const bfloat16> x, std::span<float> out,
                            const SoftmaxOptions& options = {});
LOGITKIT_API void softmax(Rows<const float16> x, Rows<float> y, const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax(Rows<const float16> x, Rows<float> y,
                              const SoftmaxOptions& options = {});
LOGITKIT_API void logsumexp(Rows<const float16> x, std::span<float> out,
                            const SoftmaxOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Backward, given the forward output y and the upstream gradient dy (same shape):
//   softmax_backward:     dx_i = (dy_i - sum_j dy_j * y_j) * y_i / tau
//   log_softmax_backward: dx_i = (dy_i - exp(y_i) * sum_j dy_j) / tau
// (PyTorch's formulas, with the 1/tau of the chain rule through x/tau.) Sums in double.
// tau = 0 or +inf: the gradient of the limit, which is 0 everywhere (the limit is piecewise
// constant in x); any other tau divides (a subnormal tau can give infinite gradients). Rows
// whose y is NaN give NaN; with NanPolicy::kThrow a NaN in y or dy throws
// std::invalid_argument naming the argument, row and column, and nothing is written. Entries with y = 0 (softmax) or y = -inf
// (log_softmax) get dx = 0 even when dy there is +-inf. All -inf rows: dx = 0 (kZeros).
// dx may alias dy. Error: within 2 ULP + 2^-24 * |sum term| * y_i / tau absolute (cancellation in
// dy_i - sum, which is inherent in the formula).
LOGITKIT_API void softmax_backward(Rows<const float> y, Rows<const float> dy, Rows<float> dx,
                                   const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax_backward(Rows<const float> y, Rows<const float> dy, Rows<float> dx,
                                       const SoftmaxOptions& options = {});
LOGITKIT_API void softmax_backward(Rows<const double> y, Rows<const double> dy, Rows<double> dx,
                                   const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax_backward(Rows<const double> y, Rows<const double> dy,
                                       Rows<double> dx, const SoftmaxOptions& options = {});

// ---------------------------------------------------------------------------------------------
// LseState: the mergeable summary of a chunk of a row at temperature tau,
//   max  = max_i x_i                                (-inf for an empty or all -inf chunk)
//   ties = #{i : x_i == max}
//   rest = sum_{x_i < max} exp((x_i - max)/tau)     (in double)
// so that logsumexp = max/tau + log(ties + rest), evaluated as log1p(rest) when ties == 1 so
// that a dominant entry keeps its relative accuracy. The empty state (max = -inf, ties = rest = 0)
// is the identity of merge(), and merge() is associative and commutative up to rounding in
// `rest` (2^-52 relative per merge). Used for streaming, long-row threading and sharding.
// +inf entries: max = +inf, ties = their count, rest = 0. NaN: max = NaN (logsumexp NaN).
// temperature must be > 0 and finite (std::invalid_argument otherwise); merging states of
// different temperatures throws std::invalid_argument.
struct LseState {
  double max = -std::numeric_limits<double>::infinity();
  double ties = 0.0;
  double rest = 0.0;
  double temperature = 1.0;

  // The state of one chunk of a row (one pass over x, accurate shift). For float input, rest is
  // within 1e-10 relative (the f32 kernels' exp; logsumexp to 2 float ULP unless max / tau and
  // log(sum) cancel to below ~1e-3: a state keeps no data to sum again, so there the error is
  // about 1e-10 absolute; logsumexp() on the rows does sum again); for double input it is summed
  // in long double.
  LOGITKIT_API static LseState of(std::span<const float> x, double temperature = 1.0);
  LOGITKIT_API static LseState of(std::span<const double> x, double temperature = 1.0);
  // Combine two chunks' states (order does not matter).
  LOGITKIT_API LseState merge(const LseState& other) const;
  // log(sum_i exp(x_i/tau)) over every chunk merged so far (-inf for the empty state).
  LOGITKIT_API double logsumexp() const;
  // log(ties + rest): the log of the normaliser relative to exp(max/tau).
  LOGITKIT_API double log_normalizer() const;
};

}  // namespace logitkit

#endif  // LOGITKIT_SOFTMAX_H_
