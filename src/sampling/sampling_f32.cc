// SPDX-License-Identifier: Apache-2.0
// Per-target f32 entry points of the sampler's kernels and their dispatch.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "src/sampling/sampling_f32.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "src/sampling/sampling-inl.h"
#include "src/sampling/sampling_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace {

void SampleExpBlocksF32(const float* x, size_t n, float m, double inv_tau, float* e,
                        double* block_sums) {
  sampling::ExpBlocksImpl<false>(x, n, m, inv_tau, e, block_sums);
}
void SampleExpBlocksF32Fast(const float* x, size_t n, float m, double inv_tau, float* e,
                            double* block_sums) {
  sampling::ExpBlocksImpl<true>(x, n, m, inv_tau, e, block_sums);
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
float SampleMaxF32(const float* x, size_t n, bool* has_nan) { return MaxAndNaN(x, n, has_nan); }

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace logitkit {
namespace {
HWY_EXPORT(SampleExpBlocksF32);
HWY_EXPORT(SampleExpBlocksF32Fast);
HWY_EXPORT(SampleCutBlockSumsF32);
HWY_EXPORT(SampleSelectIndicesF32);
HWY_EXPORT(SampleFindFirstEqF32);
HWY_EXPORT(SamplePartitionF32);
HWY_EXPORT(SampleCompactF32);
HWY_EXPORT(SampleMaxF32);
}  // namespace

namespace internal {

// Resolved once per call (Highway 1.0.3 has no HWY_DYNAMIC_POINTER).
SamplingKernels sampling_kernels(bool fast) {
  return {fast ? &HWY_DYNAMIC_DISPATCH(SampleExpBlocksF32Fast)
               : &HWY_DYNAMIC_DISPATCH(SampleExpBlocksF32),
          &HWY_DYNAMIC_DISPATCH(SampleCutBlockSumsF32),
          &HWY_DYNAMIC_DISPATCH(SampleSelectIndicesF32),
          &HWY_DYNAMIC_DISPATCH(SampleFindFirstEqF32), &HWY_DYNAMIC_DISPATCH(SamplePartitionF32),
          &HWY_DYNAMIC_DISPATCH(SampleCompactF32),     &HWY_DYNAMIC_DISPATCH(SampleMaxF32)};
}

}  // namespace internal
}  // namespace logitkit
#endif  // HWY_ONCE
