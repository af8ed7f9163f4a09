// SPDX-License-Identifier: Apache-2.0
// The per-target kernels of the contrastive loss, resolved for the chosen SIMD target.
#ifndef LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_H_
#define LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_H_

#include <cstddef>

namespace logitkit::internal {

template <class T>
struct ContrastiveKernels {
  // Row max of s[0, n); col_max[j] = max(col_max[j], s[j]); *bad = true if an entry is not finite.
  T (*block_max)(const T* s, std::size_t n, T* col_max, bool* bad);
  // Returns sum_j exp(s_j - row_max) in double; col_sum[j] += exp(s_j - col_max[j]).
  double (*block_sum)(const T* s, std::size_t n, T row_max, const T* col_max, T* col_sum);
  // s_j <- c (exp(s_j - row_lse) + exp(s_j - col_lse[j])) in place; returns sum_j s_j(old) s_j(new).
  double (*block_grad)(T* s, std::size_t n, T row_lse, const T* col_lse, T c);
  // Columns [j0, j1) of C = alpha A B + beta C (A(i, k) = a[i a_rs + k a_cs], M x K; B K x N
  // row-major; beta == 0: C not read).
  void (*gemm)(std::size_t M, std::size_t K, T alpha, const T* a, std::size_t a_rs,
               std::size_t a_cs, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
               std::size_t j0, std::size_t j1);
};

ContrastiveKernels<float> contrastive_kernels_f32();
ContrastiveKernels<double> contrastive_kernels_f64();

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_H_
