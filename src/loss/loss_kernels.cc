// SPDX-License-Identifier: Apache-2.0
// Per-target f32 entry points of the loss family and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/loss/loss_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/internal/dispatch.h"
#include "src/loss/loss_kernels-inl.h"
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
void GradScaleF32(const float* e, size_t n, double k, double b0, float* out, bool stream) {
  GradScaleImpl<false>(e, n, k, b0, out, stream);
}
void GradScaleF32Fast(const float* e, size_t n, double k, double b0, float* out, bool stream) {
  GradScaleImpl<true>(e, n, k, b0, out, stream);
}
internal::DualStats DualStatsF32(const float* t, const float* s, size_t n, double itt, double its,
                                 float* et, float* es) {
  return DualStatsImpl<false, false>(t, s, n, itt, its, et, es);
}
internal::DualStats DualStatsF32Comp(const float* t, const float* s, size_t n, double itt,
                                     double its, float* et, float* es) {
  return DualStatsImpl<false, true>(t, s, n, itt, its, et, es);
}
internal::DualStats DualStatsF32Fast(const float* t, const float* s, size_t n, double itt,
                                     double its, float* et, float* es) {
  return DualStatsImpl<true>(t, s, n, itt, its, et, es);
}
void KlGradF32(const float* ea, const float* eb, size_t n, double ca, double cb, float* out,
               bool stream) {
  KlGradImpl<false>(ea, eb, n, ca, cb, out, stream);
}
void KlGradF32Fast(const float* ea, const float* eb, size_t n, double ca, double cb, float* out,
                   bool stream) {
  KlGradImpl<true>(ea, eb, n, ca, cb, out, stream);
}
void RklGradF32(const float* es, const float* s, const float* t, size_t n, float ms, float mt,
                double its, double itt, double c, double k, float* out, bool stream) {
  RklGradImpl(es, s, t, n, ms, mt, its, itt, c, k, out, stream);
}
void JsSumsF32(const float* es, const float* et, const float* s, const float* t, size_t n,
               const internal::JsParams& p, double* out) {
  JsSumsImpl(es, et, s, t, n, p, out);
}
void JsGradF32(const float* es, const float* et, const float* s, size_t n,
               const internal::JsParams& p, double c, double k, float* out, bool stream) {
  JsGradImpl(es, et, s, n, p, c, k, out, stream);
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
HWY_EXPORT(GradScaleF32);
HWY_EXPORT(GradScaleF32Fast);
HWY_EXPORT(DualStatsF32);
HWY_EXPORT(DualStatsF32Fast);
HWY_EXPORT(DualStatsF32Comp);
HWY_EXPORT(KlGradF32);
HWY_EXPORT(KlGradF32Fast);
HWY_EXPORT(RklGradF32);
HWY_EXPORT(JsSumsF32);
HWY_EXPORT(JsGradF32);
}  // namespace

namespace internal {

LossKernels loss_kernels(bool fast, bool comp_dual) {
  LossKernels k{};
  k.grad_affine = fast ? LOGITKIT_DYNAMIC_POINTER(GradAffineF32Fast)
                       : LOGITKIT_DYNAMIC_POINTER(GradAffineF32);
  k.grad_scale =
      fast ? LOGITKIT_DYNAMIC_POINTER(GradScaleF32Fast) : LOGITKIT_DYNAMIC_POINTER(GradScaleF32);
  k.dual_stats = fast        ? LOGITKIT_DYNAMIC_POINTER(DualStatsF32Fast)
                 : comp_dual ? LOGITKIT_DYNAMIC_POINTER(DualStatsF32Comp)
                             : LOGITKIT_DYNAMIC_POINTER(DualStatsF32);
  k.kl_grad = fast ? LOGITKIT_DYNAMIC_POINTER(KlGradF32Fast) : LOGITKIT_DYNAMIC_POINTER(KlGradF32);
  k.rkl_grad = LOGITKIT_DYNAMIC_POINTER(RklGradF32);
  k.js_sums = LOGITKIT_DYNAMIC_POINTER(JsSumsF32);
  k.js_grad = LOGITKIT_DYNAMIC_POINTER(JsGradF32);
  return k;
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
