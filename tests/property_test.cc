// SPDX-License-Identifier: Apache-2.0
// RapidCheck properties of docs/design.md §2/§3: invariances, identities, bounds, merges,
// gradients, sampling.
#include <gtest/gtest.h>

#if LOGITKIT_HAVE_RAPIDCHECK

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

#include "logitkit/sampling.h"
#include "logitkit/softmax.h"
#include "tests/reference/reference.h"

namespace logitkit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Logits on the grid k/256, |k| <= 25600 (|x| <= 100): sums and differences of two such values
// (and of one and a grid shift below 2^10) are exact in float, so shifts cannot round.
rc::Gen<float> grid_value() {
  return rc::gen::map(rc::gen::inRange(-25600, 25601), [](int k) { return k / 256.0f; });
}
std::vector<float> gen_logits(std::size_t max_n) {
  const auto n = *rc::gen::inRange<std::size_t>(1, max_n + 1);
  return *rc::gen::container<std::vector<float>>(n, grid_value());
}
double gen_tau() {
  static const double kTaus[] = {1.0, 0.5, 2.0, 0.05, 20.0, 0.7, 1.3};
  return *rc::gen::elementOf(std::vector<double>(std::begin(kTaus), std::end(kTaus)));
}
SoftmaxOptions options(double tau, Precision precision = Precision::kAccurate) {
  SoftmaxOptions o;
  o.temperature = tau;
  o.precision = precision;
  return o;
}

std::vector<float> run_softmax(const std::vector<float>& x, const SoftmaxOptions& o) {
  std::vector<float> y(x.size());
  softmax(one_row(x.data(), x.size()), one_row(y.data(), y.size()), o);
  return y;
}
std::vector<float> run_log_softmax(const std::vector<float>& x, const SoftmaxOptions& o) {
  std::vector<float> y(x.size());
  log_softmax(one_row(x.data(), x.size()), one_row(y.data(), y.size()), o);
  return y;
}
float run_logsumexp(const std::vector<float>& x, const SoftmaxOptions& o) {
  float out;
  logsumexp(one_row(x.data(), x.size()), std::span<float>(&out, 1), o);
  return out;
}
bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Shift invariance: x + c has the same shifts x_i - max exactly, so the same bits come out.
RC_GTEST_PROP(Property, ShiftInvarianceIsBitwise, ()) {
  const auto x = gen_logits(300);
  const float c = *rc::gen::inRange(-262144, 262145) / 256.0f;  // |c| <= 1024
  const double tau = gen_tau();
  const auto precision = *rc::gen::element(Precision::kAccurate, Precision::kFast);
  std::vector<float> xc(x);
  for (float& v : xc) v += c;
  RC_ASSERT(bitwise_equal(run_softmax(x, options(tau, precision)),
                          run_softmax(xc, options(tau, precision))));
  RC_ASSERT(bitwise_equal(run_log_softmax(x, options(tau, precision)),
                          run_log_softmax(xc, options(tau, precision))));
  // logsumexp moves by c/tau: within the 2 ULP of each result (and the rounding of c/tau).
  const double a = run_logsumexp(x, options(tau));
  const double b = run_logsumexp(xc, options(tau));
  const double want_shift = c / tau;
  const double m = *std::max_element(xc.begin(), xc.end()) / tau;
  RC_ASSERT(std::fabs((b - a) - want_shift) <=
            4 * 0x1p-24 * (std::fabs(a) + std::fabs(b)) + 4e-16 * std::max(std::fabs(m), 1.0));
}

// Permutation equivariance: the same values in another order; only the order of the double
// sum changes, so each output stays within 2 + 2 ULP.
RC_GTEST_PROP(Property, PermutationEquivariance, ()) {
  const auto x = gen_logits(300);
  const double tau = gen_tau();
  std::vector<std::size_t> perm(x.size());
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  perm = *rc::gen::exec([perm] {
    std::vector<std::size_t> p = perm;
    for (std::size_t i = p.size(); i > 1; --i) {
      std::swap(p[i - 1], p[*rc::gen::inRange<std::size_t>(0, i)]);
    }
    return p;
  });
  std::vector<float> xp(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) xp[i] = x[perm[i]];
  const auto y = run_softmax(x, options(tau));
  const auto yp = run_softmax(xp, options(tau));
  const auto l = run_log_softmax(x, options(tau));
  const auto lp = run_log_softmax(xp, options(tau));
  for (std::size_t i = 0; i < x.size(); ++i) {
    RC_ASSERT(ref::ulp_distance(yp[i], y[perm[i]]) <= 4u ||
              (std::fabs(yp[i] - y[perm[i]]) <= 2 * FLT_MIN && y[perm[i]] < FLT_MIN));
    RC_ASSERT(ref::ulp_distance(lp[i], l[perm[i]]) <= 4u);
  }
  RC_ASSERT(ref::ulp_distance(run_logsumexp(x, options(tau)), run_logsumexp(xp, options(tau))) <= 4u);
}

// softmax(x, tau) = softmax(x / tau, 1), up to the rounding of x / tau in float: each quotient
// moves by |x_i / tau| 2^-24, which moves p_i by twice the largest such error (its own shift
// and the normaliser's), plus 2 ULP (2^-22 relative) for each result.
RC_GTEST_PROP(Property, TemperatureIsDivision, ()) {
  const auto x = gen_logits(200);
  const double tau = gen_tau();
  std::vector<float> xs(x.size());
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    xs[i] = static_cast<float>(x[i] / tau);
    worst = std::max(worst, std::fabs(static_cast<double>(x[i]) / tau));
  }
  const auto a = run_softmax(x, options(tau));
  const auto b = run_softmax(xs, options(1.0));
  const double rel = 4 * worst * 0x1p-24 + 8 * 0x1p-24;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    RC_ASSERT(d <= rel * std::max(std::fabs(a[i]), std::fabs(b[i])) * std::exp(rel) + 2 * FLT_MIN);
  }
}

// log_softmax = log(softmax) wherever softmax is a normal float: each within 2 ULP of exact.
RC_GTEST_PROP(Property, LogSoftmaxIsLogOfSoftmax, ()) {
  const auto x = gen_logits(300);
  const double tau = gen_tau();
  const auto p = run_softmax(x, options(tau));
  const auto l = run_log_softmax(x, options(tau));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (p[i] < FLT_MIN) continue;
    const double lp = std::log(static_cast<double>(p[i]));
    RC_ASSERT(std::fabs(lp - l[i]) <= 0x1p-22 * (1 + std::fabs(lp)));
  }
}

// max/tau <= logsumexp <= max/tau + log n, up to the 2 ULP of the result and the rounding of
// each bound to float (three float steps outward).
RC_GTEST_PROP(Property, LogsumexpBounds, ()) {
  auto x = gen_logits(400);
  if (*rc::gen::arbitrary<bool>()) {
    // Some masked entries, never all.
    for (std::size_t i = 1; i < x.size(); ++i) {
      if (*rc::gen::inRange(0, 3) == 0) x[i] = -kInf;
    }
  }
  const double tau = gen_tau();
  const float lse = run_logsumexp(x, options(tau));
  const double m = *std::max_element(x.begin(), x.end()) / tau;
  std::size_t k = 0;
  for (float v : x) k += v > -kInf;
  auto steps = [](float v, float toward) {
    for (int i = 0; i < 3; ++i) v = std::nextafter(v, toward);
    return v;
  };
  const float lo = steps(static_cast<float>(m), -kInf);
  const float hi = steps(static_cast<float>(m + std::log(static_cast<double>(k))), kInf);
  RC_ASSERT(lse >= lo);
  RC_ASSERT(lse <= hi);
}

// LseState: chunks merged sequentially, in reverse and as a balanced tree agree with each other
// (2^-52 relative in `rest` per merge), keep the whole row's max and ties, and each matches the
// float logsumexp within its 2 ULP (3 float steps of the rounded double; near 0 the cancellation
// allowance of softmax.h). The whole row's own state is not compared to 2^-52: the f32 chunk
// kernel's exp is accurate to 4.1e-11 relative, enough for float results.
RC_GTEST_PROP(Property, LseStateMergesInAnyGrouping, ()) {
  const auto x = gen_logits(500);
  const double tau = gen_tau();
  const std::span<const float> row(x);
  std::vector<std::size_t> cuts = {0, x.size()};
  const auto extra = *rc::gen::inRange<std::size_t>(0, 8);
  for (std::size_t i = 0; i < extra; ++i) cuts.push_back(*rc::gen::inRange<std::size_t>(0, x.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  std::vector<LseState> parts;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    parts.push_back(LseState::of(row.subspan(cuts[i], cuts[i + 1] - cuts[i]), tau));
  }
  LseState forward{.temperature = tau}, backward{.temperature = tau};
  for (const auto& s : parts) forward = forward.merge(s);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) backward = it->merge(backward);
  std::vector<LseState> level = parts;
  while (level.size() > 1) {
    std::vector<LseState> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(level[i].merge(level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = next;
  }
  const LseState whole = LseState::of(row, tau);
  const double want = forward.logsumexp();
  const double scale = std::max({std::fabs(want), std::fabs(whole.max / tau), 1.0});
  const double tol = 0x1p-52 * 2 * (static_cast<double>(parts.size()) + 1) * scale;
  const float got = run_logsumexp(x, options(tau));
  for (const LseState& s : {forward, backward, level.front()}) {
    RC_ASSERT(s.max == whole.max);
    RC_ASSERT(s.ties == whole.ties);
    RC_ASSERT(std::fabs(s.logsumexp() - want) <= tol);
    const double v = s.logsumexp();
    RC_ASSERT(ref::ulp_distance(static_cast<float>(v), got) <= 3u ||
              std::fabs(got - v) <= 2e-16 * std::max(std::fabs(whole.max / tau), 1.0) + 0x1p-24 * std::fabs(v));
  }
}

// Gradients sum to zero: softmax_backward sums to S (1 - sum y) / tau exactly, log_softmax_backward
// to sum(dy) (1 - sum exp y) / tau; the rest is rounding (2 ULP per entry and the cancellation
// term of softmax.h).
RC_GTEST_PROP(Property, GradientsSumToZero, ()) {
  const auto x = gen_logits(300);
  const auto dy = *rc::gen::container<std::vector<float>>(x.size(), grid_value());
  const double tau = gen_tau();
  const std::size_t n = x.size();
  std::vector<float> y = run_softmax(x, options(tau)), dx(n);
  softmax_backward(one_row<const float>(y.data(), n), one_row<const float>(dy.data(), n),
                   one_row(dx.data(), n), options(tau));
  long double s = 0, s_abs = 0, sum_y = 0, sum_dx = 0, abs_dx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    s += static_cast<long double>(dy[i]) * y[i];
    s_abs += std::fabs(static_cast<long double>(dy[i]) * y[i]);
    sum_y += y[i];
    sum_dx += dx[i];
    abs_dx += std::fabs(dx[i]);
  }
  long double bound = std::fabs(s * (1 - sum_y)) / tau + 0x1p-22L * abs_dx +
                      0x1p-23L * std::fabs(s) * sum_y / tau + n * 0x1p-52L * s_abs / tau + n * FLT_MIN;
  RC_ASSERT(std::fabs(sum_dx) <= bound);

  std::vector<float> l = run_log_softmax(x, options(tau));
  log_softmax_backward(one_row<const float>(l.data(), n), one_row<const float>(dy.data(), n),
                       one_row(dx.data(), n), options(tau));
  long double g = 0, g_abs = 0, sum_p = 0;
  sum_dx = abs_dx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    g += dy[i];
    g_abs += std::fabs(dy[i]);
    sum_p += std::exp(static_cast<long double>(l[i]));
    sum_dx += dx[i];
    abs_dx += std::fabs(dx[i]);
  }
  bound = std::fabs(g * (1 - sum_p)) / tau + 0x1p-22L * abs_dx +
          0x1p-22L * std::fabs(g) * sum_p / tau + n * 0x1p-52L * g_abs * sum_p / tau + n * FLT_MIN;
  RC_ASSERT(std::fabs(sum_dx) <= bound);
}

// Masking: -inf entries get exactly 0 (log_softmax -inf) and the others equal the softmax of the
// unmasked entries alone (the same exact values, so within 2 + 2 ULP).
RC_GTEST_PROP(Property, MaskedEntriesDropOut, ()) {
  const auto kept = gen_logits(200);
  const auto masks = *rc::gen::inRange<std::size_t>(1, 200);
  std::vector<float> x = kept;
  for (std::size_t i = 0; i < masks; ++i) {
    x.insert(x.begin() + *rc::gen::inRange<std::size_t>(0, x.size() + 1), -kInf);
  }
  const double tau = gen_tau();
  const auto y = run_softmax(x, options(tau));
  const auto yk = run_softmax(kept, options(tau));
  std::size_t j = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] == -kInf) {
      RC_ASSERT(y[i] == 0.0f);
    } else {
      RC_ASSERT(ref::ulp_distance(y[i], yk[j]) <= 4u || (yk[j] < FLT_MIN && std::fabs(y[i] - yk[j]) <= 2 * FLT_MIN));
      ++j;
    }
  }
}

// Sampling never returns a masked token (-inf logit, or banned by a -inf bias), whatever the
// filters, and the token it returns has mass in sampling_distribution.
RC_GTEST_PROP(Property, SamplingNeverReturnsMaskedToken, ()) {
  auto x = gen_logits(300);
  const std::size_t n = x.size();
  const auto keep = *rc::gen::inRange<std::size_t>(0, n);  // this one is never masked
  for (std::size_t i = 0; i < n; ++i) {
    if (i != keep && *rc::gen::inRange(0, 2) == 0) x[i] = -kInf;
  }
  std::vector<TokenBias> bans;
  for (std::size_t i = 0; i < n; ++i) {
    if (i != keep && *rc::gen::inRange(0, 8) == 0) bans.push_back({static_cast<std::int32_t>(i), -kInf});
  }
  SamplingParams sp;
  sp.temperature = *rc::gen::element(0.0, 0.3, 1.0, 2.0, std::numeric_limits<double>::infinity());
  sp.top_k = *rc::gen::inRange(0, 50);
  sp.top_p = *rc::gen::element(1.0, 0.9, 0.5, 0.0, 0.99);
  sp.min_p = *rc::gen::element(0.0, 0.05, 0.5, 1.0);
  sp.min_tokens_to_keep = *rc::gen::inRange(1, 4);
  sp.logit_bias = bans;
  sp.seed = *rc::gen::arbitrary<std::uint64_t>();
  const auto stream = *rc::gen::arbitrary<std::uint64_t>();
  const auto step = *rc::gen::arbitrary<std::uint64_t>();
  const auto r = sample(std::span<const float>(x), sp, stream, step);
  RC_ASSERT(r.token >= 0);
  RC_ASSERT(static_cast<std::size_t>(r.token) < n);
  RC_ASSERT(x[r.token] > -kInf);
  for (const auto& b : bans) RC_ASSERT(b.token != r.token);
  std::vector<float> probs(n);
  sampling_distribution(x, sp, probs);
  RC_ASSERT(probs[r.token] > 0.0f);
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == -kInf) RC_ASSERT(probs[i] == 0.0f);
  }
  for (const auto& b : bans) RC_ASSERT(probs[b.token] == 0.0f);
}

}  // namespace
}  // namespace logitkit

#else

TEST(Property, RequiresRapidCheck) {
  GTEST_SKIP() << "RapidCheck (librapidcheck-dev) not found: property tests not built";
}

#endif  // LOGITKIT_HAVE_RAPIDCHECK
