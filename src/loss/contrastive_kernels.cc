// SPDX-License-Identifier: Apache-2.0
// Per-target entry points of the contrastive-loss kernels (float and double) and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/loss/contrastive_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/internal/dispatch.h"
#include "src/loss/contrastive_kernels-inl.h"
#include "src/loss/contrastive_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace {

float ClBlockMaxF32(const float* s, size_t n, float* col_max, bool* bad) {
  return contrastive::BlockMax<float>(s, n, col_max, bad);
}
double ClBlockMaxF64(const double* s, size_t n, double* col_max, bool* bad) {
  return contrastive::BlockMax<double>(s, n, col_max, bad);
}
double ClBlockSumF32(const float* s, size_t n, float row_max, const float* col_max,
                     float* col_sum) {
  return contrastive::BlockSum<float>(s, n, row_max, col_max, col_sum);
}
double ClBlockSumF64(const double* s, size_t n, double row_max, const double* col_max,
                     double* col_sum) {
  return contrastive::BlockSum<double>(s, n, row_max, col_max, col_sum);
}
double ClBlockGradF32(float* s, size_t n, float row_lse, const float* col_lse, float c) {
  return contrastive::BlockGrad<float>(s, n, row_lse, col_lse, c);
}
double ClBlockGradF64(double* s, size_t n, double row_lse, const double* col_lse, double c) {
  return contrastive::BlockGrad<double>(s, n, row_lse, col_lse, c);
}
void ClGemmF32(size_t M, size_t K, float alpha, const float* a, size_t a_rs, size_t a_cs,
               const float* b, size_t ldb, float beta, float* c, size_t ldc, size_t j0, size_t j1) {
  contrastive::Gemm<float>(M, K, alpha, a, a_rs, a_cs, b, ldb, beta, c, ldc, j0, j1);
}
void ClGemmF64(size_t M, size_t K, double alpha, const double* a, size_t a_rs, size_t a_cs,
               const double* b, size_t ldb, double beta, double* c, size_t ldc, size_t j0,
               size_t j1) {
  contrastive::Gemm<double>(M, K, alpha, a, a_rs, a_cs, b, ldb, beta, c, ldc, j0, j1);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace logitkit {
namespace {
HWY_EXPORT(ClBlockMaxF32);
HWY_EXPORT(ClBlockMaxF64);
HWY_EXPORT(ClBlockSumF32);
HWY_EXPORT(ClBlockSumF64);
HWY_EXPORT(ClBlockGradF32);
HWY_EXPORT(ClBlockGradF64);
HWY_EXPORT(ClGemmF32);
HWY_EXPORT(ClGemmF64);
}  // namespace

namespace internal {

ContrastiveKernels<float> contrastive_kernels_f32() {
  return {LOGITKIT_DYNAMIC_POINTER(ClBlockMaxF32), LOGITKIT_DYNAMIC_POINTER(ClBlockSumF32),
          LOGITKIT_DYNAMIC_POINTER(ClBlockGradF32), LOGITKIT_DYNAMIC_POINTER(ClGemmF32)};
}
ContrastiveKernels<double> contrastive_kernels_f64() {
  return {LOGITKIT_DYNAMIC_POINTER(ClBlockMaxF64), LOGITKIT_DYNAMIC_POINTER(ClBlockSumF64),
          LOGITKIT_DYNAMIC_POINTER(ClBlockGradF64), LOGITKIT_DYNAMIC_POINTER(ClGemmF64)};
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
