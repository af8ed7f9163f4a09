// SPDX-License-Identifier: Apache-2.0
// The MPFR reference of the softmax family and the ULP metrics used by every accuracy test.
#include "tests/reference/reference.h"

#include <mpfr.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

namespace logitkit::ref {
namespace {

using LD = long double;
constexpr LD kInf = std::numeric_limits<LD>::infinity();
constexpr LD kNaN = std::numeric_limits<LD>::quiet_NaN();
// Exponents below this contribute less than e^-1200 (about 2^-1731) of the sum, which is >= 1:
// nothing a long double (or float, or double) result can see.
constexpr double kNegligibleExponent = -1200.0;

// An MPFR number at the reference precision, freed on scope exit.
class Mp {
 public:
  Mp() { mpfr_init2(v_, kPrecisionBits); }
  ~Mp() { mpfr_clear(v_); }
  Mp(const Mp&) = delete;
  Mp& operator=(const Mp&) = delete;
  mpfr_ptr get() { return v_; }

 private:
  mpfr_t v_;
};

// Every output equal to one value (NaN rows, empty rows).
RowResult filled(std::size_t n, LD p, LD logp, LD lse) {
  return RowResult{std::vector<LD>(n, p), std::vector<LD>(n, logp), lse};
}

// The mass shared evenly by the entries where win(x_i) holds.
template <class Win>
RowResult shared(const std::vector<double>& x, Win win, LD lse) {
  std::size_t k = 0;
  for (double v : x) k += win(v);
  RowResult r = filled(x.size(), 0.0L, -kInf, lse);
  Mp share, log_share;
  mpfr_set_ui(share.get(), 1, MPFR_RNDN);
  mpfr_div_ui(share.get(), share.get(), k, MPFR_RNDN);
  mpfr_log(log_share.get(), share.get(), MPFR_RNDN);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (win(x[i])) {
      r.softmax[i] = mpfr_get_ld(share.get(), MPFR_RNDN);
      r.log_softmax[i] = mpfr_get_ld(log_share.get(), MPFR_RNDN);
    }
  }
  return r;
}

LD log_of_count(std::size_t k) {
  Mp v;
  mpfr_set_ui(v.get(), k, MPFR_RNDN);
  mpfr_log(v.get(), v.get(), MPFR_RNDN);
  return mpfr_get_ld(v.get(), MPFR_RNDN);
}

// ULP of a value of a binary format with `digits` significand bits whose smallest normal number
// is 2^min_log2: the spacing at |w|, the subnormal spacing below the normal range.
LD ulp_at(LD w, int digits, int min_log2) {
  w = std::fabs(w);
  const int e = w == 0 ? min_log2 : std::max(std::ilogb(w), min_log2);
  return std::ldexp(1.0L, e - (digits - 1));
}

template <class F>
double ulp_error(F got_f, LD want, int digits, int min_log2) {
  const LD got = got_f;
  // An exact value beyond the format's range is correctly rounded to +-inf (overflow).
  if (std::isinf(static_cast<F>(want))) want = static_cast<F>(want);
  if (std::isnan(want) || std::isnan(got)) {
    return std::isnan(want) && std::isnan(got) ? 0.0 : std::numeric_limits<double>::infinity();
  }
  if (std::isinf(want) || std::isinf(got)) {
    return got == want ? 0.0 : std::numeric_limits<double>::infinity();
  }
  return static_cast<double>(std::fabs(got - want) / ulp_at(want, digits, min_log2));
}

template <class Bits, class F>
std::uint64_t ordered_distance(F a, F b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b) ? 0 : UINT64_MAX;
  }
  if (a == b) return 0;  // also -0 == +0 and equal infinities
  if (std::isinf(a) || std::isinf(b)) return UINT64_MAX;
  auto ordered = [](F f) {
    Bits u;
    std::memcpy(&u, &f, sizeof u);
    constexpr Bits kSign = Bits{1} << (8 * sizeof(Bits) - 1);
    const auto mag = static_cast<std::int64_t>(u & ~kSign);
    return (u & kSign) ? -mag : mag;
  };
  const std::int64_t ia = ordered(a), ib = ordered(b);
  return ia > ib ? static_cast<std::uint64_t>(ia - ib) : static_cast<std::uint64_t>(ib - ia);
}

}  // namespace

RowResult row(const std::vector<double>& x, double tau, EmptyRow empty) {
  const std::size_t n = x.size();
  bool nan = false;
  std::size_t pinf = 0, live = 0;
  double m = -std::numeric_limits<double>::infinity();
  for (double v : x) {
    nan |= std::isnan(v);
    pinf += std::isinf(v) && v > 0;
    live += !(std::isinf(v) && v < 0);
    if (!std::isnan(v)) m = std::max(m, v);
  }
  if (nan) return filled(n, kNaN, kNaN, kNaN);
  if (live == 0) {
    return empty == EmptyRow::kNaN ? filled(n, kNaN, kNaN, -kInf) : filled(n, 0.0L, -kInf, -kInf);
  }
  if (pinf > 0) {
    return shared(x, [](double v) { return std::isinf(v) && v > 0; }, kInf);
  }
  if (std::isinf(tau)) {
    return shared(x, [](double v) { return !std::isinf(v); }, log_of_count(live));
  }
  if (tau == 0.0) {
    std::size_t ties = 0;
    for (double v : x) ties += v == m;
    const LD lse = m > 0 ? kInf : (m < 0 ? -kInf : log_of_count(ties));
    return shared(x, [m](double v) { return v == m; }, lse);
  }

  // Ordinary row: t_i = (x_i - m)/tau and S = ties + rest, rest = sum_{t_i < 0} exp(t_i), at 256
  // bits; log S = log1p(rest) when there is one tie, so that a winner's log-probability keeps
  // its relative accuracy even when rest is below 2^-256. One exponential per
  // entry (the cost that matters at 2^20 entries): e_i is kept rounded to long double, and
  // softmax_i = e_i / S is finished in long double (relative error below 2^-62).
  Mp t, e, sum, log_sum, mp_m, mp_tau;
  std::size_t ties = 0;
  mpfr_set_d(mp_m.get(), m, MPFR_RNDN);
  mpfr_set_d(mp_tau.get(), tau, MPFR_RNDN);
  mpfr_set_zero(sum.get(), 1);
  auto shift = [&](std::size_t i) {
    mpfr_set_d(t.get(), x[i], MPFR_RNDN);
    mpfr_sub(t.get(), t.get(), mp_m.get(), MPFR_RNDN);
    mpfr_div(t.get(), t.get(), mp_tau.get(), MPFR_RNDN);
  };
  RowResult r;
  r.softmax.assign(n, 0.0L);
  r.log_softmax.assign(n, -kInf);
  std::vector<bool> negligible(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isinf(x[i])) continue;  // -inf: masked (softmax 0, log_softmax -inf)
    shift(i);
    if (mpfr_get_d(t.get(), MPFR_RNDN) < kNegligibleExponent) {
      negligible[i] = true;
      continue;
    }
    if (mpfr_zero_p(t.get())) {
      ++ties;
      r.softmax[i] = 1.0L;
      continue;
    }
    mpfr_exp(e.get(), t.get(), MPFR_RNDN);
    mpfr_add(sum.get(), sum.get(), e.get(), MPFR_RNDN);  // rest
    r.softmax[i] = mpfr_get_ld(e.get(), MPFR_RNDN);
  }
  if (ties == 1) {
    mpfr_log1p(log_sum.get(), sum.get(), MPFR_RNDN);
  } else {
    mpfr_add_ui(e.get(), sum.get(), ties, MPFR_RNDN);
    mpfr_log(log_sum.get(), e.get(), MPFR_RNDN);
  }
  mpfr_add_ui(sum.get(), sum.get(), ties, MPFR_RNDN);
  const LD sum_ld = mpfr_get_ld(sum.get(), MPFR_RNDN);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isinf(x[i])) continue;
    shift(i);
    mpfr_sub(t.get(), t.get(), log_sum.get(), MPFR_RNDN);
    r.log_softmax[i] = mpfr_get_ld(t.get(), MPFR_RNDN);
    r.softmax[i] = negligible[i] ? std::exp(r.log_softmax[i]) : r.softmax[i] / sum_ld;
  }
  mpfr_div(e.get(), mp_m.get(), mp_tau.get(), MPFR_RNDN);
  mpfr_add(e.get(), e.get(), log_sum.get(), MPFR_RNDN);
  r.logsumexp = mpfr_get_ld(e.get(), MPFR_RNDN);
  return r;
}

std::vector<double> softmax(const std::vector<double>& x, double tau, EmptyRow empty) {
  const RowResult r = row(x, tau, empty);
  return std::vector<double>(r.softmax.begin(), r.softmax.end());
}

std::vector<double> log_softmax(const std::vector<double>& x, double tau, EmptyRow empty) {
  const RowResult r = row(x, tau, empty);
  return std::vector<double>(r.log_softmax.begin(), r.log_softmax.end());
}

double logsumexp(const std::vector<double>& x, double tau) {
  return static_cast<double>(row(x, tau).logsumexp);
}

std::uint64_t ulp_distance(float a, float b) { return ordered_distance<std::uint32_t>(a, b); }
std::uint64_t ulp_distance(double a, double b) { return ordered_distance<std::uint64_t>(a, b); }

double ulp_error_f32(float got, LD want) {
  return ulp_error<float>(got, want, FLT_MANT_DIG, FLT_MIN_EXP - 1);
}

double ulp_error_f64(double got, LD want) {
  return ulp_error<double>(got, want, DBL_MANT_DIG, DBL_MIN_EXP - 1);
}

}  // namespace logitkit::ref
