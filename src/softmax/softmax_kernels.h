// SPDX-License-Identifier: Apache-2.0
// The per-target chunk kernels of the softmax family, resolved for the chosen SIMD target.
// Used by the softmax driver and by the loss and sampling code, which fuse on top of them.
#ifndef LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_H_
#define LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_H_

#include <cstddef>

#include "src/softmax/softmax_internal.h"

namespace logitkit::internal {

struct SoftmaxKernels {
  // Statistics of x[0, n), n >= 1; writes e_i = exp((x_i - max) * inv_tau) to e_out if non-null
  // (e_out may equal x). Nothing is written when the status is not kChunkOk or when every entry
  // is -inf (max == -inf).
  ChunkStats (*stats)(const float* x, std::size_t n, double inv_tau, float* e_out);
  // stats with a SideGrad over the same n entries (e_out non-null; also written when the status
  // is not kChunkOk or the max is -inf). Null where not available (only the losses' sets have
  // it).
  ChunkStats (*stats_side)(const float* x, std::size_t n, double inv_tau, float* e_out,
                           const SideGrad& side);
  // y_i = e_i * scale. y may equal e.
  void (*scale)(const float* e, std::size_t n, double scale, float* y);
  // y_i = (x_i - max) * inv_tau - log_norm. y may equal x.
  void (*log_out)(const float* x, std::size_t n, float max, double inv_tau, double log_norm,
                  float* y);
};

// The kernels of the chosen target; fast selects Precision::kFast.
SoftmaxKernels softmax_kernels(bool fast);
// The kernels the losses use: the same, except that the accurate statistics take the exp in
// float with the shift carried exactly (ExpCompF32: each exponential within 0.56 ULP, rounded
// once into the subnormals below FLT_MIN; the double exp for 1/tau outside [2^-100, 2^100] x
// ln 2). Enough for the losses' bounds (4 ULP loss, 2 ULP gradient), not for the softmax
// family's 2 ULP outputs after a division.
SoftmaxKernels loss_softmax_kernels(bool fast);
// Index of the first NaN in x[0, n), or n.
std::size_t find_nan(const float* x, std::size_t n);

// Rows of 1..kLaneGroup entries, several at a time (op: 0 softmax, 1 log_softmax, 2 logsumexp
// into lse[r]); the same bits as the chunk kernels. Rows with NaN, +inf or no finite entry are
// left unwritten and flagged in special[r].
void short_rows(int op, const float* x, std::size_t x_stride, float* y, std::size_t y_stride,
                float* lse, std::size_t rows, std::size_t cols, double inv_tau,
                unsigned char* special);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SOFTMAX_SOFTMAX_KERNELS_H_
