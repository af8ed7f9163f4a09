// SPDX-License-Identifier: Apache-2.0
// The per-target kernels of the loss family, resolved for the chosen SIMD target.
#ifndef LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_
#define LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_

#include <cstddef>

#include "src/softmax/softmax_internal.h"

namespace logitkit::internal {

// Statistics of one chunk of a teacher t and a student s, in one pass over both: per side the
// ChunkStats at its inverse temperature (itt, its), exactly as the softmax stats kernel defines
// them (ties, the other exponentials), and, with a_t = (t - mt) itt, a_s = (s - ms) its
// (shifted by the chunk maxima) over the entries where neither is -inf:
//   cross_t = sum exp(a_t) (a_t - a_s),   cross_s = sum exp(a_s) (a_s - a_t).
// student_masked: some t finite has s = -inf; teacher_masked: some s finite has t = -inf.
// When either side's status is not kChunkOk or its max is -inf only the statuses and maxima
// are meaningful and nothing is written.
struct DualStats {
  ChunkStats t, s;
  double cross_t, cross_s;
  bool student_masked, teacher_masked;
};

// Parameters of the Jensen-Shannon kernels (one chunk): student s and teacher t with row maxima
// ms, mt and inverse temperatures its, itt; ls, lt their log normalisers (log q = (s - ms) * its
// - ls); qa, pa turn the stored exponentials into probabilities (chunk factor / normaliser).
struct JsParams {
  float ms, mt;
  double its, itt, ls, lt, beta, qa, pa;
};

// Every output-writing kernel takes `stream`: write the aligned body with non-temporal stores
// (for outputs larger than the cache); the values are the same either way.
struct LossKernels {
  // out_i = e_i * k - w_i * (b1 * y_i + b0), with w_i = 1 when w is null and y_i = 0 when y is
  // null; in double, rounded once (kFast without w and y: in float). out may equal e.
  void (*grad_affine)(const float* e, const double* w, const float* y, std::size_t n, double k,
                      double b1, double b0, float* out);
  // grad_affine without w and y: out_i = e_i * k - b0 (accurate: rounded once, in float through
  // k = k_hi + k_lo when b0 == 0, so not always the bits of grad_affine; fast: the same bits).
  void (*grad_scale)(const float* e, std::size_t n, double k, double b0, float* out, bool stream);
  // DualStats of t[0, n), s[0, n); writes exp(a_t), exp(a_s) to et, es when non-null.
  DualStats (*dual_stats)(const float* t, const float* s, std::size_t n, double itt, double its,
                          float* et, float* es);
  // out_i = ca * ea_i - cb * eb_i (accurate: double, rounded once; fast: float).
  void (*kl_grad)(const float* ea, const float* eb, std::size_t n, double ca, double cb,
                  float* out, bool stream);
  // out_i = es_i == 0 ? 0 : c es_i ((s_i - ms) its - (t_i - mt) itt - k), double, rounded once.
  void (*rkl_grad)(const float* es, const float* s, const float* t, std::size_t n, float ms,
                   float mt, double its, double itt, double c, double k, float* out, bool stream);
  // Jensen-Shannon sums of one chunk: out[0] = sum p (log p - log M), out[1] = sum q (log q -
  // log M) (16 logical lanes, double).
  void (*js_sums)(const float* es, const float* et, const float* s, const float* t, std::size_t n,
                  const JsParams& p, double* out);
  // out_i = q_i == 0 ? 0 : c q_i (log q_i - log M_i - k).
  void (*js_grad)(const float* es, const float* et, const float* s, std::size_t n,
                  const JsParams& p, double c, double k, float* out, bool stream);
};

// The kernels of the chosen target; fast selects Precision::kFast. comp_dual (accurate only):
// dual_stats takes its exps in float with the shifts carried exactly (ExpCompF32, within 0.56
// ULP each) instead of in double: enough for forward KL, whose gradient is c (q - p) and whose
// loss has a 1e-7 absolute slack, not for reverse KL and Jensen-Shannon, whose gradients use the
// row's divergence k itself (an error of 2^-24 k per entry would exceed their 2^-22 c (p + q)).
LossKernels loss_kernels(bool fast, bool comp_dual = false);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_
