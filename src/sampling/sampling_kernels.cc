// SPDX-License-Identifier: Apache-2.0
// Per-target f32 entry points of the sampler's kernels and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/sampling/sampling_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/internal/dispatch.h"
#include "src/sampling/sampling_kernels-inl.h"
#include "src/sampling/sampling_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace {

void SampleExpCompF32(const float* x, size_t n, const internal::ExpArgs& a, float* e,
                      double* block_sums) {
  sampling::ExpSumsImpl<true>(x, n, a, e, block_sums);
}
void SampleExpPlainF32(const float* x, size_t n, const internal::ExpArgs& a, float* e,
                       double* block_sums) {
  sampling::ExpSumsImpl<false>(x, n, a, e, block_sums);
}
void SampleExpDoubleF32(const float* x, size_t n, const internal::ExpArgs& a, float* e,
                        double* block_sums) {
  sampling::ExpBlocksF64Impl(x, n, a.m, a.inv_tau, e, block_sums);
}
void SampleExpFusedCompF32(const float* x, size_t n, const internal::ExpArgs& a, float* e,
                           double* block_sums, float* block_max, bool* has_nan) {
  sampling::ExpFusedImpl<true>(x, n, a, e, block_sums, block_max, has_nan);
}
void SampleExpFusedPlainF32(const float* x, size_t n, const internal::ExpArgs& a, float* e,
                            double* block_sums, float* block_max, bool* has_nan) {
  sampling::ExpFusedImpl<false>(x, n, a, e, block_sums, block_max, has_nan);
}
size_t SampleAboveBracketF32(const float* x, const float* e, size_t n, float hi, float lo,
                             double* block_above, size_t* count_above, int32_t* idx,
                             const double* cb, float* bx, float* be, double* bracket_sum,
                             const float* block_max) {
  return sampling::AboveBracketImpl(x, e, n, hi, lo, block_above, count_above, idx, cb, bx, be,
                                    bracket_sum, block_max);
}
void SampleCutBlockSumsF32(const float* x, const float* e, size_t n, float theta, int64_t last,
                           double* block_sums) {
  sampling::CutBlockSumsImpl(x, e, n, theta, last, block_sums);
}
size_t SampleSelectIndicesF32(const float* x, size_t n, float theta, bool strict, int32_t base,
                              int32_t* idx) {
  return sampling::SelectIndicesImpl(x, n, theta, strict, base, idx);
}
size_t SampleFindFirstEqF32(const float* x, size_t n, float v) {
  return sampling::FindFirstEqImpl(x, n, v);
}
internal::PartitionStats SamplePartitionF32(const float* x, const float* e, size_t n, float hi,
                                            float lo) {
  return sampling::PartitionImpl(x, e, n, hi, lo);
}
size_t SampleCompactF32(const float* x, const float* e, const int32_t* ic, size_t n, float lo,
                        float hi, float* xo, float* eo, int32_t* io) {
  return sampling::CompactImpl(x, e, ic, n, lo, hi, xo, eo, io);
}
float SampleMaxF32(const float* x, size_t n, float* block_max, bool* has_nan) {
  return sampling::BlockMaxImpl(x, n, block_max, has_nan);
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace logitkit {
namespace {
HWY_EXPORT(SampleExpCompF32);
HWY_EXPORT(SampleExpPlainF32);
HWY_EXPORT(SampleExpDoubleF32);
HWY_EXPORT(SampleExpFusedCompF32);
HWY_EXPORT(SampleExpFusedPlainF32);
HWY_EXPORT(SampleAboveBracketF32);
HWY_EXPORT(SampleCutBlockSumsF32);
HWY_EXPORT(SampleSelectIndicesF32);
HWY_EXPORT(SampleFindFirstEqF32);
HWY_EXPORT(SamplePartitionF32);
HWY_EXPORT(SampleCompactF32);
HWY_EXPORT(SampleMaxF32);
}  // namespace

namespace internal {

// Resolved once per call (Highway 1.0.3 has no HWY_DYNAMIC_POINTER).
SamplingKernels sampling_kernels(ExpMode mode) {
  return {mode == kExpComp    ? LOGITKIT_DYNAMIC_POINTER(SampleExpCompF32)
          : mode == kExpPlain ? LOGITKIT_DYNAMIC_POINTER(SampleExpPlainF32)
                              : LOGITKIT_DYNAMIC_POINTER(SampleExpDoubleF32),
          mode == kExpPlain ? LOGITKIT_DYNAMIC_POINTER(SampleExpFusedPlainF32)
                            : LOGITKIT_DYNAMIC_POINTER(SampleExpFusedCompF32),
          LOGITKIT_DYNAMIC_POINTER(SampleAboveBracketF32),
          LOGITKIT_DYNAMIC_POINTER(SampleCutBlockSumsF32),
          LOGITKIT_DYNAMIC_POINTER(SampleSelectIndicesF32),
          LOGITKIT_DYNAMIC_POINTER(SampleFindFirstEqF32),
          LOGITKIT_DYNAMIC_POINTER(SamplePartitionF32),
          LOGITKIT_DYNAMIC_POINTER(SampleCompactF32),
          LOGITKIT_DYNAMIC_POINTER(SampleMaxF32)};
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
