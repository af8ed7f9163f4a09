// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the losses of loss.h (cross_entropy with class-index and probability targets,
// distillation_loss, contrastive_loss), float inputs, checked against the header's contracts.
//
// One input decodes (FuzzedDataProvider) into a function, a shape (up to 8 x 300, or 1-2 rows of
// 16384 + up to 3000 entries, crossing the 16384-entry chunk), row padding, every option (in and
// out of range), which outputs are requested (some of the wrong size), threads 1 or 2, and
// values: k/256 at a per-row scale (1, 1/64, 64, 1e4), ties, log-probability rows, and in some
// rows NaN, +-inf, +-0, subnormals, FLT_MIN, +-3e38, +-FLT_MAX, 1e+-30 and raw bit patterns.
// Checked, besides ASan/UBSan:
//   - the preconditions of loss.h: an invalid argument throws std::invalid_argument and leaves
//     every output (and its padding) untouched; a valid call never throws, never writes padding,
//     never changes an input;
//   - threads 1 and 2 give the same bits (loss, row_loss, lse, grad); each row computed alone gives
//     the same row_loss and lse bits, and the same gradient bits where the reduction does not
//     depend on the batch (kSum, kNone; no hard-label term); cross_entropy's in-place gradient
//     (grad == x) equals the out-of-place one;
//   - the special rows of loss.h: NaN -> row_loss, lse, gradient NaN; all -inf -> lse -inf,
//     row_loss +inf, gradient 0; +inf entries -> the limit (loss from log k, gradient 0); a -inf
//     entry with weight -> row_loss +inf; ignored rows -> loss 0, gradient 0; contrastive with a
//     non-finite input -> NaN everywhere;
//   - with finite inputs and options in a moderate range, every output finite (no NaN where a
//     number exists);
//   - Precision::kAccurate against the double overloads (computed in long double): cross_entropy
//     row_loss and lse within 4 ULP, each gradient entry within 2 ULP + 2^-24 x the row's gradient
//     scale (finite rows of up to 64 entries also against the 256-bit MPFR reference of
//     tests/reference, independent of the library), the reduced loss within 4 x 2^-23 relative
//     (a sum of non-negative rows); the
//     gradient of a plain row (no weights, z-loss or softcap; kSum/kNone) sums to 0;
//     distillation row_loss within 1e-6 relative + 1e-7 absolute and each gradient entry within
//     2 ULP + 2^-22 c (p_j + q_j) plus the subnormal terms of loss.h (p, q in long double here);
//     contrastive loss within the matrix product's rounding, D 2^-24 s |a||b|, with a margin.
//     One allowance goes beyond loss.h, found here and reported (open): distillation's 1e-7
//     absolute is taken times the tau^2 factor.
// The double overloads are a separate code path (the long double engine) but the same library:
// an error common to both is seen only by the MPFR check and the exact checks of special rows.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "logitkit/loss.h"
#include "tests/reference/reference.h"

namespace {

using logitkit::ContrastiveOptions;
using logitkit::ContrastiveOutputs;
using logitkit::CrossEntropyOptions;
using logitkit::DistillationOptions;
using logitkit::Divergence;
using logitkit::LossOutputs;
using logitkit::Precision;
using logitkit::Reduction;
using logitkit::Rows;
using LD = long double;

constexpr std::size_t kMaxRows = 8;
constexpr std::size_t kMaxCols = 300;
constexpr std::size_t kChunk = 16384;
constexpr std::size_t kGuard = 5;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string g_name;  // the case, for messages
std::vector<std::pair<const char*, std::vector<float>>> g_inputs;  // printed on failure

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "contract violated: %s: %s\n", g_name.c_str(), what.c_str());
  for (const auto& [name, v] : g_inputs) {
    std::fprintf(stderr, "%s (%zu values):", name, v.size());
    const char* limit = std::getenv("LOSS_FUZZ_DUMP");  // how many values (default 400)
    const std::size_t lim = limit ? std::strtoull(limit, nullptr, 10) : 400;
    for (std::size_t i = 0; i < v.size() && i < lim; ++i) std::fprintf(stderr, " %.9g", v[i]);
    std::fprintf(stderr, "\n");
  }
  std::abort();
}
void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}
std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
template <class T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <std::size_t N, class T>
T pick(FuzzedDataProvider& p, const T (&table)[N]) {
  return table[p.ConsumeIntegralInRange<std::size_t>(0, N - 1)];
}

// A rows x cols matrix with padding between and after rows, all holding a sentinel.
template <class T>
struct Buffer {
  std::vector<T> buf;
  std::size_t rows = 0, cols = 0, stride = 0;
  Buffer() = default;
  Buffer(std::size_t r, std::size_t c, std::size_t s, T sentinel)
      : buf((r == 0 ? 0 : (r - 1) * s + c) + kGuard, sentinel), rows(r), cols(c), stride(s) {}
  T* row(std::size_t r) { return buf.data() + r * stride; }
  const T* row(std::size_t r) const { return buf.data() + r * stride; }
  Rows<T> view() { return {buf.data(), rows, cols, stride}; }
  Rows<const T> cview() const { return {buf.data(), rows, cols, stride}; }
  bool inside(std::size_t i) const {
    return rows > 0 && cols > 0 && i < (rows - 1) * stride + cols && i % stride < cols;
  }
};
template <class T>
bool all_is(const std::vector<T>& v, T sentinel) {
  for (const T& x : v) {
    if (!same_bits(x, sentinel)) return false;
  }
  return true;
}
template <class T>
bool padding_intact(const Buffer<T>& b, T sentinel) {
  for (std::size_t i = 0; i < b.buf.size(); ++i) {
    if (!b.inside(i) && !same_bits(b.buf[i], sentinel)) return false;
  }
  return true;
}
Buffer<double> to_double(const Buffer<float>& b) {
  Buffer<double> d(b.rows, b.cols, b.stride, 0.0);
  for (std::size_t i = 0; i < b.buf.size(); ++i) d.buf[i] = b.buf[i];
  return d;
}

constexpr float kSentinel = -12345.625f;

// ---- values ---------------------------------------------------------------------------------

struct RowStyle {
  float scale;
  bool specials;  // NaN, inf, huge values and raw bits may appear
  bool logprob;   // the row is replaced by its log-softmax (teacher log-probabilities, cancelling lse)
};

RowStyle next_style(FuzzedDataProvider& p) {
  static const float kScale[] = {1.0f, 1.0f, 1.0f / 64, 64.0f, 1e4f};
  const std::uint8_t k = p.ConsumeIntegral<std::uint8_t>();
  return {kScale[k % 5], (k >> 3) % 4 == 0, (k >> 5) % 4 == 0};
}

float next_value(FuzzedDataProvider& p, float prev, const RowStyle& st) {
  static const float kSpecial[] = {
      std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY, -INFINITY, 0.0f, -0.0f,
      std::numeric_limits<float>::denorm_min(), FLT_MIN, 3e38f, -3e38f, FLT_MAX, -FLT_MAX,
      88.0f, -104.0f, 1e30f, -1e30f};
  const std::uint8_t k = p.ConsumeIntegral<std::uint8_t>();
  if (st.specials && k % 8 == 5) return kSpecial[(k >> 3) % 16];
  if (st.specials && k % 16 == 6) {
    const std::uint32_t b = p.ConsumeIntegral<std::uint32_t>();
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (k % 8 == 7) return prev;  // a tie
  return static_cast<float>(p.ConsumeIntegral<std::int16_t>()) / 256.0f * st.scale;
}

void make_logprob(float* x, std::size_t n) {
  double m = -kInf;
  for (std::size_t j = 0; j < n; ++j) {
    if (!std::isfinite(x[j])) return;
    m = std::max<double>(m, x[j]);
  }
  LD s = 0;
  for (std::size_t j = 0; j < n; ++j) s += std::exp(static_cast<LD>(x[j]) - m);
  const LD l = m + std::log(s);
  for (std::size_t j = 0; j < n; ++j) x[j] = static_cast<float>(x[j] - l);
}

// Fills a matrix; a long row repeats a fuzzed pattern of up to 64 values.
void fill(Buffer<float>& b, FuzzedDataProvider& p, bool long_row) {
  float prev = 0.0f;
  for (std::size_t r = 0; r < b.rows; ++r) {
    const RowStyle st = next_style(p);
    float* x = b.row(r);
    if (long_row) {
      std::vector<float> pat(p.ConsumeIntegralInRange<std::size_t>(1, 64));
      for (float& v : pat) prev = v = next_value(p, prev, st);
      for (std::size_t j = 0; j < b.cols; ++j) x[j] = pat[(j * 7 + r) % pat.size()];
      const std::size_t spot = p.ConsumeIntegralInRange<std::size_t>(0, b.cols - 1);
      x[spot] = next_value(p, prev, st);  // a lone value somewhere (a unique max, say)
    } else {
      for (std::size_t j = 0; j < b.cols; ++j) prev = x[j] = next_value(p, prev, st);
    }
    if (st.logprob) make_logprob(x, b.cols);
  }
}

struct RowInfo {
  bool nan = false, pinf = false, ninf = false, finite = true, any_finite = false;
  double max_abs = 0;
};
RowInfo info(const float* x, std::size_t n) {
  RowInfo r;
  for (std::size_t j = 0; j < n; ++j) {
    const float v = x[j];
    r.nan |= std::isnan(v);
    r.pinf |= v == INFINITY;
    r.ninf |= v == -INFINITY;
    r.any_finite |= std::isfinite(v);
    if (std::isfinite(v)) r.max_abs = std::max<double>(r.max_abs, std::fabs(v));
  }
  r.finite = !r.nan && !r.pinf && !r.ninf;
  return r;
}

bool finite_f(float v) { return std::isfinite(v); }

// ULPs of the float spacing at |want| beyond an absolute slack.
double ulps_beyond(float got, LD want, LD slack) {
  if (std::isnan(want) || std::isinf(want)) return logitkit::ref::ulp_error_f32(got, want);
  if (std::isnan(got) || std::isinf(got)) return logitkit::ref::ulp_error_f32(got, want);
  const LD excess = std::fabs(static_cast<LD>(got) - want) - slack;
  if (excess <= 0) return 0.0;
  const LD ulp = std::ldexp(1.0L, std::max(std::ilogb(std::max(std::fabs(want), 0x1p-126L)), -126) - 23);
  return static_cast<double>(excess / ulp);
}

// Valid temperatures (tiny and huge included); kBadTau: the invalid ones.
double tau_of(FuzzedDataProvider& p) {
  static const double kTau[] = {1.0, 1.0, 1.0, 0.5, 2.0, 0.07, 1e-3, 1e3,
                                1e-30, 1e30, 4.9e-324, 20.0, 1.0, 1e-300, 1e-39, 1e-5};
  return pick(p, kTau);
}
constexpr double kBadTau[] = {0.0, -0.0, -1.0, kInf, kNaN, -kInf};

// ---- cross-entropy ----------------------------------------------------------------------------

struct CeCase {
  bool prob = false;
  Buffer<float> x, y;
  std::vector<std::int64_t> target;
  std::vector<double> weight;
  CrossEntropyOptions o;
  bool want_grad = false, want_rl = false, want_lse = false, in_place = false;
  int bad_shape = 0;  // 1: grad cols + 1; 2: row_loss size; 3: lse size; 4: target size; 5: y cols
                      // 6: x row_stride < cols (2+ rows)
};

// w_j q_j of the row (q the smoothed one-hot or y'), as loss.h defines it.
std::vector<double> ce_coef(const CeCase& c, std::size_t r) {
  const std::size_t C = c.x.cols;
  const double eps = c.o.label_smoothing;
  std::vector<double> a(C);
  const bool meg = c.o.smoothing == logitkit::LabelSmoothing::kMegatron;
  for (std::size_t j = 0; j < C; ++j) {
    const double w = c.weight.empty() ? 1.0 : c.weight[j];
    double q;
    if (c.prob) {
      q = (1 - eps) * c.y.row(r)[j] + eps / static_cast<double>(C);
    } else {
      const bool is_t = static_cast<std::int64_t>(j) == c.target[r];
      q = (is_t ? 1 - eps : 0.0) +
          (eps == 0 ? 0.0 : meg ? (is_t ? 0.0 : eps / static_cast<double>(C - 1)) : eps / static_cast<double>(C));
    }
    a[j] = w * q;
  }
  return a;
}

bool ce_valid(const CeCase& c) {
  const CrossEntropyOptions& o = c.o;
  const std::size_t C = c.x.cols;
  if (c.bad_shape != 0) return false;
  if (o.reduction == Reduction::kBatchMean) return false;
  if (!(o.temperature > 0) || std::isinf(o.temperature)) return false;
  if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1)) return false;
  const bool meg = o.smoothing == logitkit::LabelSmoothing::kMegatron && o.label_smoothing > 0;
  if (meg && (c.prob || C < 2)) return false;
  if (!(o.z_loss >= 0) || std::isinf(o.z_loss)) return false;
  if (!(o.softcap >= 0) || std::isinf(o.softcap)) return false;
  if (!c.weight.empty()) {
    if (c.weight.size() != C) return false;
    for (double w : c.weight) {
      if (!(w >= 0) || std::isinf(w)) return false;
    }
  }
  if (c.in_place && o.softcap != 0) return false;
  if (c.prob) {
    for (std::size_t r = 0; r < c.y.rows; ++r) {
      for (std::size_t j = 0; j < C; ++j) {
        const float v = c.y.row(r)[j];
        if (!(v >= 0) || std::isinf(v)) return false;
      }
    }
  } else {
    for (std::int64_t t : c.target) {
      if (t != o.ignore_index && (t < 0 || t >= static_cast<std::int64_t>(C))) return false;
    }
  }
  return true;
}

struct CeOut {
  Buffer<float> grad;
  std::vector<float> rl, lse;
  double loss = 0;
};

// The buffers are set up in r before the call, so that a throwing call leaves them to inspect.
void ce_call(const CeCase& c, const CrossEntropyOptions& o, CeOut& r,
             const Buffer<float>* xin = nullptr) {
  const std::size_t rows = c.x.rows, cols = c.x.cols;
  r.grad = Buffer<float>(rows, cols + (c.bad_shape == 1), c.x.stride + 1 + (c.bad_shape == 1),
                         kSentinel);
  r.rl.assign(rows + kGuard, kSentinel);
  r.lse.assign(rows + kGuard, kSentinel);
  LossOutputs<float> out;
  if (c.want_grad) out.grad = r.grad.view();
  if (c.want_rl) out.row_loss = std::span<float>(r.rl.data(), rows + (c.bad_shape == 2));
  if (c.want_lse) out.lse = std::span<float>(r.lse.data(), rows + (c.bad_shape == 3));
  Rows<const float> xv = xin ? xin->cview() : c.x.cview();
  if (c.bad_shape == 6) xv.row_stride = cols - 1;
  if (c.prob) {
    Rows<const float> yv = c.y.cview();
    if (c.bad_shape == 5) yv.cols += 1, yv.row_stride += 1;
    r.loss = logitkit::cross_entropy(xv, yv, o, out);
  } else {
    std::span<const std::int64_t> t(c.target.data(), c.target.size() - (c.bad_shape == 4));
    r.loss = logitkit::cross_entropy(xv, t, o, out);
  }
}
CeOut ce_call(const CeCase& c, const CrossEntropyOptions& o) {
  CeOut r;
  ce_call(c, o, r);
  return r;
}

void check_same_ce(const CeOut& a, const CeOut& b, std::size_t rows, std::size_t cols,
                   const std::string& what) {
  check(same_bits(a.loss, b.loss), what + ": loss " + num(a.loss) + " vs " + num(b.loss));
  for (std::size_t r = 0; r < rows; ++r) {
    check(same_bits(a.rl[r], b.rl[r]), what + ": row_loss of row " + std::to_string(r));
    check(same_bits(a.lse[r], b.lse[r]), what + ": lse of row " + std::to_string(r));
    check(std::memcmp(a.grad.row(r), b.grad.row(r), cols * sizeof(float)) == 0,
          what + ": gradient of row " + std::to_string(r));
  }
}

// A finite, counted row of at most 64 entries against the 256-bit MPFR reference
// (tests/reference), independent of the library: row_loss = sum_j a_j (-log_softmax_j) +
// lambda lse^2 and lse within 4 ULP, each gradient entry red / tau ((S + 2 lambda lse) p_j - a_j)
// dz_j/dx_j within 2 ULP + 2^-24 x the row's gradient scale. With softcap the reference takes z
// rounded to double (slack 2^-53 max|z| / tau on u) besides the float rounding's du.
void check_ce_mpfr(const CeCase& c, std::size_t r, const std::vector<double>& coef, double S, LD du,
                   const CeOut& a, const std::string& at) {
  const std::size_t C = c.x.cols;
  const float* x = c.x.row(r);
  const double tau = c.o.temperature, cap = c.o.softcap, lambda = c.o.z_loss;
  std::vector<double> z(C);
  LD zm = 0;
  for (std::size_t j = 0; j < C; ++j) {
    z[j] = cap > 0 ? static_cast<double>(cap * std::tanh(static_cast<LD>(x[j]) / cap)) : x[j];
    zm = std::max<LD>(zm, std::fabs(z[j]));
  }
  const LD dud = cap > 0 ? 0x1p-53L * zm / tau : 0.0L;
  const LD dz = du + dud;  // du is 0 without softcap
  const logitkit::ref::RowResult ref = logitkit::ref::row(z, tau);
  const LD lse = ref.logsumexp;
  LD want = 0;
  for (std::size_t j = 0; j < C; ++j) {
    if (coef[j] > 0) want -= coef[j] * ref.log_softmax[j];
  }
  want += lambda * lse * lse;
  const LD w = 2 * S + (lambda > 0 ? 2 * lambda * std::fabs(lse) : 0.0L);
  const double le = ulps_beyond(a.rl[r], want, w > 0 && dz > 0 ? w * dz : 0.0L);
  check(le <= 4.01, at + "row_loss " + num(a.rl[r]) + " vs MPFR " + num(static_cast<double>(want)) +
                        " (" + num(le) + " ULP)");
  const double se = ulps_beyond(a.lse[r], lse, dz);
  check(se <= 4.01, at + "lse " + num(a.lse[r]) + " vs MPFR " + num(static_cast<double>(lse)) + " (" +
                        num(se) + " ULP)");
  if (c.o.reduction == Reduction::kMean) return;  // (the denominator: checked against double)
  const LD sz = S + (lambda > 0 ? 2 * lambda * lse : 0.0L);
  double cmax = 0;
  for (double v : coef) cmax = std::max(cmax, v);
  const LD rt = 1.0L / tau;
  const LD gscale = std::fabs(sz) + cmax == 0 ? 0.0L : rt * (std::fabs(sz) + cmax);
  if (!(0x1p-24L * gscale < FLT_MAX)) return;
  const LD gslack = 0x1p-24L * gscale + (dz > 0 ? rt * (std::fabs(sz) * 2 * dz + 2 * lambda * dz) : 0.0L);
  const float* g = a.grad.row(r);
  for (std::size_t j = 0; j < C; ++j) {
    LD slope = 1;
    if (cap > 0) {
      const LD th = std::tanh(static_cast<LD>(x[j]) / cap);
      slope = (1 - th) * (1 + th);
    }
    const LD want_g = rt * (sz * ref.softmax[j] - coef[j]) * slope;
    const double e = ulps_beyond(g[j], want_g, gslack);
    check(e <= 2.01, at + "gradient entry " + std::to_string(j) + " " + num(g[j]) + " vs MPFR " +
                         num(static_cast<double>(want_g)) + " (" + num(e) + " ULP beyond the slack)");
  }
}

void run_ce(CeCase& c, FuzzedDataProvider& p) {
  const std::size_t rows = c.x.rows, C = c.x.cols;
  c.o.weight = c.weight;
  const bool valid = ce_valid(c);
  const std::vector<float> x_before = c.x.buf;
  Buffer<float> xin;  // the in-place buffer: a copy of x, overwritten by grad
  CeOut out;
  try {
    if (c.in_place) {
      xin = c.x;
      out.rl.assign(rows + kGuard, kSentinel);
      out.lse.assign(rows + kGuard, kSentinel);
      LossOutputs<float> o;
      o.grad = xin.view();
      if (c.want_rl) o.row_loss = std::span<float>(out.rl.data(), rows);
      if (c.want_lse) o.lse = std::span<float>(out.lse.data(), rows);
      Rows<const float> xv = xin.cview();
      if (c.bad_shape == 6) xv.row_stride = C - 1;
      out.loss = c.prob ? logitkit::cross_entropy(xv, c.y.cview(), c.o, o)
                        : logitkit::cross_entropy(xv, std::span<const std::int64_t>(c.target), c.o, o);
    } else {
      ce_call(c, c.o, out);
    }
    check(valid, "invalid arguments accepted");
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("std::invalid_argument on valid arguments: ") + e.what());
    if (c.in_place) {
      check(xin.buf == c.x.buf || std::memcmp(xin.buf.data(), c.x.buf.data(), xin.buf.size() * 4) == 0,
            "in-place gradient written before throwing");
    }
    check(all_is(out.rl, kSentinel) && all_is(out.lse, kSentinel) &&
              all_is(out.grad.buf, kSentinel),
          "output written before throwing");
    return;
  }
  check(std::memcmp(x_before.data(), c.x.buf.data(), x_before.size() * 4) == 0, "x changed");
  if (c.in_place) {
    // The same call out of place: the same bits, then work on that.
    CeCase oop = c;
    oop.in_place = false;
    oop.want_grad = true;
    CeOut ref = ce_call(oop, c.o);
    for (std::size_t r = 0; r < rows; ++r) {
      check(std::memcmp(xin.row(r), ref.grad.row(r), C * 4) == 0,
            "in-place gradient differs, row " + std::to_string(r));
    }
    check(same_bits(out.loss, ref.loss), "in-place loss differs");
    for (std::size_t r = 0; r < rows && c.want_rl; ++r) check(same_bits(out.rl[r], ref.rl[r]), "in-place row_loss differs");
    c.in_place = false;
    c.want_grad = true;
    out = ref;
  }
  check(padding_intact(out.grad, kSentinel), "grad padding written");
  for (std::size_t i = rows; i < out.rl.size(); ++i) check(same_bits(out.rl[i], kSentinel), "row_loss written past its end");
  for (std::size_t i = rows; i < out.lse.size(); ++i) check(same_bits(out.lse[i], kSentinel), "lse written past its end");
  if (!c.want_grad) check(all_is(out.grad.buf, kSentinel), "grad written though not requested");
  if (!c.want_rl) check(all_is(out.rl, kSentinel), "row_loss written though not requested");
  if (!c.want_lse) check(all_is(out.lse, kSentinel), "lse written though not requested");

  // Every output, for the remaining checks; threads 1 vs 2.
  CeCase full = c;
  full.want_grad = full.want_rl = full.want_lse = true;
  const CeOut a = ce_call(full, c.o);
  if (c.want_grad || c.want_rl || c.want_lse) {
    // Asking for fewer outputs changes nothing in those asked for.
    check(same_bits(a.loss, out.loss), "loss depends on the outputs requested");
    for (std::size_t r = 0; r < rows; ++r) {
      if (c.want_rl) check(same_bits(a.rl[r], out.rl[r]), "row_loss depends on the outputs requested");
      if (c.want_lse) check(same_bits(a.lse[r], out.lse[r]), "lse depends on the outputs requested");
      if (c.want_grad) {
        check(std::memcmp(a.grad.row(r), out.grad.row(r), C * 4) == 0,
              "grad depends on the outputs requested");
      }
    }
  }
  CrossEntropyOptions other = c.o;
  other.threads = c.o.threads == 1 ? 2 : 1;
  check_same_ce(a, ce_call(full, other), rows, C, "threads 1 vs 2 differ");
  if (rows > 1) {
    for (std::size_t r = 0; r < rows; ++r) {
      CeCase one = full;
      one.x = Buffer<float>(1, C, C, 0.0f);
      std::copy_n(c.x.row(r), C, one.x.row(0));
      if (c.prob) {
        one.y = Buffer<float>(1, C, C, 0.0f);
        std::copy_n(c.y.row(r), C, one.y.row(0));
      } else {
        one.target = {c.target[r]};
      }
      const CeOut b = ce_call(one, c.o);
      const std::string at = "row " + std::to_string(r) + " alone differs from the batch: ";
      check(same_bits(a.rl[r], b.rl[0]), at + "row_loss " + num(a.rl[r]) + " vs " + num(b.rl[0]));
      check(same_bits(a.lse[r], b.lse[0]), at + "lse");
      if (c.o.reduction != Reduction::kMean) {
        check(std::memcmp(a.grad.row(r), b.grad.row(0), C * 4) == 0, at + "gradient");
      }
    }
  }

  // The double overload (long double inside), on the same values.
  const Buffer<double> xd = to_double(c.x);
  Buffer<double> yd;
  if (c.prob) yd = to_double(c.y);
  Buffer<double> gd(rows, C, C, 0.0);
  std::vector<double> rld(rows), lsed(rows);
  const LossOutputs<double> od{gd.view(), rld, lsed};
  CrossEntropyOptions o1 = c.o;
  o1.threads = 1;
  const double loss_d = c.prob ? logitkit::cross_entropy(xd.cview(), yd.cview(), o1, od)
                               : logitkit::cross_entropy(xd.cview(), std::span<const std::int64_t>(c.target), o1, od);

  // Denominator of kMean, and whether the mean is the empty-set NaN.
  double den = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    if (c.prob) den += 1;
    else if (c.target[r] != c.o.ignore_index) den += c.weight.empty() ? 1.0 : c.weight[c.target[r]];
  }
  const bool mean = c.o.reduction == Reduction::kMean;
  const bool nan_mean = mean && den == 0 && c.o.empty_mean == logitkit::EmptyMean::kNaN;
  const double tau = c.o.temperature;
  const bool cap = c.o.softcap > 0;
  const double lambda = c.o.z_loss;
  bool any_nan_row = false;
  LD cap_slack = 0;  // the softcap rounding's share of the reduced loss's error
  bool moderate = tau >= 1e-3 && tau <= 1e3 && lambda <= 1e3 && !nan_mean;
  for (double w : c.weight) moderate &= w <= 1e3;
  if (mean && den > 0) moderate &= den >= 1e-3;

  for (std::size_t r = 0; r < rows; ++r) {
    const float* x = c.x.row(r);
    const RowInfo ri = info(x, C);
    const float* g = a.grad.row(r);
    const std::string at = "row " + std::to_string(r) + " ";
    const bool ignored = !c.prob && c.target[r] == c.o.ignore_index;
    if (ignored) {
      check(a.rl[r] == 0, at + "ignored but row_loss " + num(a.rl[r]));
      for (std::size_t j = 0; j < C; ++j) check(g[j] == 0, at + "ignored but gradient not 0");
      continue;
    }
    const std::vector<double> coef = ce_coef(c, r);
    double S = 0;
    for (double v : coef) S += v;
    any_nan_row |= ri.nan;
    if (ri.nan) {
      check(std::isnan(a.rl[r]) && std::isnan(a.lse[r]), at + "NaN in the row but row_loss/lse not NaN");
      for (std::size_t j = 0; j < C; ++j) check(std::isnan(g[j]), at + "NaN in the row but gradient not NaN");
      continue;
    }
    if (!ri.any_finite && !(cap && ri.pinf)) {
      if (!ri.pinf) {  // all -inf
        check(a.lse[r] == -INFINITY, at + "all -inf but lse " + num(a.lse[r]));
        if (S > 0) check(a.rl[r] == INFINITY, at + "all -inf but row_loss " + num(a.rl[r]));
        for (std::size_t j = 0; j < C; ++j) check(g[j] == 0, at + "all -inf but gradient not 0");
        continue;
      }
    }
    if (ri.pinf && !cap) {
      std::size_t k = 0;
      for (std::size_t j = 0; j < C; ++j) k += x[j] == INFINITY;
      LD want = 0;
      for (std::size_t j = 0; j < C; ++j) {
        if (coef[j] > 0) want += x[j] == INFINITY ? coef[j] * std::log(static_cast<LD>(k)) : kInf;
      }
      if (lambda > 0) want = kInf;
      check(a.lse[r] == INFINITY, at + "+inf entries but lse " + num(a.lse[r]));
      check(logitkit::ref::ulp_error_f32(a.rl[r], want) <= 4.0,
            at + "+inf limit: row_loss " + num(a.rl[r]) + " vs " + num(static_cast<double>(want)));
      for (std::size_t j = 0; j < C; ++j) check(g[j] == 0, at + "+inf entries but gradient not 0");
      continue;
    }
    // Rows with finite entries (-inf allowed; +inf only under softcap, where it becomes c).
    bool inf_term = false;
    for (std::size_t j = 0; j < C; ++j) inf_term |= x[j] == -INFINITY && coef[j] > 0;
    if (inf_term) check(a.rl[r] == INFINITY, at + "a weighted -inf entry but row_loss " + num(a.rl[r]));
    // (+inf under softcap becomes c.)
    if (moderate && std::max(ri.max_abs, ri.pinf ? c.o.softcap : 0.0) <= 1e6) {
      if (!inf_term) check(finite_f(a.rl[r]), at + "row_loss not finite: " + num(a.rl[r]));
      check(finite_f(a.lse[r]), at + "lse not finite: " + num(a.lse[r]));
      for (std::size_t j = 0; j < C; ++j) {
        check(finite_f(g[j]), at + "gradient entry " + std::to_string(j) + " not finite: " + num(g[j]));
      }
    }
    if (c.o.precision != Precision::kAccurate) continue;
    // Against the double overload: row_loss and lse 4 ULP (the double result's own error is
    // ~2^-53 relative, 2^-29 of a float ULP: the 0.01 ULP added covers it).
    // (This fuzzer found that the float path's rounding of z_j = c tanh(x_j / c) to float cost
    // 20-100 ULP of a confident row's loss; kAccurate with softcap now takes the long double
    // engine, so no slack du is allowed for it any more.)
    const LD du = 0;
    const LD rl_w = 2 * S + (lambda > 0 ? 2 * lambda * std::fabs(static_cast<LD>(lsed[r])) : 0.0L);
    const LD rl_slack = cap && rl_w > 0 && du > 0 ? rl_w * du : 0.0L;
    cap_slack += rl_slack;
    const double le = ulps_beyond(a.rl[r], rld[r], rl_slack);
    check(le <= 4.01, at + "row_loss " + num(a.rl[r]) + " vs double " + num(rld[r]) + " (" + num(le) + " ULP)");
    const double se = ulps_beyond(a.lse[r], lsed[r], du);
    check(se <= 4.01, at + "lse " + num(a.lse[r]) + " vs double " + num(lsed[r]) + " (" + num(se) + " ULP)");
    if (ri.finite && C <= 64) check_ce_mpfr(c, r, coef, S, du, a, at);
    if (nan_mean) continue;
    // Gradient: 2 ULP + 2^-24 x the row's gradient scale, the factor of p_j and of the largest
    // target term: red / tau (|S + 2 lambda lse| + max_j w_j q_j).
    const double red = mean ? (den == 0 ? 0.0 : 1.0 / den) : 1.0;
    double cmax = 0;
    for (double v : coef) cmax = std::max(cmax, v);
    // (0 x inf is 0 here: S = 0, lambda = 0 or red = 0 take their terms out.)
    const LD sz = std::fabs(S + (lambda > 0 ? 2 * lambda * static_cast<LD>(lsed[r]) : 0.0L));
    const LD rt = red == 0 ? 0.0L : static_cast<LD>(red) / tau;
    const LD gscale = sz + cmax == 0 ? 0.0L : rt * (sz + cmax);
    // (p_j moves by 2 p_j du, and S + 2 lambda lse by 2 lambda du.)
    const LD gcap = cap && rt > 0 && du > 0 ? rt * (sz * 2 * du + 2 * lambda * du) : 0.0L;
    // Where the slack itself exceeds FLT_MAX (tau ~ 1e-300) the bound says nothing a float can
    // show: an exact 0 computed as e k - b0 with k ~ b0 ~ 1e296 may round to +-inf there.
    if (!(0x1p-24L * gscale < FLT_MAX)) continue;
    LD gsum = 0, gabs = 0;
    for (std::size_t j = 0; j < C; ++j) {
      const double e = ulps_beyond(g[j], gd.row(r)[j], 0x1p-24L * gscale + gcap);
      check(e <= 2.01, at + "gradient entry " + std::to_string(j) + " " + num(g[j]) + " vs double " +
                           num(gd.row(r)[j]) + " (" + num(e) + " ULP beyond 2^-24 x " +
                           num(static_cast<double>(gscale)) + ")");
      gsum += g[j];
      gabs += std::fabs(static_cast<LD>(g[j]));
    }
    // sum_j (S p_j - w_j q_j) = 0 without weights (S = sum q = 1), z-loss or softcap.
    if (c.weight.empty() && lambda == 0 && !cap && ri.finite && !mean && std::isfinite(gabs) &&
        gscale < FLT_MAX) {
      const LD tol = 3 * 0x1p-24L * gabs + static_cast<LD>(C) * 0x1p-24L * gscale;
      check(std::fabs(gsum) <= tol, at + "gradient sums to " + num(static_cast<double>(gsum)) +
                                        " (tolerance " + num(static_cast<double>(tol)) + ")");
    }
  }
  if (any_nan_row) check(std::isnan(a.loss), "a counted NaN row but loss " + num(a.loss));
  if (nan_mean) check(std::isnan(a.loss), "mean over an empty set with EmptyMean::kNaN gave " + num(a.loss));
  if (mean && den == 0 && c.o.empty_mean == logitkit::EmptyMean::kZero) {
    check(a.loss == 0, "mean over an empty set with EmptyMean::kZero gave " + num(a.loss));
  }
  if (c.o.precision == Precision::kAccurate && std::isfinite(loss_d)) {
    // Every row loss is >= 0 and within 4 ULP (relative 2^-21 at most); the sum keeps that.
    // A row loss below FLT_MIN is within 4 x 2^-149 absolute only.
    const double sub = static_cast<double>(rows) * 4 * 0x1p-149 * (mean && den > 0 ? 1 / den : 1.0);
    const double capped = static_cast<double>(cap_slack) * (mean && den > 0 ? 1 / den : 1.0);
    check(std::fabs(a.loss - loss_d) <= 4 * 0x1p-23 * std::fabs(loss_d) + sub + capped ||
              (!std::isfinite(a.loss) && std::fabs(loss_d) > 1e300),
          "loss " + num(a.loss) + " vs double " + num(loss_d));
  } else if (c.o.precision == Precision::kAccurate) {
    check(std::isnan(loss_d) ? std::isnan(a.loss) : a.loss == loss_d,
          "loss " + num(a.loss) + " vs double " + num(loss_d));
  }
  (void)p;
}

void decode_ce(FuzzedDataProvider& p, bool prob, std::size_t rows, std::size_t cols,
               std::size_t stride, bool long_row, int threads, int bad) {
  CeCase c;
  c.prob = prob;
  CrossEntropyOptions& o = c.o;
  static const Reduction kRed[] = {Reduction::kMean, Reduction::kMean, Reduction::kSum,
                                   Reduction::kNone, Reduction::kSum};
  o.reduction = pick(p, kRed);
  const std::int64_t kIgnore[] = {-100, 0, 1, -1, static_cast<std::int64_t>(cols) - 1};
  o.ignore_index = pick(p, kIgnore);
  static const double kEps[] = {0.0, 0.0, 0.0, 0.1, 1.0, 0.5, 1e-9, 0.999999};
  o.label_smoothing = pick(p, kEps);
  o.smoothing = p.ConsumeBool() ? logitkit::LabelSmoothing::kMegatron : logitkit::LabelSmoothing::kPyTorch;
  static const double kZ[] = {0.0, 0.0, 0.0, 1e-4, 1.0, 1e3};
  o.z_loss = pick(p, kZ);
  static const double kCap[] = {0.0, 0.0, 0.0, 0.0, 30.0, 1.0, 1e-3, 1e30};
  o.softcap = pick(p, kCap);
  o.temperature = tau_of(p);
  o.empty_mean = p.ConsumeBool() ? logitkit::EmptyMean::kZero : logitkit::EmptyMean::kNaN;
  o.precision = p.ConsumeIntegralInRange<int>(0, 3) == 0 ? Precision::kFast : Precision::kAccurate;
  o.threads = threads;
  if (bad == 1) {  // one option out of range
    static const double kBadNum[] = {-1.0, kNaN, kInf, -kInf, -1e-300};
    switch (p.ConsumeIntegralInRange<int>(0, 5)) {
      case 0: o.reduction = Reduction::kBatchMean; break;
      case 1: o.temperature = pick(p, kBadTau); break;
      case 2: o.label_smoothing = pick(p, {1.5, -0.1, kNaN, 1.0000001, -kInf}); break;
      case 3: o.z_loss = pick(p, kBadNum); break;
      case 4: o.softcap = pick(p, kBadNum); break;
      default:  // Megatron smoothing with one class, or with probability targets
        o.smoothing = logitkit::LabelSmoothing::kMegatron;
        o.label_smoothing = 0.1;
        break;
    }
  }
  // Class weights: none, or cols entries (zeros likely), sometimes invalid.
  const std::uint8_t wm = p.ConsumeIntegral<std::uint8_t>();
  if (wm % 3 == 0) {
    static const double kW[] = {1.0, 0.0, 0.0, 0.5, 2.0, 1e-3, 1e3, 0.25, 3.0, 1.0};
    c.weight.resize(cols + (bad == 2));
    for (double& w : c.weight) w = pick(p, kW);
    if (bad == 3 && !c.weight.empty()) {
      static const double kBadW[] = {-1.0, kNaN, kInf, -0.0};
      c.weight[p.ConsumeIntegralInRange<std::size_t>(0, c.weight.size() - 1)] = pick(p, kBadW);
    }
  }
  c.x = Buffer<float>(rows, cols, stride, -7.0f);
  fill(c.x, p, long_row);
  if (prob) {
    c.y = Buffer<float>(rows, cols, stride, -7.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint8_t mode = p.ConsumeIntegral<std::uint8_t>();
      float* y = c.y.row(r);
      double s = 0;
      for (std::size_t j = 0; j < cols; ++j) {
        const std::uint8_t k = long_row ? static_cast<std::uint8_t>(j * 37 + mode) : p.ConsumeIntegral<std::uint8_t>();
        y[j] = k < 128 ? 0.0f : static_cast<float>(k - 128) / 16.0f;
        s += y[j];
      }
      if (mode % 2 == 0 && s > 0) {
        for (std::size_t j = 0; j < cols; ++j) y[j] = static_cast<float>(y[j] / s);
      }
      if (bad == 4 && cols > 0 && mode % 4 == 1) {
        static const float kBadY[] = {-1.0f, std::numeric_limits<float>::quiet_NaN(), INFINITY,
                                      -FLT_MIN};
        y[p.ConsumeIntegralInRange<std::size_t>(0, cols - 1)] = pick(p, kBadY);
      }
    }
  } else {
    c.target.resize(rows);
    for (std::int64_t& t : c.target) {
      const std::uint8_t k = p.ConsumeIntegral<std::uint8_t>();
      if (cols == 0 || k < 40) {
        t = o.ignore_index;
      } else if (bad == 4 && k < 48) {
        const std::int64_t kBadT[] = {-1, static_cast<std::int64_t>(cols), INT64_MIN, INT64_MAX, -100};
        t = kBadT[k % 5];
      } else {
        t = p.ConsumeIntegralInRange<std::int64_t>(0, static_cast<std::int64_t>(cols) - 1);
      }
    }
  }
  const std::uint8_t outs = p.ConsumeIntegral<std::uint8_t>();
  c.want_grad = outs % 4 != 0;
  c.want_rl = (outs >> 2) % 4 != 0;
  c.want_lse = (outs >> 4) % 4 != 0;
  c.in_place = c.want_grad && (outs >> 6) == 3;
  if (bad == 5) {
    // A wrong-sized output or input (one that the call can see).
    const int k = p.ConsumeIntegralInRange<int>(1, 6);
    if (k == 1 && c.want_grad && !c.in_place) c.bad_shape = 1;
    if (k == 2 && c.want_rl) c.bad_shape = 2;
    if (k == 3 && c.want_lse) c.bad_shape = 3;
    if (k == 4 && !prob) c.bad_shape = 4;
    if (k == 5 && prob) c.bad_shape = 5;
    if (k == 6 && rows > 1 && cols > 0 && !c.in_place) c.bad_shape = 6;
    if (c.bad_shape == 4 && rows == 0) c.bad_shape = 0;
    if (c.in_place) c.bad_shape = 0;  // the in-place call passes its own outputs
  }
  g_name = std::string("cross_entropy(") + (prob ? "probabilities" : "indices") + ") [" +
           std::to_string(rows) + "x" + std::to_string(cols) + " stride " + std::to_string(stride) +
           "] tau " + num(o.temperature) + " eps " + num(o.label_smoothing) +
           (o.smoothing == logitkit::LabelSmoothing::kMegatron ? " megatron" : "") + " z " +
           num(o.z_loss) + " cap " + num(o.softcap) + " red " + std::to_string(static_cast<int>(o.reduction)) +
           " weights " + std::to_string(c.weight.size()) + " ignore " + std::to_string(o.ignore_index) +
           (o.precision == Precision::kFast ? " fast" : "") + " threads " + std::to_string(threads) +
           (c.in_place ? " in-place" : "") + " bad " + std::to_string(bad) + "/" + std::to_string(c.bad_shape);
  g_inputs = {{"x", c.x.buf}, {"y", c.y.buf}};
  std::vector<float> tv(c.target.begin(), c.target.end());
  g_inputs.emplace_back("target", tv);
  std::vector<float> wv(c.weight.begin(), c.weight.end());
  g_inputs.emplace_back("weight", wv);
  run_ce(c, p);
}

// ---- distillation -----------------------------------------------------------------------------

struct DiCase {
  Buffer<float> s, t;
  std::vector<std::int64_t> target;
  DistillationOptions o;
  bool want_grad = false, want_rl = false, want_lse = false;
  int bad_shape = 0;  // 1: teacher cols + 1; 2: grad shape; 3: row_loss size; 4: lse size;
                      // 5: target size; 6: student row_stride < cols
};

bool di_valid(const DiCase& c) {
  const DistillationOptions& o = c.o;
  if (c.bad_shape != 0 && !(c.bad_shape == 5 && o.alpha == 0)) return false;
  if (!(o.temperature > 0) || std::isinf(o.temperature)) return false;
  if (o.divergence == Divergence::kJensenShannon && !(o.js_beta > 0 && o.js_beta < 1)) return false;
  if (!(o.alpha >= 0) || std::isinf(o.alpha)) return false;
  if (o.alpha > 0) {
    for (std::int64_t v : c.target) {
      if (v != o.ignore_index && (v < 0 || v >= static_cast<std::int64_t>(c.s.cols))) return false;
    }
  }
  return true;
}

struct DiOut {
  Buffer<float> grad;
  std::vector<float> rl, lse;
  double loss = 0;
};

void di_call(const DiCase& c, const DistillationOptions& o, DiOut& r) {
  const std::size_t rows = c.s.rows, cols = c.s.cols;
  r.grad = Buffer<float>(rows + (c.bad_shape == 2), cols, c.s.stride + 2, kSentinel);
  r.rl.assign(rows + kGuard, kSentinel);
  r.lse.assign(rows + kGuard, kSentinel);
  LossOutputs<float> out;
  if (c.want_grad) out.grad = r.grad.view();
  if (c.want_rl) out.row_loss = std::span<float>(r.rl.data(), rows + (c.bad_shape == 3));
  if (c.want_lse) out.lse = std::span<float>(r.lse.data(), rows + (c.bad_shape == 4));
  DistillationOptions oo = o;
  oo.target = std::span<const std::int64_t>(c.target.data(), c.target.size() - (c.bad_shape == 5));
  Rows<const float> sv = c.s.cview(), tv = c.t.cview();
  if (c.bad_shape == 1) tv.cols += 1;
  if (c.bad_shape == 6) sv.row_stride = cols - 1;
  r.loss = logitkit::distillation_loss(sv, tv, oo, out);
}
DiOut di_call(const DiCase& c, const DistillationOptions& o) {
  DiOut r;
  di_call(c, o, r);
  return r;
}

// log p of a row in long double, with the softmax limits (docs/design.md §2).
std::vector<LD> log_probs(const float* x, std::size_t n, LD it) {
  std::vector<LD> lp(n);
  LD m = -kInf;
  std::size_t pinf = 0;
  for (std::size_t j = 0; j < n; ++j) {
    m = std::max<LD>(m, x[j]);
    pinf += x[j] == INFINITY;
  }
  if (pinf > 0 || m == -kInf) {
    for (std::size_t j = 0; j < n; ++j) {
      lp[j] = pinf > 0 && x[j] == INFINITY ? -std::log(static_cast<LD>(pinf)) : -kInf;
    }
    return lp;
  }
  LD s = 0;
  for (std::size_t j = 0; j < n; ++j) s += std::exp((x[j] - m) * it);
  const LD l = std::log(s);
  for (std::size_t j = 0; j < n; ++j) lp[j] = (x[j] - m) * it - l;
  return lp;
}

void run_di(DiCase& c) {
  const std::size_t rows = c.s.rows, C = c.s.cols;
  const bool valid = di_valid(c);
  const std::vector<float> s_before = c.s.buf, t_before = c.t.buf;
  DiOut out;
  try {
    di_call(c, c.o, out);
    check(valid, "invalid arguments accepted");
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("std::invalid_argument on valid arguments: ") + e.what());
    check(all_is(out.rl, kSentinel) && all_is(out.lse, kSentinel) &&
              all_is(out.grad.buf, kSentinel),
          "output written before throwing");
    return;
  }
  check(s_before == c.s.buf || std::memcmp(s_before.data(), c.s.buf.data(), s_before.size() * 4) == 0,
        "student changed");
  check(std::memcmp(t_before.data(), c.t.buf.data(), t_before.size() * 4) == 0, "teacher changed");
  check(padding_intact(out.grad, kSentinel), "grad padding written");
  for (std::size_t i = rows; i < out.rl.size(); ++i) check(same_bits(out.rl[i], kSentinel), "row_loss written past its end");
  for (std::size_t i = rows; i < out.lse.size(); ++i) check(same_bits(out.lse[i], kSentinel), "lse written past its end");
  if (!c.want_grad) check(all_is(out.grad.buf, kSentinel), "grad written though not requested");
  c.bad_shape = 0;  // (a short target with alpha = 0 is not read)

  DiCase full = c;
  full.want_grad = full.want_rl = full.want_lse = true;
  const DiOut a = di_call(full, c.o);
  check(same_bits(a.loss, out.loss), "loss depends on the outputs requested");
  for (std::size_t r = 0; r < rows; ++r) {
    if (c.want_rl) check(same_bits(a.rl[r], out.rl[r]), "row_loss depends on the outputs requested");
    if (c.want_lse) check(same_bits(a.lse[r], out.lse[r]), "lse depends on the outputs requested");
    if (c.want_grad) check(std::memcmp(a.grad.row(r), out.grad.row(r), C * 4) == 0, "grad depends on the outputs requested");
  }
  DistillationOptions other = c.o;
  other.threads = c.o.threads == 1 ? 2 : 1;
  {
    const DiOut b = di_call(full, other);
    check(same_bits(a.loss, b.loss), "threads 1 vs 2: loss " + num(a.loss) + " vs " + num(b.loss));
    for (std::size_t r = 0; r < rows; ++r) {
      check(same_bits(a.rl[r], b.rl[r]) && same_bits(a.lse[r], b.lse[r]) &&
                std::memcmp(a.grad.row(r), b.grad.row(r), C * 4) == 0,
            "threads 1 vs 2 differ in row " + std::to_string(r));
    }
  }
  const bool batch_free = (c.o.reduction == Reduction::kSum || c.o.reduction == Reduction::kNone) &&
                          c.o.alpha == 0;
  if (rows > 1) {
    for (std::size_t r = 0; r < rows; ++r) {
      DiCase one = full;
      one.s = Buffer<float>(1, C, C, 0.0f);
      one.t = Buffer<float>(1, C, C, 0.0f);
      std::copy_n(c.s.row(r), C, one.s.row(0));
      std::copy_n(c.t.row(r), C, one.t.row(0));
      one.target = {c.target.empty() ? 0 : c.target[r]};
      const DiOut b = di_call(one, c.o);
      const std::string at = "row " + std::to_string(r) + " alone differs from the batch: ";
      check(same_bits(a.rl[r], b.rl[0]), at + "row_loss " + num(a.rl[r]) + " vs " + num(b.rl[0]));
      check(same_bits(a.lse[r], b.lse[0]), at + "lse");
      if (batch_free) check(std::memcmp(a.grad.row(r), b.grad.row(0), C * 4) == 0, at + "gradient");
    }
  }

  // Double overload.
  const Buffer<double> sd = to_double(c.s), td = to_double(c.t);
  Buffer<double> gd(rows, C, C, 0.0);
  std::vector<double> rld(rows), lsed(rows);
  DistillationOptions o1 = c.o;
  o1.threads = 1;
  o1.target = c.target;
  const double loss_d = logitkit::distillation_loss(sd.cview(), td.cview(), o1,
                                                    LossOutputs<double>{gd.view(), rld, lsed});
  const double tau = c.o.temperature;
  double red = 1.0;
  if (c.o.reduction == Reduction::kBatchMean) red = 1.0 / static_cast<double>(rows);
  if (c.o.reduction == Reduction::kMean) red = 1.0 / (static_cast<double>(rows) * static_cast<double>(C));
  const bool moderate_tau = tau >= 1.0 / 64 && tau <= 64;
  const bool log_t = c.o.teacher_input == logitkit::TeacherInput::kLogProbs;
  bool any_nan = false, all_checked = true;
  LD loss_tol = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const RowInfo si = info(c.s.row(r), C), ti = info(c.t.row(r), C);
    const float* g = a.grad.row(r);
    const std::string at = "row " + std::to_string(r) + " ";
    if (si.nan || ti.nan) {
      any_nan = true;
      check(std::isnan(a.rl[r]), at + "NaN input but row_loss " + num(a.rl[r]));
      for (std::size_t j = 0; j < C; ++j) check(std::isnan(g[j]), at + "NaN input but gradient not NaN");
      continue;
    }
    const bool s_limit = si.pinf || !si.any_finite;
    if (C > 0 && s_limit) {
      check(a.lse[r] == (si.pinf ? INFINITY : -INFINITY), at + "student limit row but lse " + num(a.lse[r]));
      if (c.o.alpha == 0) {
        for (std::size_t j = 0; j < C; ++j) check(g[j] == 0, at + "student limit row but gradient not 0");
      }
    }
    check(!std::isnan(a.rl[r]) && !std::isnan(a.lse[r]), at + "NaN from NaN-free rows: row_loss " +
                                                              num(a.rl[r]) + " lse " + num(a.lse[r]));
    if (C == 0) {
      check(a.rl[r] == 0 && a.lse[r] == -INFINITY, at + "no classes: row_loss " + num(a.rl[r]) +
                                                        " lse " + num(a.lse[r]));
    } else if (si.finite && ti.finite && si.max_abs <= 1e6 && ti.max_abs <= 1e6 && tau >= 1e-3 &&
               tau <= 1e3 && c.o.alpha <= 1e3) {
      check(finite_f(a.rl[r]) && finite_f(a.lse[r]), at + "finite rows but row_loss " + num(a.rl[r]) +
                                                         " lse " + num(a.lse[r]));
      if (rows > 0 && C > 0) {
        for (std::size_t j = 0; j < C; ++j) check(finite_f(g[j]), at + "finite rows but gradient " + num(g[j]));
      }
    }
    if (c.o.precision != Precision::kAccurate || !moderate_tau) {
      all_checked = false;
      continue;
    }
    // row_loss: 1e-6 relative + 1e-7 absolute of the exact value. The absolute part is taken
    // times the tau^2 factor: the divergence near 0 cancels to about 1e-8 (JS, beta near 1,
    // tau 20: 6.6e-9) before the factor multiplies it; loss.h's plain 1e-7 does not say so
    // (found by this fuzzer and reported; open).
    const LD factor = c.o.tau_squared ? static_cast<LD>(tau) * tau : 1.0L;
    const LD abs_tol = 1e-7L * std::max(factor, 1.0L);
    const LD want = rld[r];
    const bool ok = std::isinf(want) ? a.rl[r] == want
                    : want > FLT_MAX ? a.rl[r] >= FLT_MAX  // rounds to FLT_MAX or +inf
                                     : std::fabs(static_cast<LD>(a.rl[r]) - want) <=
                                           1e-6L * std::fabs(want) + abs_tol;
    check(ok, at + "row_loss " + num(a.rl[r]) + " vs double " + num(rld[r]));
    loss_tol += 1e-6L * std::fabs(want) + abs_tol;
    if (c.o.alpha > 0 || C == 0 || s_limit) continue;
    // Gradient: 2 ULP + 2^-22 c (p_j + q_j), c = (tau_squared ? tau : 1/tau) x reduction, plus
    // the subnormal terms of loss.h.
    const std::vector<LD> lq = log_probs(c.s.row(r), C, 1.0L / tau);
    const std::vector<LD> lp = log_probs(c.t.row(r), C, log_t ? 1.0L : 1.0L / tau);
    const LD cg = (c.o.tau_squared ? tau : 1.0 / tau) * red;
    for (std::size_t j = 0; j < C; ++j) {
      const LD pj = std::exp(lp[j]), qj = std::exp(lq[j]);
      const LD want_g = gd.row(r)[j];
      LD slack = 0x1p-22L * cg * (pj + qj);
      const LD m = std::min(pj, qj);
      if (m < FLT_MIN) slack += 0x1p-149L * (cg + (m > 0 ? std::fabs(want_g) / m : 0.0L));
      if (std::fabs(want_g) < FLT_MIN) slack += FLT_MIN;
      const double e = ulps_beyond(g[j], want_g, slack);
      check(e <= 2.01, at + "gradient entry " + std::to_string(j) + " " + num(g[j]) + " vs double " +
                           num(gd.row(r)[j]) + " (" + num(e) + " ULP beyond the slack " +
                           num(static_cast<double>(slack)) + ")");
    }
  }
  if (any_nan) check(std::isnan(a.loss), "a NaN row but loss " + num(a.loss));
  if (all_checked && c.o.alpha == 0 && rows > 0 && C > 0 && std::isfinite(loss_d)) {
    const LD tol = loss_tol * red + std::fabs(loss_d) * 0x1p-40L;
    check(std::fabs(static_cast<LD>(a.loss) - loss_d) <= tol,
          "loss " + num(a.loss) + " vs double " + num(loss_d));
  }
}

void decode_di(FuzzedDataProvider& p, std::size_t rows, std::size_t cols, std::size_t stride,
               bool long_row, int threads, int bad) {
  DiCase c;
  DistillationOptions& o = c.o;
  o.temperature = tau_of(p);
  static const Divergence kDiv[] = {Divergence::kForwardKL, Divergence::kReverseKL,
                                    Divergence::kJensenShannon};
  o.divergence = pick(p, kDiv);
  static const double kBeta[] = {0.5, 0.5, 0.1, 0.9, 1e-9, 0.999999};
  o.js_beta = pick(p, kBeta);
  o.tau_squared = p.ConsumeBool();
  static const Reduction kRed[] = {Reduction::kBatchMean, Reduction::kMean, Reduction::kSum,
                                   Reduction::kNone};
  o.reduction = pick(p, kRed);
  o.teacher_input = p.ConsumeBool() ? logitkit::TeacherInput::kLogProbs : logitkit::TeacherInput::kLogits;
  static const double kAlpha[] = {0.0, 0.0, 0.0, 0.5, 1.0, 1e3};
  o.alpha = pick(p, kAlpha);
  const std::int64_t kIgnore[] = {-100, 0, -1};
  o.ignore_index = pick(p, kIgnore);
  o.precision = p.ConsumeIntegralInRange<int>(0, 3) == 0 ? Precision::kFast : Precision::kAccurate;
  o.threads = threads;
  if (bad == 1) {
    switch (p.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: o.temperature = pick(p, kBadTau); break;
      case 1: o.js_beta = pick(p, {0.0, 1.0, -0.5, 2.0, kNaN}); break;  // rejected under JS only
      default: o.alpha = pick(p, {-1.0, kInf, kNaN, -1e-300}); break;
    }
  }
  c.s = Buffer<float>(rows, cols, stride, -7.0f);
  c.t = Buffer<float>(rows, cols, stride, -7.0f);
  fill(c.s, p, long_row);
  fill(c.t, p, long_row);
  if (p.ConsumeIntegralInRange<int>(0, 7) == 0) {
    // The teacher equal to the student (KL 0), or the student a copy with a few changes.
    c.t = c.s;
  }
  c.target.resize(rows);
  for (std::int64_t& t : c.target) {
    const std::uint8_t k = p.ConsumeIntegral<std::uint8_t>();
    if (cols == 0 || k < 40) t = o.ignore_index;
    else if (bad == 4 && k < 48) t = k % 2 ? -5 : static_cast<std::int64_t>(cols);
    else t = p.ConsumeIntegralInRange<std::int64_t>(0, static_cast<std::int64_t>(cols) - 1);
  }
  const std::uint8_t outs = p.ConsumeIntegral<std::uint8_t>();
  c.want_grad = outs % 4 != 0;
  c.want_rl = (outs >> 2) % 4 != 0;
  c.want_lse = (outs >> 4) % 4 != 0;
  if (bad == 5) {
    const int k = p.ConsumeIntegralInRange<int>(1, 6);
    if (k == 1) c.bad_shape = 1;
    if (k == 2 && c.want_grad) c.bad_shape = 2;
    if (k == 3 && c.want_rl) c.bad_shape = 3;
    if (k == 4 && c.want_lse) c.bad_shape = 4;
    if (k == 5 && rows > 0) c.bad_shape = 5;
    if (k == 6 && rows > 1 && cols > 0) c.bad_shape = 6;
  }
  static const char* const kDivName[] = {"forward KL", "reverse KL", "JS"};
  g_name = std::string("distillation_loss ") + kDivName[static_cast<int>(o.divergence)] + " [" +
           std::to_string(rows) + "x" + std::to_string(cols) + " stride " + std::to_string(stride) +
           "] tau " + num(o.temperature) + (o.tau_squared ? " tau^2" : "") + " beta " +
           num(o.js_beta) + " red " + std::to_string(static_cast<int>(o.reduction)) + " alpha " +
           num(o.alpha) + (o.teacher_input == logitkit::TeacherInput::kLogProbs ? " logprob-teacher" : "") +
           (o.precision == Precision::kFast ? " fast" : "") + " threads " + std::to_string(threads) +
           " bad " + std::to_string(bad) + "/" + std::to_string(c.bad_shape);
  g_inputs = {{"student", c.s.buf}, {"teacher", c.t.buf}};
  std::vector<float> tv(c.target.begin(), c.target.end());
  g_inputs.emplace_back("target", tv);
  run_di(c);
}

// ---- contrastive ------------------------------------------------------------------------------

struct CoOut {
  Buffer<float> gi, gt;
  double dt = -12345.625;
  double loss = 0;
};

void run_co(FuzzedDataProvider& p, int threads, int bad) {
  const std::size_t B = p.ConsumeIntegralInRange<std::size_t>(bad == 5 ? 0 : 1, 12);
  const std::size_t D = p.ConsumeIntegralInRange<std::size_t>(bad == 5 ? 0 : 1, 40);
  const std::size_t stride = D + p.ConsumeIntegralInRange<std::size_t>(0, 2);
  ContrastiveOptions o;
  o.normalize = p.ConsumeIntegralInRange<int>(0, 3) != 0;
  static const double kEps[] = {1e-12, 1e-12, 1e-6, 1.0, 0.0, -1.0, kNaN, kInf};
  o.normalize_eps = bad == 1 ? pick(p, kEps) : 1e-12;
  static const double kMax[] = {100.0, 100.0, 1.0, 1e4, 0.0, -1.0, kInf, kNaN};
  static const double kGoodMax[] = {100.0, 100.0, 1.0, 1e4};
  o.max_scale = bad == 2 ? pick(p, kMax) : pick(p, kGoodMax);
  static const std::size_t kBlock[] = {0, 1, 3, 5, 512};
  o.block = pick(p, kBlock);
  o.own_matmul = p.ConsumeIntegralInRange<int>(0, 3) != 0;
  o.threads = threads;
  static const double kT[] = {logitkit::kClipInitLogScale, 0.0, 4.605170185988091, 4.6051701859880918,
                              5.0, -kInf, kInf, -3.0, 50.0, 800.0, -800.0, kNaN};
  const double t = pick(p, kT);
  Buffer<float> im(B, D, stride, -7.0f), tx(B, D, stride, -7.0f);
  fill(im, p, false);
  fill(tx, p, false);
  const std::uint8_t outs = p.ConsumeIntegral<std::uint8_t>();
  const bool want_gi = outs % 4 != 0, want_gt = (outs >> 2) % 4 != 0, want_dt = (outs >> 4) % 4 != 0;
  int bad_shape = 0;
  if (bad == 4) bad_shape = p.ConsumeIntegralInRange<int>(1, 4);  // 1 text rows, 2 text cols, 3 gi, 4 gt
  if ((bad_shape == 3 && !want_gi) || (bad_shape == 4 && !want_gt)) bad_shape = 0;
  if ((bad_shape == 1 && B == 0) || (bad_shape == 2 && D == 0)) bad_shape = 0;
  g_name = "contrastive_loss [" + std::to_string(B) + "x" + std::to_string(D) + " stride " +
           std::to_string(stride) + "] t " + num(t) + (o.normalize ? " normalized" : "") + " eps " +
           num(o.normalize_eps) + " max_scale " + num(o.max_scale) + " block " +
           std::to_string(o.block) + (o.own_matmul ? " own" : " blas") + " threads " +
           std::to_string(threads) + " bad " + std::to_string(bad) + "/" + std::to_string(bad_shape);
  g_inputs = {{"image", im.buf}, {"text", tx.buf}};
  const bool valid = B >= 1 && D >= 1 && bad_shape == 0 && !std::isnan(t) &&
                     o.max_scale > 0 && std::isfinite(o.max_scale) && o.normalize_eps > 0 &&
                     std::isfinite(o.normalize_eps);
  auto call_into = [&](const ContrastiveOptions& oo, bool all, CoOut& r) {
    r.gi = Buffer<float>(B, D, stride + 1, kSentinel);
    r.gt = Buffer<float>(B, D + (bad_shape == 4), stride + 2, kSentinel);
    ContrastiveOutputs<float> out;
    if (all || want_gi) out.grad_image = r.gi.view();
    if (bad_shape == 3) out.grad_image.rows += 1;
    if (all || want_gt) out.grad_text = r.gt.view();
    if (all || want_dt) out.grad_log_scale = &r.dt;
    Rows<const float> tv = tx.cview();
    if (bad_shape == 1) tv.rows -= 1;
    if (bad_shape == 2) tv.cols -= 1;
    r.loss = logitkit::contrastive_loss(im.cview(), tv, t, oo, out);
  };
  auto call = [&](const ContrastiveOptions& oo, bool all) {
    CoOut r;
    call_into(oo, all, r);
    return r;
  };
  CoOut out;
  try {
    call_into(o, false, out);
    check(valid, "invalid arguments accepted");
  } catch (const std::invalid_argument& e) {
    check(!valid, std::string("std::invalid_argument on valid arguments: ") + e.what());
    check(all_is(out.gi.buf, kSentinel) && all_is(out.gt.buf, kSentinel) && out.dt == -12345.625,
          "output written before throwing");
    return;
  }
  check(padding_intact(out.gi, kSentinel) && padding_intact(out.gt, kSentinel), "gradient padding written");
  if (!want_gi) check(all_is(out.gi.buf, kSentinel), "grad_image written though not requested");
  if (!want_gt) check(all_is(out.gt.buf, kSentinel), "grad_text written though not requested");
  const CoOut a = call(o, true);
  check(same_bits(a.loss, out.loss), "loss depends on the outputs requested");
  auto same_all = [&](const CoOut& x, const CoOut& y) {
    if (!same_bits(x.loss, y.loss) || !same_bits(x.dt, y.dt)) return false;
    for (std::size_t i = 0; i < B; ++i) {
      if (std::memcmp(x.gi.row(i), y.gi.row(i), D * 4) != 0) return false;
      if (std::memcmp(x.gt.row(i), y.gt.row(i), D * 4) != 0) return false;
    }
    return true;
  };
  ContrastiveOptions other = o;
  other.threads = threads == 1 ? 2 : 1;
  const CoOut b = call(other, true);
  if (o.own_matmul) check(same_all(a, b), "threads 1 vs 2 differ (own kernel)");
  check(same_all(a, call(o, true)), "the same call twice differs");
  bool finite = true;
  double amax = 0, bmax = 0;
  for (std::size_t i = 0; i < B; ++i) {
    const RowInfo ia = info(im.row(i), D), ib = info(tx.row(i), D);
    finite &= ia.finite && ib.finite;
    double na = 0, nb = 0;
    for (std::size_t k = 0; k < D; ++k) {
      na += static_cast<double>(im.row(i)[k]) * im.row(i)[k];
      nb += static_cast<double>(tx.row(i)[k]) * tx.row(i)[k];
    }
    amax = std::max(amax, std::sqrt(na));
    bmax = std::max(bmax, std::sqrt(nb));
  }
  if (!finite) {
    check(std::isnan(a.loss) && std::isnan(a.dt), "non-finite input but loss " + num(a.loss));
    for (std::size_t i = 0; i < B; ++i) {
      for (std::size_t k = 0; k < D; ++k) {
        check(std::isnan(a.gi.row(i)[k]) && std::isnan(a.gt.row(i)[k]), "non-finite input but gradient not NaN");
      }
    }
    return;
  }
  if (!o.normalize) return;  // similarities may overflow float (documented NaN)
  check(std::isfinite(a.loss) && std::isfinite(a.dt), "finite normalised input but loss " +
                                                          num(a.loss) + " dt " + num(a.dt));
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t k = 0; k < D; ++k) {
      check(finite_f(a.gi.row(i)[k]) && finite_f(a.gt.row(i)[k]), "finite normalised input but gradient not finite");
    }
  }
  const double e = std::exp(t);
  if (e > o.max_scale) check(a.dt == 0, "clamped scale but d loss / d t = " + num(a.dt));
  // Against the double overload: the logits' rounding, about D 2^-24 s |a||b| (|a| = |b| <= 1
  // normalised, rounded to float first: D + 2 roundings), moves each CE term by at most twice
  // that; the exponentials (1.5 ULP) and the double states add about 2^-22 (1 + loss).
  const Buffer<double> imd = to_double(im), txd = to_double(tx);
  ContrastiveOptions od = o;
  od.threads = 1;
  const double loss_d = logitkit::contrastive_loss(imd.cview(), txd.cview(), t, od);
  const double s = std::min(e, o.max_scale);
  const double norm_a = std::min(1.0, amax / o.normalize_eps), norm_b = std::min(1.0, bmax / o.normalize_eps);
  const double tol = 4.0 * (static_cast<double>(D) + 2) * 0x1p-24 * s * norm_a * norm_b +
                     0x1p-20 * (1 + std::fabs(loss_d));
  check(std::fabs(a.loss - loss_d) <= tol,
        "loss " + num(a.loss) + " vs double " + num(loss_d) + " (tolerance " + num(tol) + ")");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider p(data, size);
  const std::uint8_t fn = p.ConsumeIntegral<std::uint8_t>();
  const std::uint8_t flags = p.ConsumeIntegral<std::uint8_t>();
  const int threads = (flags & 1) ? 2 : 1;
  const int bad = (flags >> 1) % 16 < 5 ? 0 : (flags >> 1) % 16 - 4 > 5 ? 0 : (flags >> 1) % 16 - 4;
  const bool long_row = (flags >> 5) == 7 && p.ConsumeBool();  // 1 in 16
  const int kind = fn % 10;  // 0-3 class indices, 4-5 probabilities, 6-8 distillation, 9 contrastive
  if (kind == 9) {
    run_co(p, threads, bad);
    if (std::getenv("LOSS_FUZZ_VERBOSE")) std::fprintf(stderr, "passed: %s\n", g_name.c_str());
    return 0;
  }
  std::size_t rows, cols;
  if (long_row) {
    rows = p.ConsumeIntegralInRange<std::size_t>(1, 2);
    cols = kChunk + p.ConsumeIntegralInRange<std::size_t>(0, 3000);
  } else {
    rows = p.ConsumeIntegralInRange<std::size_t>(0, kMaxRows);
    cols = p.ConsumeIntegralInRange<std::size_t>(0, kMaxCols);
    if (p.ConsumeBool()) cols = std::min<std::size_t>(cols, 20);  // short rows: SIMD tails
  }
  const std::size_t stride = cols + p.ConsumeIntegralInRange<std::size_t>(0, 3);
  if (kind <= 5) decode_ce(p, kind >= 4, rows, cols, stride, long_row, threads, bad);
  else decode_di(p, rows, cols, stride, long_row, threads, bad);
  if (std::getenv("LOSS_FUZZ_VERBOSE")) std::fprintf(stderr, "passed: %s\n", g_name.c_str());
  return 0;
}
