// SPDX-License-Identifier: Apache-2.0
// Per-target f32 entry points of the loss family and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/loss/loss_f32.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/loss/loss-inl.h"
#include "src/loss/loss_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace {

void GradAffineF32(const float* e, const double* w, const float* y, size_t n, double k, double b1,
                   double b0, float* out) {
  GradAffineImpl<false>(e, w, y, n, k, b1, b0, out);
}
void GradAffineF32Fast(const float* e, const double* w, const float* y, size_t n, double k,
                       double b1, double b0, float* out) {
  GradAffineImpl<true>(e, w, y, n, k, b1, b0, out);
}
internal::KlChunkSums KlSumsF32(const float* t, const float* s, size_t n, float mt, float ms,
                                double inv_tau) {
  return KlSumsImpl<false>(t, s, n, mt, ms, inv_tau);
}
internal::KlChunkSums KlSumsF32Fast(const float* t, const float* s, size_t n, float mt, float ms,
                                    double inv_tau) {
  return KlSumsImpl<true>(t, s, n, mt, ms, inv_tau);
}
void KlGradF32(const float* es, const float* t, size_t n, float mt, double inv_tau, double a,
               double b, float* out) {
  KlGradImpl<false>(es, t, n, mt, inv_tau, a, b, out);
}
void KlGradF32Fast(const float* es, const float* t, size_t n, float mt, double inv_tau, double a,
                   double b, float* out) {
  KlGradImpl<true>(es, t, n, mt, inv_tau, a, b, out);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace logitkit {
namespace {
HWY_EXPORT(GradAffineF32);
HWY_EXPORT(GradAffineF32Fast);
HWY_EXPORT(KlSumsF32);
HWY_EXPORT(KlSumsF32Fast);
HWY_EXPORT(KlGradF32);
HWY_EXPORT(KlGradF32Fast);
}  // namespace

namespace internal {

LossKernels loss_kernels(bool fast) {
  if (fast) {
    return {&HWY_DYNAMIC_DISPATCH(GradAffineF32Fast), &HWY_DYNAMIC_DISPATCH(KlSumsF32Fast),
            &HWY_DYNAMIC_DISPATCH(KlGradF32Fast)};
  }
  return {&HWY_DYNAMIC_DISPATCH(GradAffineF32), &HWY_DYNAMIC_DISPATCH(KlSumsF32),
          &HWY_DYNAMIC_DISPATCH(KlGradF32)};
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
