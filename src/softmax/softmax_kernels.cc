// SPDX-License-Identifier: Apache-2.0
// Per-target f32 entry points of the softmax family and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/softmax/softmax_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/internal/dispatch.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/medium_rows_kernels.h"
#include "src/softmax/softmax_kernels-inl.h"
#include "src/softmax/medium_rows_kernels-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace {

internal::ChunkStats StatsF32(const float* x, size_t n, double inv_tau, float* e_out) {
  return ChunkStatsImpl<kStatsDouble>(x, n, inv_tau, e_out);
}
internal::ChunkStats StatsF32Fast(const float* x, size_t n, double inv_tau, float* e_out) {
  return ChunkStatsImpl<kStatsFast>(x, n, inv_tau, e_out);
}
internal::ChunkStats StatsF32FastSide(const float* x, size_t n, double inv_tau, float* e_out,
                                      const internal::SideGrad& side) {
  return ChunkStatsImpl<kStatsFast>(x, n, inv_tau, e_out, &side);
}
internal::ChunkStats StatsF32CompSide(const float* x, size_t n, double inv_tau, float* e_out,
                                      const internal::SideGrad& side) {
  return ChunkStatsImpl<kStatsComp>(x, n, inv_tau, e_out, &side);
}
internal::ChunkStats StatsF32Comp(const float* x, size_t n, double inv_tau, float* e_out) {
  return ChunkStatsImpl<kStatsComp>(x, n, inv_tau, e_out);
}
void ScaleF32(const float* e, size_t n, double scale, float* y) {
  ScaleImpl<false>(e, n, scale, y);
}
void ScaleF32Fast(const float* e, size_t n, double scale, float* y) {
  ScaleImpl<true>(e, n, scale, y);
}
void LogOutF32(const float* x, size_t n, float m, double inv_tau, double log_norm, float* y) {
  LogOutImpl<false>(x, n, m, inv_tau, log_norm, y);
}
void LogOutF32Fast(const float* x, size_t n, float m, double inv_tau, double log_norm, float* y) {
  LogOutImpl<true>(x, n, m, inv_tau, log_norm, y);
}
size_t FindNaNF32(const float* x, size_t n) { return FindNaNImpl(x, n); }
void ShortRowsF32(int op, const float* x, size_t x_stride, float* y, size_t y_stride, float* lse,
                  size_t rows, size_t cols, double inv_tau, unsigned char* special) {
  ShortRowsImpl(op, x, x_stride, y, y_stride, lse, rows, cols, inv_tau, special);
}
void MediumRowsF32(int op, const float* x, size_t x_stride, float* y, size_t y_stride,
                   float* lse, size_t rows, size_t cols, double inv_tau,
                   unsigned char* special) {
  MediumRowsImpl<false>(op, x, x_stride, y, y_stride, lse, rows, cols, inv_tau, special);
}
void MediumRowsF32Fast(int op, const float* x, size_t x_stride, float* y, size_t y_stride,
                       float* lse, size_t rows, size_t cols, double inv_tau,
                       unsigned char* special) {
  MediumRowsImpl<true>(op, x, x_stride, y, y_stride, lse, rows, cols, inv_tau, special);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace logitkit {
namespace {
HWY_EXPORT(StatsF32);
HWY_EXPORT(StatsF32Fast);
HWY_EXPORT(StatsF32Comp);
HWY_EXPORT(StatsF32FastSide);
HWY_EXPORT(StatsF32CompSide);
HWY_EXPORT(ScaleF32);
HWY_EXPORT(ScaleF32Fast);
HWY_EXPORT(LogOutF32);
HWY_EXPORT(LogOutF32Fast);
HWY_EXPORT(FindNaNF32);
HWY_EXPORT(ShortRowsF32);
HWY_EXPORT(MediumRowsF32);
HWY_EXPORT(MediumRowsF32Fast);
}  // namespace

namespace internal {


SoftmaxKernels softmax_kernels(bool fast) {
  if (fast) {
    return {LOGITKIT_DYNAMIC_POINTER(StatsF32Fast), nullptr, LOGITKIT_DYNAMIC_POINTER(ScaleF32Fast),
            LOGITKIT_DYNAMIC_POINTER(LogOutF32Fast)};
  }
  return {LOGITKIT_DYNAMIC_POINTER(StatsF32), nullptr, LOGITKIT_DYNAMIC_POINTER(ScaleF32),
          LOGITKIT_DYNAMIC_POINTER(LogOutF32)};
}

SoftmaxKernels loss_softmax_kernels(bool fast) {
  SoftmaxKernels k = softmax_kernels(fast);
  k.stats = fast ? k.stats : LOGITKIT_DYNAMIC_POINTER(StatsF32Comp);
  k.stats_side = fast ? LOGITKIT_DYNAMIC_POINTER(StatsF32FastSide)
                      : LOGITKIT_DYNAMIC_POINTER(StatsF32CompSide);
  return k;
}

size_t find_nan(const float* x, size_t n) { return HWY_DYNAMIC_DISPATCH(FindNaNF32)(x, n); }

void short_rows(int op, const float* x, size_t x_stride, float* y, size_t y_stride, float* lse,
                size_t rows, size_t cols, double inv_tau, unsigned char* special) {
  HWY_DYNAMIC_DISPATCH(ShortRowsF32)(op, x, x_stride, y, y_stride, lse, rows, cols, inv_tau, special);
}

void medium_rows(bool fast, int op, const float* x, size_t x_stride, float* y, size_t y_stride,
                 float* lse, size_t rows, size_t cols, double inv_tau, unsigned char* special) {
  if (fast) {
    HWY_DYNAMIC_DISPATCH(MediumRowsF32Fast)(op, x, x_stride, y, y_stride, lse, rows, cols,
                                            inv_tau, special);
  } else {
    HWY_DYNAMIC_DISPATCH(MediumRowsF32)(op, x, x_stride, y, y_stride, lse, rows, cols, inv_tau,
                                        special);
  }
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
