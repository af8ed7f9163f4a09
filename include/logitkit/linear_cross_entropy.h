// SPDX-License-Identifier: Apache-2.0
// Cross-entropy fused with the output layer (linear + cross-entropy): the loss and the gradients
// with respect to the hidden states and the weight, without ever holding the [N, V] logits.
#ifndef LOGITKIT_LINEAR_CROSS_ENTROPY_H_
#define LOGITKIT_LINEAR_CROSS_ENTROPY_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "logitkit/export.h"
#include "logitkit/loss.h"
#include "logitkit/rows.h"

namespace logitkit {

struct LinearCrossEntropyOptions {
  // Every cross-entropy option (reduction, ignore_index, class weights, label smoothing of both
  // kinds, z-loss, soft-capping, temperature, empty_mean, precision, threads), with the meaning
  // they have in cross_entropy(). ce.threads sets the threads of the cross-entropy pass and of
  // the bf16 conversions; the matrix products use the BLAS's own threads (OPENBLAS_NUM_THREADS).
  CrossEntropyOptions ce{};
  // Rows of logits held at a time (the row chunk n). 0: automatic, n = clamp(2^24 / c, 256,
  // 4096) rows with c = V in the row mode and c = chunk_vocab in the vocabulary mode (about
  // 64 MiB of logits, but at least 256 rows, below which the products slow down; row mode at
  // V = 128256: 256 rows, 125 MiB; vocabulary mode with chunk_vocab = 8192: 2048 rows, 64 MiB).
  // Results depend on n (the weight gradient is summed chunk by chunk), never on the thread
  // count.
  std::size_t chunk_rows = 0;
  // Vocabulary columns of logits held at a time (the vocabulary chunk cv). 0 (or >= V): the
  // row mode, n x V logits at a time, three products. 1 <= cv < V: the vocabulary mode, n x cv
  // logits at a time, two passes over the vocabulary per row chunk with the per-row states
  // merged in between (shard.h), so about 4/3 of the row mode's products. No automatic value:
  // the vocabulary mode is for a V so large that n x V logits do not fit (docs/fused_linear.md).
  std::size_t chunk_vocab = 0;
  // false: grad_weight is overwritten; true: the weight gradient is added to what grad_weight
  // holds (gradient accumulation across micro-batches, in f32).
  bool accumulate_grad_weight = false;
  // Use the library's own simple matrix product (double accumulation, threaded over output rows;
  // slow) even when the library is built with a BLAS. Without a BLAS it is always used.
  bool own_matmul = false;
};

// Outputs; every field is optional (null data / empty span: not computed, and the matrix product
// that only it needs is skipped). Gradients are f32 whatever the input type.
struct LinearCrossEntropyOutputs {
  Rows<float> grad_hidden{nullptr, 0, 0, 0};  // d loss / d hidden, [N, D]
  Rows<float> grad_weight{nullptr, 0, 0, 0};  // d loss / d weight, [V, D] (accumulated in f32)
  std::span<float> row_loss{};                // per-row loss before reduction (N entries)
  std::span<float> lse{};                     // per-row logsumexp of the (capped) logits at tau
};

// ---------------------------------------------------------------------------------------------
// linear_cross_entropy(hidden, weight, target): with hidden H ([N, D]), the output layer's weight
// W ([V, D], one row per vocabulary entry, no bias) and class-index targets t ([N]):
//   x = H W^T  ([N, V] logits, x_rj = sum_k H_rk W_jk),   loss = cross_entropy(x, t, options.ce)
// with exactly cross_entropy()'s definition (loss.h: soft-capping, temperature, label smoothing,
// class weights, ignore_index, z-loss, reductions; kMean divides by the summed weight of the
// counted rows over the WHOLE batch, not per chunk; an empty mean gives NaN or 0 per empty_mean,
// and then, as in cross_entropy(), NaN or 0 gradient rows for counted rows of zero weight).
// Gradients, with G = d loss / d x ([N, V], cross_entropy()'s gradient, 1/denominator included):
//   grad_hidden = G W  ([N, D]),   grad_weight (+)= G^T H  ([V, D]).
// Algorithm, row mode (chunk_vocab 0 or >= V): rows are taken n at a time (chunk_rows); for
// each chunk the n x V logits come from one matrix product (BLAS sgemm), cross_entropy() turns
// them into G in place (its kSum form; the global 1/denominator of kMean is folded into the next
// two products), then grad_hidden's n rows = G W and grad_weight += G^T H_chunk (sgemm,
// beta = 1). Three products over the batch, as with materialised logits; no recomputation.
// Vocabulary mode (1 <= chunk_vocab = cv < V): for each chunk of n rows, pass 1 over the
//   vocabulary chunks [v0, v0 + cv): logits (n x cv) = H_chunk W[v0:v0+cv]^T, then
//   shard::cross_entropy_states of that block as the shard {v0, V} (class weights
//   ce.weight[v0:v0+cv]), merged into the rows' states (shard::merge_states); pass 2 over the
//   vocabulary chunks in reverse order: the block's logits (the last block's are still held;
//   the others are recomputed), shard::cross_entropy_finish writes its G in place (kSum form),
//   grad_weight[v0:v0+cv] += G^T H_chunk and grad_hidden rows += G W[v0:v0+cv] (alpha =
//   1/denominator as above). Products: 3 + (1 - 1/ceil(V/cv)) over the batch. Loss, row_loss
//   and lse come from the merged states. ce.precision kFast is ignored in this mode (the
//   shard functions use the accurate arithmetic).
// Extra memory (bytes): row mode: 4 n V (the chunk's logits, turned into G in place; 8 n V with
//   softcap), + 4 n D when hidden is bf16 (the chunk converted to f32), + 4 min(V, 2048) D when
//   weight is bf16 (a block of W converted to f32). With the automatic n: V = 128256 -> n = 256,
//   125 MiB whatever N (the materialised logits at N = 4096 take 2004 MiB); V = 32000 ->
//   n = 524, 64 MiB. Vocabulary mode: 4 n cv (8 n cv with softcap) + 4 n D (bf16 hidden) +
//   4 min(cv, 2048) D (bf16 weight) + 2 n sizeof(shard::CrossEntropyState) (128 bytes per row).
// bf16 inputs (either or both) are converted exactly to f32 (block by block) before the products;
//   all arithmetic is f32 (products) and what cross_entropy() uses; outputs are f32.
// Preconditions (else std::invalid_argument naming the function, the argument and, for targets,
//   the row; nothing is written to any output when it throws):
//   hidden [N, D] and weight [V, D] valid views (non-null data unless empty, row_stride >= cols)
//   with the same D; target.size() == N; each target in [0, V) or == ce.ignore_index;
//   ce.weight empty or V entries, each finite and >= 0; the other ce options as cross_entropy()
//   requires (0 <= eps <= 1, kMegatron with eps > 0 needs V >= 2, z_loss and softcap finite and
//   >= 0, tau finite and > 0, reduction not kBatchMean); grad_hidden [N, D], grad_weight [V, D],
//   row_loss and lse N entries when given; no output may start at an input's data.
// Special values: the logits are IEEE products, so NaN in a row of hidden makes that row's loss,
//   lse and G row NaN (hence its grad_hidden row and every grad_weight entry in the columns
//   that row touches, i.e. all of grad_weight); NaN in a row of W makes every logit of its column
//   NaN, so every counted row's loss is NaN. +-inf in hidden or W gives logits +-inf or NaN
//   (inf * 0, inf - inf); cross_entropy()'s rules for +inf / -inf / NaN logits then apply
//   (loss.h), and the gradient products propagate them (0 * inf = NaN). Nothing here is
//   meaningful with non-finite inputs; it is defined so that it never hangs or throws.
// Accuracy (f32 products): each logit carries the sgemm rounding, up to about
//   D * 2^-24 * sum_k |H_rk W_jk|; the loss and G then have cross_entropy()'s accuracy on those
//   logits (4 ULP loss, 2 ULP + 2^-24 |row| gradient; the vocabulary mode: shard.h's, the same
//   bounds plus 2^-52 relative per merge, not the bits of the row mode). grad_hidden entries:
//   within about (V + D) * 2^-24 * sum_j |G_rj W_jk|; grad_weight: within about (N + D) * 2^-24 *
//   sum_r |G_rj H_rk| (worst case; typical errors are near sqrt of that). The reduced loss sums
//   the chunks' row losses in double. Checked against a long double materialised reference in
//   tests/linear_cross_entropy_test.cc (method in docs/fused_linear.md).
// Reproducibility: for a fixed build, BLAS, chunk_rows and BLAS thread count, every output is
//   deterministic. ce.threads never changes a bit (cross_entropy() is thread-count invariant and
//   the conversions are element-wise). The BLAS's own thread count may change the products'
//   bits: with Debian's OpenBLAS 0.3.21, grad_hidden differs in the last bits between
//   OPENBLAS_NUM_THREADS=1 and 2 (2 and 4 agree); loss, row_loss, lse and grad_weight agreed in
//   that measurement (docs/fused_linear.md), which is not a promise. own_matmul: the same bits
//   for every thread count.
//   A different chunk_rows changes grad_weight's summation order (and may change the products'
//   blocking), so results agree only within the bounds above. Vocabulary mode: row_loss, lse
//   and the loss depend on chunk_vocab (the order in which the blocks' states are merged) and
//   agree with the row mode within the bounds, not bitwise; with the same logits bits they do
//   not depend on chunk_rows or thread counts. grad_hidden is summed over the vocabulary blocks
//   in f32 (within the bound above). chunk_vocab >= V is the row mode, bit for bit.
// Returns the reduced loss (kNone: the sum of row losses, and G is the gradient of that sum).
LOGITKIT_API double linear_cross_entropy(Rows<const float> hidden, Rows<const float> weight,
                                         std::span<const std::int64_t> target,
                                         const LinearCrossEntropyOptions& options = {},
                                         const LinearCrossEntropyOutputs& out = {});
LOGITKIT_API double linear_cross_entropy(Rows<const bfloat16> hidden, Rows<const bfloat16> weight,
                                         std::span<const std::int64_t> target,
                                         const LinearCrossEntropyOptions& options = {},
                                         const LinearCrossEntropyOutputs& out = {});
LOGITKIT_API double linear_cross_entropy(Rows<const bfloat16> hidden, Rows<const float> weight,
                                         std::span<const std::int64_t> target,
                                         const LinearCrossEntropyOptions& options = {},
                                         const LinearCrossEntropyOutputs& out = {});
LOGITKIT_API double linear_cross_entropy(Rows<const float> hidden, Rows<const bfloat16> weight,
                                         std::span<const std::int64_t> target,
                                         const LinearCrossEntropyOptions& options = {},
                                         const LinearCrossEntropyOutputs& out = {});

}  // namespace logitkit

#endif  // LOGITKIT_LINEAR_CROSS_ENTROPY_H_
