// SPDX-License-Identifier: Apache-2.0
// The per-target kernels of the loss family, resolved for the chosen SIMD target.
#ifndef LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_
#define LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_

#include <cstddef>

namespace logitkit::internal {

// Sums of a distillation chunk (teacher t, student s, both at temperature tau, each shifted by its
// own maximum): zt = sum_j exp((t_j - mt) * inv_tau), and
// cross = sum_j exp((t_j - mt) * inv_tau) * ((t_j - mt) - (s_j - ms)) * inv_tau over the entries
// where the teacher is not -inf (entries where only the student is -inf set *student_masked).
struct KlChunkSums {
  double zt, cross;
  bool student_masked;
};

struct LossKernels {
  // out_i = e_i * k - w_i * (b1 * y_i + b0), with w_i = 1 when w is null and y_i = 0 when y is
  // null; in double, rounded once (kFast without w and y: in float). out may equal e.
  void (*grad_affine)(const float* e, const double* w, const float* y, std::size_t n, double k,
                      double b1, double b0, float* out);
  // KlChunkSums of t[0, n), s[0, n) given the maxima mt, ms (finite).
  KlChunkSums (*kl_sums)(const float* t, const float* s, std::size_t n, float mt, float ms,
                         double inv_tau);
  // out_i = a * es_i - b * exp((t_i - mt) * inv_tau): the forward-KL gradient from the student's
  // stored exponentials es (out may equal es).
  void (*kl_grad)(const float* es, const float* t, std::size_t n, float mt, double inv_tau,
                  double a, double b, float* out);
};

// The kernels of the chosen target; fast selects Precision::kFast.
LossKernels loss_kernels(bool fast);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_LOSS_LOSS_KERNELS_H_
