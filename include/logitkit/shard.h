// SPDX-License-Identifier: Apache-2.0
// Vocabulary-sharded building blocks, free of any communication library: each process (or
// device) holds a contiguous shard [N, V_r] of the columns of the logits; it computes per-row
// states of its shard, the states of all shards are merged (by MPI, NCCL, a file, ...), and each
// shard "finishes" its own part of the output from the merged states. The result is the
// single-process call on the whole row, within the accuracy contract of docs/design.md §3
// (not bitwise: the shards' sums are added in a different order). One shard that spans the whole
// row (one process; cross-entropy: shard.offset = 0, x.cols = shard.total_cols) gives the
// single-process call's bits: the softmax family and cross-entropy for every option
// (cross-entropy's finish hands such a shard to the single-process driver, kFast included), the
// distillation except the rows that the single-process call takes in long double (a 16384-entry
// chunk with no mass on one side; tau below about 3.8e-270).
//
// logitkit::mpi (include/logitkit/mpi.h) is these functions plus the merge over the ranks (an
// MPI_MAX of the row maxima, then an MPI_SUM of the states rebased to them).
// Usage, for any transport:
//   std::vector<LseState> st(N);
//   shard::softmax_states(x_shard, st, opt);            // local, one read of x_shard
//   <merge st element-wise over the shards with LseState::merge (shard::merge_states)>
//   shard::softmax_finish(x_shard, st, y_shard, opt);   // local, writes this shard's y
// Only float logits. Precision::kFast is ignored (the accurate arithmetic is used).
#ifndef LOGITKIT_SHARD_H_
#define LOGITKIT_SHARD_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "logitkit/export.h"
#include "logitkit/loss.h"
#include "logitkit/rows.h"
#include "logitkit/sampling.h"
#include "logitkit/softmax.h"

namespace logitkit::shard {

// Where a shard lies in the full row: columns [offset, offset + x.cols) of total_cols.
struct Shard {
  std::size_t offset = 0;
  std::size_t total_cols = 0;
};

// ---------------------------------------------------------------------------------------------
// softmax / log_softmax / logsumexp over shards. The per-row state is an LseState of the shard's
// row at tau = options.temperature, with two extensions for the limits:
//   tau = 0 (or 1/tau overflowing double): ties = #entries at the max, rest = 0;
//   tau = +inf: ties = #entries at the max, rest = #other entries that are not -inf;
// LseState::merge is exact for both (its factor exp((lo - hi)/tau) is 0 and 1 there).
// NaN in the shard's row: max = NaN; +inf: max = +inf, ties = their count; all -inf (or an empty
// shard): the empty state (the identity of merge).
// Preconditions (std::invalid_argument naming the function and argument; nothing written): x a
// valid view; states.size() == x.rows; tau >= 0 and not NaN. options.nan = kThrow throws naming
// the row and the column within the shard of the first NaN.
LOGITKIT_API void softmax_states(Rows<const float> x, std::span<LseState> states,
                                 const SoftmaxOptions& options = {});

// inout[r] = inout[r].merge(in[r]) for every r (sizes must match; std::invalid_argument else),
// where an empty state (max = -inf, ties = rest = 0) of any temperature is the identity, so a
// vector of default-constructed LseState can start the merge.
LOGITKIT_API void merge_states(std::span<LseState> inout, std::span<const LseState> in);

// Given the states merged over every shard (`global`, x.rows entries, tau = options.temperature),
// writes this shard's part of the full row's result, with docs/design.md §2's semantics for the
// whole row: NaN anywhere in the row -> NaN (the whole row, every shard); all -inf -> EmptyRow;
// +inf entries share the mass; tau = 0: ties of the global max share it; tau = +inf: uniform
// over the row's entries that are not -inf. Ordinary rows:
//   softmax:     y_i = exp((x_i - M)/tau) / (ties + rest)
//   log_softmax: y_i = (x_i - M)/tau - log(ties + rest)   (log1p(rest) when ties == 1)
// M = global max. Accuracy: the single-process bounds (2 ULP) plus 2^-52 relative per merge in
// rest. y may be x (in place). Reads x once (softmax: writes y and rescales it in cache).
LOGITKIT_API void softmax_finish(Rows<const float> x, std::span<const LseState> global,
                                 Rows<float> y, const SoftmaxOptions& options = {});
LOGITKIT_API void log_softmax_finish(Rows<const float> x, std::span<const LseState> global,
                                     Rows<float> y, const SoftmaxOptions& options = {});
// out[r] = logsumexp of the whole row r from its merged state: M/tau + log(ties + rest); the
// limits: NaN -> NaN, all -inf -> -inf, +inf -> +inf, tau = 0 -> +inf / -inf / log(ties) for
// M > 0 / < 0 / == 0, tau = +inf -> log(#entries not -inf).
LOGITKIT_API void logsumexp_finish(std::span<const LseState> global, std::span<float> out,
                                   const SoftmaxOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Cross-entropy over shards (loss.h's cross_entropy, every option). With z_j the (soft-capped)
// logits, a_j = w_j q_j the coefficient of -log p_j in the row loss (q: the label-smoothed target
// over the GLOBAL vocabulary, eps/C or eps/(C - 1) with C = shard.total_cols), a shard's state is
struct CrossEntropyState {
  LseState lse;                // of z over the shard at tau (options.temperature)
  double coef = 0.0;           // S = sum_j a_j over the shard
  double gap = 0.0;            // sum_{a_j > 0} a_j (lse.max - z_j); +inf if some a_j > 0 has z_j = -inf
  double target = std::numeric_limits<double>::quiet_NaN();  // z_t if the target is here, else NaN
  double target_weight = 0.0;  // w_t if the (counted) target is here: kMean's denominator term
  // Merge with another shard's state: max/ties/rest as LseState::merge, coef and target_weight
  // added, gap shifted to the new max (gap + coef_>0 * (M - max)), target taken from the shard
  // that has it. Order-independent up to rounding. An empty state of any temperature (a
  // default-constructed one) is the identity.
  LOGITKIT_API CrossEntropyState merge(const CrossEntropyState& other) const;
};
// The row loss from the merged state: S log(ties + rest) + gap / tau + lambda lse^2, a sum of
// non-negative terms (a confident row's 1e-8 loss keeps its accuracy); limits as in loss.h.

// inout[r] = inout[r].merge(in[r]).
LOGITKIT_API void merge_states(std::span<CrossEntropyState> inout,
                               std::span<const CrossEntropyState> in);

// Phase 1: the states of this shard's rows. target: the N GLOBAL class indices (the same on every
// shard); options.weight: THIS shard's class weights (x.cols entries) or empty (on every shard).
// Preconditions (std::invalid_argument naming the function, argument and row, nothing written):
// those of cross_entropy in loss.h with C = shard.total_cols (targets in [0, C) or
// ignore_index), shard.offset + x.cols <= shard.total_cols, states.size() == x.rows.
LOGITKIT_API void cross_entropy_states(Rows<const float> x, std::span<const std::int64_t> target,
                                       const Shard& shard, const CrossEntropyOptions& options,
                                       std::span<CrossEntropyState> states);
// Probability targets: y is this shard's [N, V_r] part of the target distribution.
LOGITKIT_API void cross_entropy_states(Rows<const float> x, Rows<const float> y,
                                       const Shard& shard, const CrossEntropyOptions& options,
                                       std::span<CrossEntropyState> states);

// Phase 2: from the merged states (`global`, x.rows entries) writes this shard's gradient
// (out.grad, [N, V_r]) and, when given, the full row_loss and lse (N entries each, identical on
// every shard), and returns the reduced loss (identical on every shard: it depends only on
// `global`). The same gradient formula as loss.h, the target's entry p_t - 1 = -sum_{j != t} p_j
// from the global sums (no cancellation). grad may alias x in place without softcap.
LOGITKIT_API double cross_entropy_finish(Rows<const float> x, std::span<const std::int64_t> target,
                                         const Shard& shard, const CrossEntropyOptions& options,
                                         std::span<const CrossEntropyState> global,
                                         const LossOutputs<float>& out = {});
LOGITKIT_API double cross_entropy_finish(Rows<const float> x, Rows<const float> y,
                                         const Shard& shard, const CrossEntropyOptions& options,
                                         std::span<const CrossEntropyState> global,
                                         const LossOutputs<float>& out = {});

// The faster form when the gradient is wanted (the MPI layer uses it): the states pass also
// writes this shard's exponentials exp((z_j - shard max)/tau) into grad ([N, V_r], must not alias
// x), and the finish, given the same grad, this shard's own states (`local`, as the states pass
// returned them, before merging) and the merged ones, turns them into the gradient in place
// without a second exp pass: x is read once for the exponentials (twice with smoothing or
// probability targets), grad written once and updated once. Results as above.
LOGITKIT_API void cross_entropy_states(Rows<const float> x, std::span<const std::int64_t> target,
                                       const Shard& shard, const CrossEntropyOptions& options,
                                       std::span<CrossEntropyState> states, Rows<float> grad);
LOGITKIT_API void cross_entropy_states(Rows<const float> x, Rows<const float> y,
                                       const Shard& shard, const CrossEntropyOptions& options,
                                       std::span<CrossEntropyState> states, Rows<float> grad);
// mean_denominator > 0 (kMean only): use it as kMean's denominator instead of the one the rows
// given here imply, so that a batch can be finished in blocks of rows (each call then returns
// its block's sum divided by it; an empty mean is the caller's to report).
LOGITKIT_API double cross_entropy_finish(Rows<const float> x, std::span<const std::int64_t> target,
                                         const Shard& shard, const CrossEntropyOptions& options,
                                         std::span<const CrossEntropyState> local,
                                         std::span<const CrossEntropyState> global,
                                         const LossOutputs<float>& out,
                                         double mean_denominator = 0.0);
LOGITKIT_API double cross_entropy_finish(Rows<const float> x, Rows<const float> y,
                                         const Shard& shard, const CrossEntropyOptions& options,
                                         std::span<const CrossEntropyState> local,
                                         std::span<const CrossEntropyState> global,
                                         const LossOutputs<float>& out,
                                         double mean_denominator = 0.0);

// The argument checks of cross_entropy_states / _finish, for a transport that must find every
// local error before it communicates: with shard.total_cols == 0 the checks that need the global
// vocabulary (target range, kMegatron's C >= 2, shard.offset) are skipped. y.data == nullptr:
// class-index targets (target checked for size). out may be {} (not checked then). Messages
// name `fn` ("logitkit::<fn>: ...").
LOGITKIT_API void cross_entropy_check(Rows<const float> x, std::span<const std::int64_t> target,
                                      Rows<const float> y, const Shard& shard,
                                      const CrossEntropyOptions& options,
                                      const LossOutputs<float>& out = {},
                                      const char* fn = "shard::cross_entropy");

// ---------------------------------------------------------------------------------------------
// Distillation over shards: the forward KL(p || q) with teacher logits (DistillationOptions with
// Divergence::kForwardKL and TeacherInput::kLogits), p = softmax(t / tau), q = softmax(s / tau).
// A shard's state:
struct DistillationState {
  LseState teacher;     // of t over the shard at tau
  LseState student;     // of s over the shard at tau
  double cross = 0.0;   // sum_j exp((t_j - teacher.max)/tau) ((t_j - teacher.max) - (s_j - student.max))/tau
                        // over the entries where t_j > -inf (0 when either max is not finite)
  double masked = 0.0;  // 1 if some entry has t_j > -inf and s_j = -inf (then KL = +inf)
  // Merge: both LseStates merged, cross re-based to the new maxima:
  //   cross' = sum_i exp((mt_i - Mt)/tau) (cross_i + Zt_i ((mt_i - Mt) - (ms_i - Ms))/tau).
  LOGITKIT_API DistillationState merge(const DistillationState& other) const;
  // True when the merged row is a limit (NaN, +inf or all -inf on either side): the finish below
  // does not handle it; the row must be computed whole (logitkit::mpi gathers such rows).
  LOGITKIT_API bool special() const;
};

LOGITKIT_API void merge_states(std::span<DistillationState> inout,
                               std::span<const DistillationState> in);

// Phase 1 (student, teacher: this shard's [N, V_r]; options: temperature only is used).
// std::invalid_argument unless the shapes match, states.size() == N and tau > 0 and finite.
LOGITKIT_API void distillation_states(Rows<const float> student, Rows<const float> teacher,
                                      const DistillationOptions& options,
                                      std::span<DistillationState> states);

// Phase 2 for the rows whose merged state is not special(): row_loss[r] (double, N entries,
// identical on every shard) = factor * max(KL, 0), KL = cross / Zt + log Zs - log Zt (factor =
// tau^2 with tau_squared), and, when grad.data is non-null, this shard's gradient
// grad_scale * factor / tau * (q_j - p_j); lse[r] (float, optional) the student's logsumexp.
// Rows whose state is special() are left unwritten (row_loss, lse and grad).
LOGITKIT_API void distillation_finish(Rows<const float> student, Rows<const float> teacher,
                                      const DistillationOptions& options,
                                      std::span<const DistillationState> global,
                                      std::span<double> row_loss, Rows<float> grad,
                                      double grad_scale, std::span<float> lse = {});

// ---------------------------------------------------------------------------------------------
// Sampling over shards: the sampler's probability weights, bit for bit those sample() uses:
// e_i = exp((x_i - m) * inv_tau) rounded to float (the sampler's float exp: kAccurate with the
// shift carried as a float pair, kFast with it rounded; the double exp for tau outside
// [1e-30, 1e30]), with inv_tau = 0 for tau = +inf (e = 1 on finite entries). m must be the
// row's (global) maximum effective logit, finite, with x_i <= m and no NaN in x (the caller's
// duty: the sampler checks them first); e_i = 0 where x_i = -inf. e.size() == x.size() (else
// std::invalid_argument). Returns the sum of e in double (in 1024-entry blocks, as sample()).
LOGITKIT_API double sampling_weights(std::span<const float> x, float m, double inv_tau,
                                     std::span<float> e,
                                     Precision precision = Precision::kAccurate);

// The rules of SamplingParams' scalar fields (sampling.h), as sample() checks them: an empty
// string when they all hold, else "params.<field> must be <rule>, got <value>" for the first
// broken one (temperature, top_p, min_p, min_tokens_to_keep, the penalties, top_logprobs), for a
// transport that must find every local error before it communicates.
LOGITKIT_API std::string sampling_params_problem(const SamplingParams& params);

}  // namespace logitkit::shard

#endif  // LOGITKIT_SHARD_H_
