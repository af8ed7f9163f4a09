// SPDX-License-Identifier: Apache-2.0
// Per-target log1p in double for the normaliser of short rows, bit-identical on every target.

#if defined(LOGITKIT_SRC_INTERNAL_LOG_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_INTERNAL_LOG_INL_H_
#undef LOGITKIT_SRC_INTERNAL_LOG_INL_H_
#else
#define LOGITKIT_SRC_INTERNAL_LOG_INL_H_
#endif

#include "hwy/highway.h"
#include "src/internal/exp-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// log1p(a) for finite a >= 0, in double: w = 1 + a rounded, log1p(a) = log(w) * a / (w - 1)
// (Goldberg), log(w) = k ln2 + 2 atanh(s), s = (f - 1)/(f + 1), f in [sqrt(1/2), sqrt(2)), with
// the atanh series to s^19 (truncation < 3e-17 relative). Error: a few double ULP, i.e. far below
// what any float output can see. Uses MulAddExact, so every target gives the same bits.
template <class DD, class VD = hn::Vec<DD>>
HWY_INLINE VD Log1pNonNegativeF64(DD dd, VD a) {
  const hn::RebindToSigned<DD> di;
  const VD one = hn::Set(dd, 1.0);
  const VD w = hn::Add(one, a);
  const auto bits = hn::BitCast(di, w);
  auto k = hn::Sub(hn::ShiftRight<52>(bits), hn::Set(di, 1023));
  VD f = hn::BitCast(dd, hn::Or(hn::And(bits, hn::Set(di, 0x000FFFFFFFFFFFFFLL)),
                                hn::Set(di, 0x3FF0000000000000LL)));
  const auto big = hn::Gt(f, hn::Set(dd, 1.4142135623730951));
  f = hn::IfThenElse(big, hn::Mul(f, hn::Set(dd, 0.5)), f);
  const VD kd = hn::Add(hn::ConvertTo(dd, k), hn::IfThenElseZero(big, one));
  const VD s = hn::Div(hn::Sub(f, one), hn::Add(f, one));
  const VD s2 = hn::Mul(s, s);
  VD p = hn::Set(dd, 1.0 / 19);
  constexpr double kCoef[] = {1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9,
                              1.0 / 7,  1.0 / 5,  1.0 / 3,  1.0};
  for (double c : kCoef) p = MulAddExact(dd, p, s2, hn::Set(dd, c));
  const VD log_f = hn::Mul(hn::Add(s, s), p);
  VD log_w = MulAddExact(dd, kd, hn::Set(dd, 1.90821492927058770002e-10), log_f);
  log_w = MulAddExact(dd, kd, hn::Set(dd, 6.93147180369123816490e-01), log_w);
  const VD wm1 = hn::Sub(w, one);
  const auto exact_one = hn::Eq(wm1, hn::Zero(dd));  // a below 2^-53: log1p(a) = a
  const VD ratio = hn::Div(a, hn::IfThenElse(exact_one, one, wm1));
  return hn::IfThenElse(exact_one, a, hn::Mul(log_w, ratio));
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_INTERNAL_LOG_INL_H_
