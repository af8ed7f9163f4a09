// SPDX-License-Identifier: Apache-2.0
// Losses on logits: cross-entropy fused with log-softmax, distillation, CLIP contrastive loss.
#ifndef LOGITKIT_LOSS_H_
#define LOGITKIT_LOSS_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "logitkit/export.h"
#include "logitkit/rows.h"
#include "logitkit/softmax.h"

namespace logitkit {

// How per-row losses combine into the returned loss.
//   kNone: nothing combined; the return value is the sum of the row losses and the gradient is
//     that of the sum (each row's gradient is d row_loss_r / d x_r, i.e. an upstream of 1).
//   kMean: PyTorch's mean (cross-entropy: divided by the summed weight of the counted rows;
//     distillation: divided by rows * cols, like KLDivLoss(reduction='mean')).
//   kSum: the sum.
//   kBatchMean: the sum divided by the number of rows (KLDivLoss 'batchmean'); distillation only.
enum class Reduction { kNone, kMean, kSum, kBatchMean };

// Label smoothing with coefficient eps (targets given as class indices, K = cols classes):
//   kPyTorch:  q_j = (1 - eps) [j == t] + eps / K       (torch.nn.CrossEntropyLoss)
//   kMegatron: q_j = (1 - eps) [j == t] + eps / (K - 1) [j != t]  (Megatron-LM; K >= 2)
enum class LabelSmoothing { kPyTorch, kMegatron };

// What a mean over an empty set (every target ignored, or zero total weight) gives.
enum class EmptyMean { kNaN, kZero };

// Gradient and diagnostic outputs. Every field is optional: an empty span or a Rows with null data
// is not written. T is the logits' element type.
template <class T>
struct LossOutputs {
  Rows<T> grad{nullptr, 0, 0, 0};  // d loss / d logits, the logits' shape
  std::span<T> row_loss{};         // per-row loss before reduction (rows entries)
  std::span<T> lse{};              // per-row logsumexp of the (capped) logits at temperature tau
};

struct CrossEntropyOptions {
  Reduction reduction = Reduction::kMean;
  std::int64_t ignore_index = -100;    // class-index targets equal to this are skipped
  std::span<const double> weight{};    // class weights w_j (cols entries, >= 0, finite); empty: 1
  double label_smoothing = 0.0;        // eps in [0, 1]
  LabelSmoothing smoothing = LabelSmoothing::kPyTorch;
  double z_loss = 0.0;                 // lambda >= 0: adds lambda * lse^2 per counted row
  double softcap = 0.0;                // c > 0: logits become c * tanh(x / c); 0: off
  double temperature = 1.0;            // tau, finite and > 0: logits u = z / tau
  EmptyMean empty_mean = EmptyMean::kNaN;
  Precision precision = Precision::kAccurate;
  int threads = 0;  // 0: library default; 1: the calling thread only
};

// ---------------------------------------------------------------------------------------------
// Cross-entropy with class-index targets. For each row r of x ([N, C]) with target t = target[r]:
//   z_j = softcap ? c * tanh(x_j / c) : x_j        (x_j = -inf stays -inf: masked)
//   u_j = z_j / tau,   lse_r = log sum_j exp(u_j),   log p_j = u_j - lse_r
//   q_j = label-smoothed one-hot of t (see LabelSmoothing; q = one-hot when eps = 0)
//   row_loss_r = -sum_j w_j q_j log p_j + lambda * lse_r^2          (w_j = 1 without weights)
// Rows whose target equals ignore_index have row_loss 0 (no z-loss), zero gradient, and do not
// count. kMean divides the sum by sum_r w_{t_r} over counted rows (PyTorch's normalisation, also
// with label smoothing); an empty set gives NaN or 0 (empty_mean).
// Gradient, written in one fused pass (x is read once for the statistics, which keep the
// exponentials in a per-thread row buffer; grad is written once from it, with non-temporal
// stores when grad exceeds 16 MiB, during the next row's statistics pass; grad may be x
// itself, same row_stride, without softcap):
//   d row_loss_r / d x_j = ((S + 2 lambda lse_r) p_j - w_j q_j) / tau * dz_j/dx_j,
//   S = sum_j w_j q_j, dz/dx = 1 - tanh^2(x/c) with softcap, times 1/denominator for kMean.
// The target's term p_t - 1 is computed as -sum_{j != t} p_j (no cancellation), and -log p_t as
// (max_j u_j - u_t) + log(sum_j exp(u_j - max)) with log1p when one entry dominates, so a
// confident, correct row (loss ~ 1e-8) keeps its relative accuracy.
// Preconditions (else std::invalid_argument naming the argument and the row; nothing written):
//   target.size() == x.rows; each target in [0, C) or == ignore_index; weight empty or C entries,
//   each finite and >= 0; 0 <= eps <= 1 (kMegatron with eps > 0 needs C >= 2); lambda >= 0 and
//   finite; softcap >= 0 and finite; tau > 0 and finite; outputs of the right sizes; reduction
//   not kBatchMean; x and grad valid views (row_stride >= cols).
// Special rows (counted rows; an ignored row always gives loss 0 and gradient 0):
//   NaN anywhere in the row: row_loss, lse and that row's gradient are NaN (so is the loss).
//   all -inf: lse -inf, row_loss +inf, gradient 0.
//   some +inf (without softcap): the limit: p is uniform over the k entries at +inf; lse +inf;
//     row_loss = sum_j w_j q_j (-log p_j) with -log p_j = log k there, +inf elsewhere (terms with
//     w_j q_j = 0 count 0); z-loss +inf when lambda > 0; gradient 0 (the limit is piecewise
//     constant).
//   a -inf logit at the target (others finite): row_loss +inf, gradient finite (p_t - 1 = -1).
//   a -inf logit elsewhere: p_j = 0 there; its term counts 0 unless w_j q_j > 0 (then +inf).
// Accuracy (kAccurate, float): row_loss and lse within 4 ULP of the exact value, including a
//   confident row's ~1e-8 loss; each gradient entry within 2 ULP + 2^-24 * |gradient row
//   scale| absolute; the reduced loss accumulates in double. With softcap, kAccurate rows are
//   computed in long double (rounding the capped logits to float would cost 2^-24 |z_j| in every
//   shift: 20-100 ULP of a confident row's loss); kFast rounds them to float. kFast: the shift
//   and exp in float (measured bound in docs/accuracy.md). Double overload: computed in long
//   double.
// Threads: rows split across threads, a long row split into 16384-entry chunks whose states are
//   merged; bitwise identical results for every thread count and SIMD target.
// Returns the reduced loss (kNone: the sum of row losses).
LOGITKIT_API double cross_entropy(Rows<const float> x, std::span<const std::int64_t> target,
                                  const CrossEntropyOptions& options = {},
                                  const LossOutputs<float>& out = {});
LOGITKIT_API double cross_entropy(Rows<const double> x, std::span<const std::int64_t> target,
                                  const CrossEntropyOptions& options = {},
                                  const LossOutputs<double>& out = {});

// Cross-entropy with probability targets y ([N, C], PyTorch's "class probabilities" form):
//   row_loss_r = -sum_j w_j y'_j log p_j + lambda * lse_r^2,  y'_j = (1 - eps) y_j + eps / C
// (kPyTorch smoothing; kMegatron smoothing is rejected here). kMean divides by N (as PyTorch
// does for probability targets, weights or not); ignore_index does not apply. Gradient:
//   ((S + 2 lambda lse_r) p_j - w_j y'_j) / tau * dz_j/dx_j,  S = sum_j w_j y'_j.
// y need not sum to 1 but must be finite and >= 0 (else std::invalid_argument naming the row
// and column). Terms with w_j y'_j = 0 count 0 even where log p_j = -inf. Special rows, accuracy
// and threads as above.
LOGITKIT_API double cross_entropy(Rows<const float> x, Rows<const float> y,
                                  const CrossEntropyOptions& options = {},
                                  const LossOutputs<float>& out = {});
LOGITKIT_API double cross_entropy(Rows<const double> x, Rows<const double> y,
                                  const CrossEntropyOptions& options = {},
                                  const LossOutputs<double>& out = {});

// ---------------------------------------------------------------------------------------------
// Knowledge distillation (Hinton et al. 2015).

// Which divergence between the teacher's p and the student's q (both at temperature tau).
//   kForwardKL (default): KL(p || q) = sum_j p_j (log p_j - log q_j)
//   kReverseKL:           KL(q || p) = sum_j q_j (log q_j - log p_j)
//   kJensenShannon:       beta KL(p || M) + (1 - beta) KL(q || M),  M = beta p + (1 - beta) q
enum class Divergence { kForwardKL, kReverseKL, kJensenShannon };

// How the teacher is given: logits (p = softmax(t / tau)) or log-probabilities already at the
// distillation temperature (p_j = exp(t_j), renormalised over the row so that it sums to 1).
enum class TeacherInput { kLogits, kLogProbs };

struct DistillationOptions {
  double temperature = 1.0;  // tau, finite and > 0
  Divergence divergence = Divergence::kForwardKL;
  double js_beta = 0.5;        // beta in (0, 1) for kJensenShannon
  bool tau_squared = true;     // multiply the divergence (and its gradient) by tau^2 (Hinton)
  Reduction reduction = Reduction::kBatchMean;  // kMean divides by rows * cols, like KLDivLoss
  TeacherInput teacher_input = TeacherInput::kLogits;
  // Hard-label term: loss += alpha * cross_entropy(student, target) at temperature 1 with
  // reduction kMean over the rows whose target is not ignore_index (alpha >= 0; 0 = off). With
  // every target ignored that mean is NaN (PyTorch's), so is the loss; the gradient stays the
  // divergence's (the hard-label term adds 0 to it).
  double alpha = 0.0;
  std::span<const std::int64_t> target{};  // rows entries, needed when alpha > 0
  std::int64_t ignore_index = -100;
  Precision precision = Precision::kAccurate;
  int threads = 0;
};

// distillation_loss: for each row r, with p = teacher distribution and q = softmax(s / tau),
//   row_loss_r = (tau_squared ? tau^2 : 1) * D(p, q)        (D from Divergence)
// reduced per `reduction` (default batchmean: sum / rows), plus the optional hard-label term.
// out.grad receives d loss / d student. Forward KL: (tau_squared ? tau : 1/tau) * (q_j - p_j) per
// entry before reduction; reverse KL: (factor / tau) q_j (log(q_j / p_j) - KL(q || p)); JS:
// (factor / tau) (1 - beta) q_j (log(q_j / M_j) - KL(q || M)). out.lse receives the student's
// logsumexp at tau.
// Terms with a zero weight count 0 (0 log 0 = 0). Where p_j = 0 (teacher -inf) and q_j > 0, the
// reverse KL is +inf; where q_j = 0 (student -inf) and p_j > 0, the forward KL is +inf.
// Special rows: NaN anywhere in either row: row_loss and that row's gradient NaN. A row at +inf
// or all -inf (either side) uses the softmax limits (docs/design.md §2, all -inf -> all 0);
// the student's gradient there is 0 when the student row is such a limit.
// Preconditions (std::invalid_argument naming the argument and row, nothing written): same shape
// of student, teacher and grad; tau > 0 and finite; 0 < js_beta < 1; alpha >= 0 and finite, and
// target of rows entries each in [0, cols) or ignore_index when alpha > 0.
// Accuracy (kAccurate, float): row_loss within 1e-6 relative + 1e-7 * (tau_squared ? tau^2 : 1)
// absolute of the exact value (the divergence's own 1e-7 absolute, scaled with it: KL and JS near
// 0 cancel inherently); each gradient entry within 2 ULP + 2^-22 * c * (p_j + q_j),
// c = (tau_squared ? tau : 1/tau) times the reduction factor (the two exponentials are kept as
// floats between the passes, so a difference q_j - p_j carries their rounding); where m_j =
// min(p_j, q_j) is below FLT_MIN (a subnormal exponential, rounded to 2^-150 absolute) add
// 2^-149 * (c + |gradient_j| / m_j), and where the gradient is below FLT_MIN add FLT_MIN. Forward KL takes
// its exponentials in float with the shift carried exactly (within 0.56 ULP each); reverse KL and
// Jensen-Shannon in double (their gradients use the row's divergence, summed from them).
// Passes over memory (float, every divergence and teacher input): per 16384-entry chunk one pass
// over student and teacher (both exponentials, the statistics and the KL sums, while the chunk
// is in cache; the exponentials kept in per-thread row buffers), then one pass writing grad from
// those buffers (non-temporal stores when grad exceeds 16 MiB); Jensen-Shannon adds one pass
// for its sums (one log per entry, and one more in the gradient). Rows with NaN, +inf, a
// 16384-entry chunk without a finite entry, or (reverse KL) a teacher -inf under student mass
// take a scalar long double path. Double overload: long double throughout.
LOGITKIT_API double distillation_loss(Rows<const float> student, Rows<const float> teacher,
                                      const DistillationOptions& options = {},
                                      const LossOutputs<float>& out = {});
LOGITKIT_API double distillation_loss(Rows<const double> student, Rows<const double> teacher,
                                      const DistillationOptions& options = {},
                                      const LossOutputs<double>& out = {});


// ---------------------------------------------------------------------------------------------
// Contrastive (CLIP / InfoNCE) loss (Radford et al. 2021), section owned by the contrastive code.

// CLIP's initial log-scale, log(1 / 0.07).
inline constexpr double kClipInitLogScale = 2.6592600369327779;

struct ContrastiveOptions {
  bool normalize = true;        // L2-normalise each embedding row inside (F.normalize semantics)
  double normalize_eps = 1e-12; // a = u / max(|u|, eps), like torch.nn.functional.normalize
  double max_scale = 100.0;     // scale = min(exp(t), max_scale); finite and > 0
  std::size_t block = 0;        // rows of similarities held at a time; 0: library default (512)
  bool own_matmul = false;      // use the library's own Highway matrix kernel even with a BLAS
  int threads = 0;              // threads of the own matrix kernel and block passes (0: default)
};

// Gradient outputs; each is optional (null data / null pointer: not computed, and the matrix
// products it alone needs are skipped). T is the embeddings' element type.
template <class T>
struct ContrastiveOutputs {
  Rows<T> grad_image{nullptr, 0, 0, 0};  // d loss / d image, image's shape [B, D]
  Rows<T> grad_text{nullptr, 0, 0, 0};   // d loss / d text, text's shape [B, D]
  double* grad_log_scale = nullptr;      // d loss / d t
};

// contrastive_loss(image, text, t): image and text are [B, D] embeddings whose row i is a
// matching pair. With a_i, b_j the rows (L2-normalised when options.normalize:
// a = u / max(|u|_2, eps)), scale s = min(exp(t), max_scale) and logits L_ij = s <a_i, b_j>:
//   loss = (CE(image -> text) + CE(text -> image)) / 2
//        = 1/(2B) sum_i (lse_j L_ij - L_ii) + 1/(2B) sum_j (lse_i L_ij - L_jj),
// exactly PyTorch's (F.cross_entropy(L, arange(B)) + F.cross_entropy(L.T, arange(B))) / 2.
// Gradients, with G_ij = (P_ij + Q_ij - 2 [i == j]) / (2B), P = softmax of L over rows (j),
// Q = softmax of L over columns (i):
//   d loss / d a = s G b,  d loss / d b = s G^T a  (then through the normalisation:
//     du_i = (da_i - a_i <a_i, da_i>) / |u_i| where |u_i| > eps, da_i / eps otherwise),
//   d loss / d t = sum_ij G_ij L_ij when exp(t) <= max_scale, 0 when clamped (torch.clamp's
//     gradient; at exp(t) == max_scale it passes).
// Computed in blocks: `block` rows of L at a time come from one matrix product (BLAS sgemm/dgemm
// when the library is built with one, else the library's own Highway kernel); the row-wise and
// column-wise (max, sum) states are merged online, so the B x B matrix is never held. A second
// blocked pass recomputes each block of L for the gradients. Extra memory: block * B elements
// for the block, 4 B doubles for the states, plus the normalised copies of both inputs (2 B D
// elements) when normalize is on, and a transposed copy of text (B D elements) on the own-kernel
// path.
// Preconditions (else std::invalid_argument naming the argument; nothing written): image and
//   text of the same shape [B, D] with B >= 1 and D >= 1, non-null data, row_stride >= D;
//   gradient outputs, when given, of that shape; t not NaN (-inf gives s = 0, +inf s =
//   max_scale); max_scale finite and > 0; normalize_eps finite and > 0.
// Special values: a NaN or +-inf anywhere in image or text gives a NaN loss and NaN in every
//   gradient requested (nothing else is meaningful); the same when a similarity overflows the
//   element type (not normalised, |s <a, b>| > FLT_MAX for float).
// Accuracy: the logits come from a matrix product in the element type (its rounding, up to
//   about D * 2^-24 * s * |a_i| |b_j| for float, dominates); states, logs and the loss are
//   accumulated in double; softmax exponentials are evaluated in the element type (1.5 ULP).
//   Measured against a double reference that holds the whole matrix: docs/losses.md.
// Results are deterministic for a given build, SIMD target and BLAS; they are not bitwise
//   identical across SIMD targets or BLAS libraries (the matrix products sum in different
//   orders). Threads: the BLAS threads as it is configured (OPENBLAS_NUM_THREADS); the own kernel
//   splits output columns over options.threads, with the same bits for every thread count.
// Returns the loss.
LOGITKIT_API double contrastive_loss(Rows<const float> image, Rows<const float> text,
                                     double log_scale, const ContrastiveOptions& options = {},
                                     const ContrastiveOutputs<float>& out = {});
LOGITKIT_API double contrastive_loss(Rows<const double> image, Rows<const double> text,
                                     double log_scale, const ContrastiveOptions& options = {},
                                     const ContrastiveOutputs<double>& out = {});

}  // namespace logitkit

#endif  // LOGITKIT_LOSS_H_
