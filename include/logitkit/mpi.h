// SPDX-License-Identifier: Apache-2.0
// Vocabulary-parallel softmax, log_softmax, logsumexp, cross-entropy, distillation and sampling
// over MPI (target logitkit::mpi, library logitkit_mpi; built when CMake finds MPI).
//
// Every rank of `comm` holds a contiguous shard of the vocabulary: columns [offset_r, offset_r +
// V_r) of the [N, C] logits, in rank order (offset_r = V_0 + ... + V_{r-1}, C = sum of V_r).
// Shards may have any size, 0 included. Each function is collective: every rank of comm calls it
// with the same N, the same options and (where given) the same targets, and gets the result of
// the single-process call on the whole vocabulary (loss.h / softmax.h / sampling.h), within the
// accuracy contract of docs/design.md §3 (the shards' sums are merged in a different order, so
// not bitwise): outputs of shape [N, V_r] receive this rank's shard; per-row outputs (lse,
// row_loss) and the returned loss are the full result, identical on every rank.
//
// Communication: one MPI_Allgather of a small descriptor (672 bytes per rank: shapes,
// options, a hash of the targets, any local error), then the per-row states merged by two
// built-in allreduces: MPI_MAX of each row's max (8 bytes per row, 16 for distillation), then
// MPI_SUM of every rank's state rebased to that max (16 bytes per row for the softmax family, 56
// for cross-entropy, 48 for the forward-KL distillation); every rank gets the same bits.
// sample() moves its state and then only the per-shard candidates. See docs/distributed.md.
//
// Errors: every argument problem, on any rank, makes EVERY rank throw std::invalid_argument
// ("logitkit::mpi::<fn>: ...", with "(rank k)" when the problem was found on rank k only), never a
// hang: local checks run first and their verdicts travel in the descriptor; shapes, options and
// targets that differ between ranks are reported by every rank. A rank that dies (crash, abort)
// ends the job through the MPI runtime (mpirun aborts the other ranks); MPI errors use the
// communicator's error handler (MPI_ERRORS_ARE_FATAL by default). MPI must be initialised.
// Thread safety: as the MPI library's thread level allows (calls on one communicator must be
// made in the same order on every rank).
#ifndef LOGITKIT_MPI_H_
#define LOGITKIT_MPI_H_

#include <mpi.h>

#include <cstdint>
#include <span>

#include "logitkit/loss.h"
#include "logitkit/rows.h"
#include "logitkit/sampling.h"
#include "logitkit/softmax.h"

namespace logitkit::mpi {

// softmax / log_softmax / logsumexp of the full rows (softmax.h's contract, every special row and
// tau = 0 / +inf included). x, y: this rank's [N, V_r] shard; logsumexp's out: N entries on
// every rank. NanPolicy::kThrow: every rank throws naming the row and the GLOBAL column of the
// first NaN (lowest row, then lowest column). Precision::kFast is ignored (accurate).
void softmax(MPI_Comm comm, Rows<const float> x, Rows<float> y, const SoftmaxOptions& options = {});
void log_softmax(MPI_Comm comm, Rows<const float> x, Rows<float> y,
                 const SoftmaxOptions& options = {});
void logsumexp(MPI_Comm comm, Rows<const float> x, std::span<float> out,
               const SoftmaxOptions& options = {});

// cross_entropy (loss.h), every option: target holds the N GLOBAL class indices (the same on
// every rank); options.weight is THIS rank's shard of the class weights (V_r entries) or empty on
// every rank; label smoothing is over the global vocabulary C (eps/C or eps/(C - 1)). out.grad:
// this rank's [N, V_r] gradient; out.row_loss, out.lse: N entries. Returns the reduced loss.
double cross_entropy(MPI_Comm comm, Rows<const float> x, std::span<const std::int64_t> target,
                     const CrossEntropyOptions& options = {}, const LossOutputs<float>& out = {});
// Probability targets: y is this rank's [N, V_r] shard of the target distribution.
double cross_entropy(MPI_Comm comm, Rows<const float> x, Rows<const float> y,
                     const CrossEntropyOptions& options = {}, const LossOutputs<float>& out = {});

// distillation_loss (loss.h), every divergence and teacher input: student and teacher are this
// rank's [N, V_r] shards; options.target (when alpha > 0) holds the N global class indices.
// out.grad: this rank's gradient; out.row_loss / out.lse: N entries. The forward KL with teacher
// logits merges DistillationStates (SIMD kernels); the reverse KL, Jensen-Shannon and
// log-probability teachers merge the teacher's and student's LseStates, then add two per-row
// sums by MPI_SUM (16 bytes per row), and run in long double,
// like the single-process scalar path. Rows that are limits (NaN, +inf or all -inf on either
// side) are gathered whole (those rows only) and computed by the single-process call. The
// hard-label term (alpha > 0) is one more mpi::cross_entropy.
double distillation_loss(MPI_Comm comm, Rows<const float> student, Rows<const float> teacher,
                         const DistillationOptions& options = {},
                         const LossOutputs<float>& out = {});

// sample (sampling.h) from one row split over the ranks: logits is this rank's shard; params
// (with GLOBAL token ids in history and logit_bias) are the same on every rank. Every rank returns
// the same SampleResult (global token ids), the token the single-process call gives for the same
// (seed, stream, step). After the descriptor, one allgather of a 48-byte summary per rank (greedy
// ends there), then one allgather of candidate counts and one allgatherv of the candidates that
// can survive the filters (top-k: at most k per rank; top-p: the shard's ranked prefix holding
// mass top_p of the row, plus its top min_tokens_to_keep; min-p: the tokens above the threshold
// plus the same), never the whole row. Temperature alone: the rank holding the drawn mass draws
// inside its shard and broadcasts the token; only top_logprobs candidates are gathered.
SampleResult sample(MPI_Comm comm, std::span<const float> logits, const SamplingParams& params,
                    std::uint64_t stream, std::uint64_t step);

}  // namespace logitkit::mpi

#endif  // LOGITKIT_MPI_H_
