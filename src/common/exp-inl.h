// SPDX-License-Identifier: Apache-2.0
// Per-target exp kernels for non-positive arguments, without a slow path for underflow.
//
// Both use only Mul/Add/Sub and integer ops (no FMA, and the library builds with
// -ffp-contract=off), so every target computes bit-identical results.

#if defined(LOGITKIT_SRC_COMMON_EXP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_COMMON_EXP_INL_H_
#undef LOGITKIT_SRC_COMMON_EXP_INL_H_
#else
#define LOGITKIT_SRC_COMMON_EXP_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// exp(t) for t <= 0 (t = -inf allowed, NaN not), in double.
// Cody-Waite reduction t = k ln2 + r, |r| <= ln2/2 (+ rounding), then a degree-9 Taylor
// polynomial: relative error <= 3e-12 + a few double roundings, i.e. 1e-4 of a float ULP, which
// is all the f32 contract needs. t < -708 is clamped to -708 (exp = 3.3e-308 there, which no
// float output can see), so the 2^k scaling never leaves the normal range and no lane takes a
// slow path: logits spread over thousands cost the same as N(0, 1) logits.
template <class DD, class VD = hn::Vec<DD>>
HWY_INLINE VD ExpNonPositiveF64(DD dd, VD t) {
  const hn::RebindToUnsigned<DD> du;
  t = hn::Max(t, hn::Set(dd, -708.0));
  const VD shifter = hn::Set(dd, 0x1.8p52);
  VD kd = hn::Add(hn::Mul(t, hn::Set(dd, 1.4426950408889634)), shifter);
  const auto kbits = hn::BitCast(du, kd);
  kd = hn::Sub(kd, shifter);
  // ln2_hi has 32 significant bits, so kd * ln2_hi is exact for |k| < 2^20.
  VD r = hn::Sub(t, hn::Mul(kd, hn::Set(dd, 6.93147180369123816490e-01)));
  r = hn::Sub(r, hn::Mul(kd, hn::Set(dd, 1.90821492927058770002e-10)));
  VD p = hn::Set(dd, 1.0 / 362880.0);
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 40320.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 5040.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 720.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 120.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 24.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0 / 6.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 0.5));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0));
  p = hn::Add(hn::Mul(p, r), hn::Set(dd, 1.0));
  // 2^k from the low bits of kd + shifter; k + 1023 is in [1, 1023].
  const auto scale = hn::ShiftLeft<52>(hn::Add(kbits, hn::Set(du, 1023)));
  return hn::Mul(p, hn::BitCast(dd, scale));
}

// exp(t) for t <= 0 (t = -inf allowed, NaN not), in float, for Precision::kFast.
// Degree-7 polynomial; relative error <= 2 float ULP for t >= -87.3; t < -87.3 gives exactly 0 (the true value is
// below FLT_MIN, absolute error < FLT_MIN). -inf gives 0.
template <class DF, class VF = hn::Vec<DF>>
HWY_INLINE VF ExpNonPositiveF32(DF df, VF t) {
  const hn::RebindToSigned<DF> di;
  const auto underflow = hn::Lt(t, hn::Set(df, -87.3f));
  t = hn::Max(t, hn::Set(df, -87.3f));
  const VF shifter = hn::Set(df, 0x1.8p23f);
  VF kf = hn::Add(hn::Mul(t, hn::Set(df, 1.44269504f)), shifter);
  const auto kbits = hn::BitCast(di, kf);
  kf = hn::Sub(kf, shifter);
  VF r = hn::Sub(t, hn::Mul(kf, hn::Set(df, 0.693359375f)));
  r = hn::Sub(r, hn::Mul(kf, hn::Set(df, -2.12194440e-4f)));
  VF p = hn::Set(df, 1.0f / 5040.0f);
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f / 720.0f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f / 120.0f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f / 24.0f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f / 6.0f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 0.5f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f));
  p = hn::Add(hn::Mul(p, r), hn::Set(df, 1.0f));
  const auto scale = hn::ShiftLeft<23>(hn::Add(kbits, hn::Set(di, 127)));
  return hn::IfThenZeroElse(underflow, hn::Mul(p, hn::BitCast(df, scale)));
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_COMMON_EXP_INL_H_
