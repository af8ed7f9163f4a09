// SPDX-License-Identifier: Apache-2.0
// The softmax family's public entry points: validation, special rows, chunk merging, threading.
// All floating-point work on ordinary rows happens in the per-target kernels (kernels.h).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "logitkit/softmax.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/medium_rows_kernels.h"
#include "src/softmax/softmax_op.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit {
namespace internal {

double LogNormalizer(double ties, double rest) {
  // ties + rest >= 1 always (the max contributes exp(0) = 1). With one winner, log1p keeps the
  // relative accuracy of -log p_max when rest is tiny (a confident row); PyTorch #11752.
  return ties == 1.0 ? std::log1p(rest) : std::log(ties + rest);
}

double LseLongDouble(const float* x, std::size_t n, double tau) {
  long double m = -std::numeric_limits<long double>::infinity();
  for (std::size_t j = 0; j < n; ++j) m = std::max<long double>(m, x[j]);
  const long double t = tau;
  long double ties = 0, rest = 0;
  for (std::size_t j = 0; j < n; ++j) {
    if (x[j] == m) {
      ties += 1;
    } else {
      rest += std::exp((static_cast<long double>(x[j]) - m) / t);
    }
  }
  const long double log_norm = ties == 1 ? std::log1p(rest) : std::log(ties + rest);
  return static_cast<double>(m / t + log_norm);
}

double RetakeCancellingLse(double lse, const float* x, std::size_t n, double tau, bool float_exp) {
  const double band = float_exp ? 0.5 : 0x1p-8;
  if (!(std::isfinite(lse) && std::fabs(lse) < band) || n == 0 || !std::isfinite(tau) ||
      !(tau > 0)) {
    return lse;
  }
  return LseLongDouble(x, n, tau);
}

}  // namespace internal

namespace {

using internal::ChunkStats;
using internal::kChunk;
using internal::SoftmaxKernels;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();

using Op = internal::SoftmaxOp;  // softmax_op.h
using internal::op_name;

using internal::TauMode;  // the temperature rule: src/internal/temperature.h

struct Params {
  Op op;
  double inv_tau;
  TauMode tau_mode;
  EmptyRow empty;
  SoftmaxKernels k;
  int threads;  // for splitting one long row
  bool fast;    // k is Precision::kFast's set
};

Params make_params(Op op, const SoftmaxOptions& o, int threads) {
  Params p{op, 1.0, TauMode::kNormal, o.empty_row, {}, threads, false};
  // tau below ~5.6e-309: (x_i - max)/tau is -inf for every non-maximal entry: the argmax limit.
  const internal::Temperature t = internal::decode_temperature(o.temperature);
  p.tau_mode = t.mode;
  if (t.mode == TauMode::kNormal) p.inv_tau = t.inv_tau;
  // kFast carries 1/tau in float; where it overflows float the accurate kernels take over.
  const bool fast = o.precision == Precision::kFast && internal::float_path(p.inv_tau);
  p.k = internal::softmax_kernels(fast);
  p.fast = fast;
  return p;
}

// Rows that the vector kernels do not take: NaN, +inf, all -inf, tau = 0 or +inf. Reads x[i]
// before writing y[i] (in-place safe), and needs nothing of x beyond its NaN, +inf and -inf
// entries and its maxima, so it also works on a row partly overwritten by finite kernel output.
void special_row(const Params& p, const float* x, std::size_t n, float* y, float* lse) {
  bool has_nan = false;
  std::size_t pinf = 0, finite_or_pinf = 0;
  float m = -kInf;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (std::isnan(v)) { has_nan = true; break; }
    if (v == kInf) ++pinf;
    if (v != -kInf) ++finite_or_pinf;
    m = std::max(m, v);
  }
  auto fill = [&](float v) {
    if (y) std::fill(y, y + n, v);
  };
  if (has_nan) {
    fill(kNaNf);
    if (lse) *lse = kNaNf;
    return;
  }
  if (finite_or_pinf == 0) {  // all -inf (or an empty row)
    const bool nan = p.empty == EmptyRow::kNaN;
    fill(p.op == Op::kSoftmax ? (nan ? kNaNf : 0.0f) : (nan ? kNaNf : -kInf));
    if (lse) *lse = -kInf;
    return;
  }
  // Which entries share the mass, and the log of the normaliser relative to them.
  float winner;
  std::size_t k;
  double lse_value;
  bool winners_are_finite_entries = false;
  if (pinf > 0) {
    winner = kInf;
    k = pinf;
    lse_value = kInf;
  } else if (p.tau_mode == TauMode::kUniform) {
    winners_are_finite_entries = true;
    winner = 0.0f;
    k = finite_or_pinf;
    lse_value = std::log(static_cast<double>(k));
  } else {  // tau = 0: argmax limit
    m += 0.0f;
    winner = m;
    k = 0;
    for (std::size_t i = 0; i < n; ++i) k += (x[i] == m);
    lse_value = m > 0 ? kInf : (m < 0 ? -kInf : std::log(static_cast<double>(k)));
  }
  if (lse) *lse = static_cast<float>(lse_value);
  if (!y) return;
  const float share = static_cast<float>(1.0 / static_cast<double>(k));
  const float log_share = static_cast<float>(-std::log(static_cast<double>(k)));
  for (std::size_t i = 0; i < n; ++i) {
    const bool win = winners_are_finite_entries ? (x[i] != -kInf) : (x[i] == winner);
    if (p.op == Op::kSoftmax) {
      y[i] = win ? share : 0.0f;
    } else {
      y[i] = win ? log_share : -kInf;
    }
  }
}

// Merged statistics of a row's chunks (chunk order fixed, so the result is reproducible).
struct RowStats {
  float max;
  double ties, rest;
};

RowStats merge_chunks(const std::vector<ChunkStats>& st, double inv_tau,
                      std::vector<double>* factors) {
  float m = -kInf;
  for (const auto& s : st) m = std::max(m, s.max);
  RowStats r{m, 0.0, 0.0};
  if (factors) factors->assign(st.size(), 0.0);
  for (std::size_t c = 0; c < st.size(); ++c) {
    const ChunkStats& s = st[c];
    if (s.max == -kInf) continue;
    if (s.max == m) {
      r.ties += s.ties;
      r.rest += s.rest;
      if (factors) (*factors)[c] = 1.0;
    } else {
      const double f = std::exp((static_cast<double>(s.max) - m) * inv_tau);
      r.rest += (s.ties + s.rest) * f;
      if (factors) (*factors)[c] = f;
    }
  }
  return r;
}

void finish_short(const Params& p, const float* x, std::size_t n, const ChunkStats& st,
                  float* y, float* lse) {
  switch (p.op) {
    case Op::kSoftmax:
      p.k.scale(y, n, 1.0 / (st.ties + st.rest), y);
      break;
    case Op::kLogSoftmax:
      p.k.log_out(x, n, st.max, p.inv_tau, internal::LogNormalizer(st.ties, st.rest), y);
      break;
    case Op::kLogSumExp:
      *lse = static_cast<float>(st.max * p.inv_tau + internal::LogNormalizer(st.ties, st.rest));
      break;
  }
}

void long_row(const Params& p, const float* x, std::size_t n, float* y, float* lse) {
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<ChunkStats> st(chunks);
  auto len = [&](std::size_t c) { return std::min(kChunk, n - c * kChunk); };
  float* e_out = p.op == Op::kSoftmax ? y : nullptr;
  internal::parallel_for(chunks, p.threads, [&](std::size_t b, std::size_t e) {
    for (std::size_t c = b; c < e; ++c) {
      st[c] = p.k.stats(x + c * kChunk, len(c), p.inv_tau, e_out ? e_out + c * kChunk : nullptr);
    }
  });
  for (const auto& s : st) {
    if (s.status != internal::kChunkOk) return special_row(p, x, n, y, lse);
  }
  std::vector<double> factors;
  const RowStats r = merge_chunks(st, p.inv_tau, p.op == Op::kSoftmax ? &factors : nullptr);
  if (r.max == -kInf) return special_row(p, x, n, y, lse);
  const double log_norm = internal::LogNormalizer(r.ties, r.rest);
  if (p.op == Op::kLogSumExp) {
    *lse = static_cast<float>(r.max * p.inv_tau + log_norm);
    return;
  }
  const double inv_sum = 1.0 / (r.ties + r.rest);
  internal::parallel_for(chunks, p.threads, [&](std::size_t b, std::size_t e) {
    for (std::size_t c = b; c < e; ++c) {
      float* yc = y + c * kChunk;
      if (p.op == Op::kSoftmax) {
        if (st[c].max == -kInf) {
          std::fill(yc, yc + len(c), 0.0f);
        } else {
          p.k.scale(yc, len(c), factors[c] == 1.0 ? inv_sum : factors[c] * inv_sum, yc);
        }
      } else {
        p.k.log_out(x + c * kChunk, len(c), r.max, p.inv_tau, log_norm, yc);
      }
    }
  });
}

void row_f32(const Params& p, const float* x, std::size_t n, float* y, float* lse) {
  if (p.tau_mode != TauMode::kNormal || n == 0) return special_row(p, x, n, y, lse);
  if (n > kChunk) return long_row(p, x, n, y, lse);
  const ChunkStats st = p.k.stats(x, n, p.inv_tau, p.op == Op::kSoftmax ? y : nullptr);
  if (st.status != internal::kChunkOk || st.max == -kInf) return special_row(p, x, n, y, lse);
  finish_short(p, x, n, st, y, lse);
}

void throw_on_nan(Op op, Rows<const float> x) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    const std::size_t c = internal::find_nan(x.row(r), x.cols);
    if (c < x.cols) {
      internal::fail(op_name(op), "x has NaN at row " + std::to_string(r) + ", column " +
                                      std::to_string(c) + " (NanPolicy::kThrow)");
    }
  }
}

// Batches of short rows go through the row-per-lane kernels, then the driver finishes the rows
// it flagged (NaN, +inf, all -inf). Rows of at most kLaneGroup entries always take
// internal::short_rows (whose bits are their own); batches of at least kMediumMinRows rows of
// kLaneGroup + 1 .. kMediumRowMax entries (internal::use_medium_rows) take internal::medium_rows,
// which gives the bits of the chunk kernels that single rows (and rows of a view whose stride is
// 2^24 or more) take.
constexpr std::size_t kMediumMinRows = 4;

bool short_rows(Op op, Rows<const float> x, float* y_data, std::size_t y_stride, float* lse,
                const SoftmaxOptions& o) {
  const Params p0 = make_params(op, o, 1);
  if (p0.tau_mode != TauMode::kNormal || x.cols == 0 || x.row_stride >= (std::size_t{1} << 24)) {
    return false;
  }
  const bool medium = x.cols > internal::kLaneGroup;
  if (medium && (!internal::use_medium_rows(x.cols, p0.fast) || x.rows < kMediumMinRows)) {
    return false;
  }
  const int kop = op == Op::kSoftmax ? 0 : (op == Op::kLogSoftmax ? 1 : 2);
  std::vector<unsigned char> special(x.rows);
  const int t = internal::threads_for(o.threads, x.rows * x.cols);
  internal::parallel_for(x.rows, t, [&](std::size_t b, std::size_t e) {
    if (medium) {
      internal::medium_rows(p0.fast, kop, x.row(b), x.row_stride,
                            y_data ? y_data + b * y_stride : nullptr, y_stride,
                            lse ? lse + b : nullptr, e - b, x.cols, p0.inv_tau,
                            special.data() + b);
    } else {
      internal::short_rows(kop, x.row(b), x.row_stride, y_data ? y_data + b * y_stride : nullptr,
                           y_stride, lse ? lse + b : nullptr, e - b, x.cols, p0.inv_tau,
                           special.data() + b);
    }
    for (std::size_t r = b; r < e; ++r) {
      if (special[r]) {
        special_row(p0, x.row(r), x.cols, y_data ? y_data + r * y_stride : nullptr,
                    lse ? lse + r : nullptr);
      }
    }
  });
  return true;
}

void run_f32(Op op, Rows<const float> x, float* y_data, std::size_t y_stride, float* lse,
             const SoftmaxOptions& o) {
  if (o.nan == NanPolicy::kThrow) throw_on_nan(op, x);
  if (!short_rows(op, x, y_data, y_stride, lse, o)) {
    const Params base = make_params(op, o, 1);  // the same for every row but its thread count
    internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int threads) {
      Params p = base;
      p.threads = threads;
      row_f32(p, x.row(r), x.cols, y_data ? y_data + r * y_stride : nullptr,
              lse ? lse + r : nullptr);
    });
  }
  if (op == Op::kLogSumExp) {
    // The double exp's ~4e-11 relative error in the sum would be many ULPs of a cancelling
    // result: such rows are summed again in long double (scalar; only these rows).
    for (std::size_t r = 0; r < x.rows; ++r) {
      lse[r] = static_cast<float>(
          internal::RetakeCancellingLse(lse[r], x.row(r), x.cols, o.temperature, false));
    }
  }
}

void check_common(Op op, const SoftmaxOptions& o) {
  internal::check_temperature(op_name(op), o.temperature, internal::TauRange::kLimits);
}

template <class In>
void check_forward(Op op, Rows<In> x, Rows<float> y) {
  internal::check_rows(op_name(op), "x", x);
  internal::check_rows(op_name(op), "y", y);
  internal::check_same_shape(op_name(op), "x", x, "y", y);
}

template <class In>
void check_lse(Rows<In> x, std::size_t out_size) {
  internal::check_rows("logsumexp", "x", x);
  if (out_size != x.rows) {
    internal::fail("logsumexp", "out has " + std::to_string(out_size) + " entries but x has " +
                                    std::to_string(x.rows) + " rows");
  }
}

// ---- 16-bit inputs: convert exactly to float, then the f32 path --------------------------

template <class H>
void to_float(const H* x, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i].to_float();
}

template <class H>
void throw_on_nan16(Op op, Rows<const H> x) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    for (std::size_t c = 0; c < x.cols; ++c) {
      if (std::isnan(x.row(r)[c].to_float())) {
        internal::fail(op_name(op), "x has NaN at row " + std::to_string(r) + ", column " +
                                        std::to_string(c) + " (NanPolicy::kThrow)");
      }
    }
  }
}

template <class H>
void forward16(Op op, Rows<const H> x, Rows<float> y, const SoftmaxOptions& o) {
  check_forward(op, x, y);
  check_common(op, o);
  if (o.nan == NanPolicy::kThrow) throw_on_nan16(op, x);
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int threads) {
    const Params p = make_params(op, o, threads);
    to_float(x.row(r), x.cols, y.row(r));
    row_f32(p, y.row(r), x.cols, y.row(r), nullptr);
  });
}

template <class H>
void lse16(Rows<const H> x, std::span<float> out, const SoftmaxOptions& o) {
  check_lse(x, out.size());
  check_common(Op::kLogSumExp, o);
  if (o.nan == NanPolicy::kThrow) throw_on_nan16(Op::kLogSumExp, x);
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int threads) {
    const Params p = make_params(Op::kLogSumExp, o, threads);
    std::vector<float> buf(x.cols);
    to_float(x.row(r), x.cols, buf.data());
    row_f32(p, buf.data(), x.cols, nullptr, &out[r]);
    // As the f32 path: a cancelling result is summed again in long double.
    out[r] = static_cast<float>(
        internal::RetakeCancellingLse(out[r], buf.data(), x.cols, o.temperature, false));
  });
}

// ---- double: scalar, shift and exp in long double -----------------------------------------

template <class T>
void row_f64(Op op, const SoftmaxOptions& o, const T* x, std::size_t n, T* y, T* lse) {
  using L = long double;
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  bool has_nan = false;
  std::size_t pinf = 0, live = 0;
  T m = -inf;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) { has_nan = true; break; }
    pinf += (x[i] == inf);
    live += (x[i] != -inf);
    m = std::max(m, x[i]);
  }
  const double tau = o.temperature;
  const L inv_tau = tau == 0.0 ? 0.0L : internal::inv_tau_long(tau);
  const bool argmax = tau == 0.0 || std::isinf(inv_tau);
  auto put = [&](std::size_t i, L v) { if (y) y[i] = static_cast<T>(v); };
  if (has_nan) {
    if (y) std::fill(y, y + n, nan);
    if (lse) *lse = nan;
    return;
  }
  if (live == 0) {
    const bool want_nan = o.empty_row == EmptyRow::kNaN;
    if (y) std::fill(y, y + n, op == Op::kSoftmax ? (want_nan ? nan : T(0)) : (want_nan ? nan : -inf));
    if (lse) *lse = -inf;
    return;
  }
  if (pinf > 0 || argmax || std::isinf(tau)) {
    std::size_t k;
    auto win = [&](T v) {
      if (pinf > 0) return v == inf;
      if (std::isinf(tau)) return v != -inf;
      return v == m;
    };
    k = 0;
    for (std::size_t i = 0; i < n; ++i) k += win(x[i]);
    if (lse) {
      if (pinf > 0) *lse = inf;
      else if (std::isinf(tau)) *lse = static_cast<T>(std::log(static_cast<L>(k)));
      else *lse = m > 0 ? inf : (m < 0 ? -inf : static_cast<T>(std::log(static_cast<L>(k))));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const bool w = win(x[i]);
      if (op == Op::kSoftmax) put(i, w ? 1.0L / k : 0.0L);
      else put(i, w ? -std::log(static_cast<L>(k)) : -static_cast<L>(inf));
    }
    return;
  }
  m += T(0);
  L ties = 0, rest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const L t = (static_cast<L>(x[i]) - static_cast<L>(m)) * inv_tau;
    if (t == 0) ties += 1;
    else rest += std::exp(t);
  }
  const L log_norm = ties == 1 ? std::log1p(rest) : std::log(ties + rest);
  if (lse) *lse = static_cast<T>(static_cast<L>(m) * inv_tau + log_norm);
  if (op == Op::kLogSumExp) return;
  const L inv_sum = 1.0L / (ties + rest);
  for (std::size_t i = 0; i < n; ++i) {
    const L t = (static_cast<L>(x[i]) - static_cast<L>(m)) * inv_tau;
    put(i, op == Op::kSoftmax ? std::exp(t) * inv_sum : t - log_norm);
  }
}

void forward64(Op op, Rows<const double> x, double* y, std::size_t y_stride, double* lse,
               const SoftmaxOptions& o) {
  check_common(op, o);
  if (o.nan == NanPolicy::kThrow) {
    for (std::size_t r = 0; r < x.rows; ++r) {
      for (std::size_t c = 0; c < x.cols; ++c) {
        if (std::isnan(x.row(r)[c])) {
          internal::fail(op_name(op), "x has NaN at row " + std::to_string(r) + ", column " +
                                          std::to_string(c) + " (NanPolicy::kThrow)");
        }
      }
    }
  }
  const int t = internal::threads_for(o.threads, x.rows * x.cols * 8);
  internal::parallel_for(x.rows, t, [&](std::size_t b, std::size_t e) {
    for (std::size_t r = b; r < e; ++r) {
      row_f64(op, o, x.row(r), x.cols, y ? y + r * y_stride : nullptr, lse ? lse + r : nullptr);
    }
  });
}

// ---- backward -------------------------------------------------------------------------------

template <class T>
void backward(bool log_form, Rows<const T> y, Rows<const T> dy, Rows<T> dx,
              const SoftmaxOptions& o) {
  const char* fn = log_form ? "log_softmax_backward" : "softmax_backward";
  internal::check_rows(fn, "y", y);
  internal::check_rows(fn, "dy", dy);
  internal::check_rows(fn, "dx", dx);
  internal::check_same_shape(fn, "y", y, "dy", dy);
  internal::check_same_shape(fn, "y", y, "dx", dx);
  internal::check_temperature(fn, o.temperature, internal::TauRange::kLimits);
  if (o.nan == NanPolicy::kThrow) {
    for (const auto& [name, v] : {std::pair{"y", y}, std::pair{"dy", dy}}) {
      for (std::size_t r = 0; r < v.rows; ++r) {
        for (std::size_t c = 0; c < v.cols; ++c) {
          if (std::isnan(v.row(r)[c])) {
            internal::fail(fn, std::string(name) + " has NaN at row " + std::to_string(r) +
                                   ", column " + std::to_string(c) + " (NanPolicy::kThrow)");
          }
        }
      }
    }
  }
  const double tau = o.temperature;
  // Only the limits themselves are piecewise constant; any positive finite tau divides (a tau
  // whose reciprocal overflows gives the infinite gradients of the exact formula).
  const bool limit = tau == 0.0 || std::isinf(tau);
  const int t = internal::threads_for(o.threads, y.rows * y.cols);
  internal::parallel_for(y.rows, t, [&](std::size_t b, std::size_t e) {
    for (std::size_t r = b; r < e; ++r) {
      const T* yr = y.row(r);
      const T* gr = dy.row(r);
      T* out = dx.row(r);
      const std::size_t n = y.cols;
      bool row_nan = false;
      double s = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(yr[i])) row_nan = true;
        // Entries the forward pass pinned (y = 0, or y = -inf for log_softmax) do not depend on
        // x, so their dy does not flow back.
        if (log_form) {
          if (yr[i] != -std::numeric_limits<T>::infinity()) s += static_cast<double>(gr[i]);
        } else if (yr[i] != 0) {
          s += static_cast<double>(gr[i]) * static_cast<double>(yr[i]);
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        if (row_nan) {
          v = std::numeric_limits<double>::quiet_NaN();
        } else if (limit || (log_form ? yr[i] == -std::numeric_limits<T>::infinity() : yr[i] == 0)) {
          v = 0.0;
        } else if (log_form) {
          v = (static_cast<double>(gr[i]) - std::exp(static_cast<double>(yr[i])) * s) / tau;
        } else {
          v = (static_cast<double>(gr[i]) - s) * static_cast<double>(yr[i]) / tau;
        }
        out[i] = static_cast<T>(v);
      }
    }
  });
}

}  // namespace

// ---- public API -------------------------------------------------------------------------------

void softmax(Rows<const float> x, Rows<float> y, const SoftmaxOptions& o) {
  check_forward(Op::kSoftmax, x, y);
  check_common(Op::kSoftmax, o);
  run_f32(Op::kSoftmax, x, y.data, y.row_stride, nullptr, o);
}

void log_softmax(Rows<const float> x, Rows<float> y, const SoftmaxOptions& o) {
  check_forward(Op::kLogSoftmax, x, y);
  check_common(Op::kLogSoftmax, o);
  run_f32(Op::kLogSoftmax, x, y.data, y.row_stride, nullptr, o);
}

void logsumexp(Rows<const float> x, std::span<float> out, const SoftmaxOptions& o) {
  check_lse(x, out.size());
  check_common(Op::kLogSumExp, o);
  run_f32(Op::kLogSumExp, x, nullptr, 0, out.data(), o);
}

void softmax(Rows<const double> x, Rows<double> y, const SoftmaxOptions& o) {
  internal::check_rows("softmax", "x", x);
  internal::check_rows("softmax", "y", y);
  internal::check_same_shape("softmax", "x", x, "y", y);
  forward64(Op::kSoftmax, x, y.data, y.row_stride, nullptr, o);
}

void log_softmax(Rows<const double> x, Rows<double> y, const SoftmaxOptions& o) {
  internal::check_rows("log_softmax", "x", x);
  internal::check_rows("log_softmax", "y", y);
  internal::check_same_shape("log_softmax", "x", x, "y", y);
  forward64(Op::kLogSoftmax, x, y.data, y.row_stride, nullptr, o);
}

void logsumexp(Rows<const double> x, std::span<double> out, const SoftmaxOptions& o) {
  check_lse(x, out.size());
  forward64(Op::kLogSumExp, x, nullptr, 0, out.data(), o);
}

void softmax(Rows<const bfloat16> x, Rows<float> y, const SoftmaxOptions& o) {
  forward16(Op::kSoftmax, x, y, o);
}
void log_softmax(Rows<const bfloat16> x, Rows<float> y, const SoftmaxOptions& o) {
  forward16(Op::kLogSoftmax, x, y, o);
}
void logsumexp(Rows<const bfloat16> x, std::span<float> out, const SoftmaxOptions& o) {
  lse16(x, out, o);
}
void softmax(Rows<const float16> x, Rows<float> y, const SoftmaxOptions& o) {
  forward16(Op::kSoftmax, x, y, o);
}
void log_softmax(Rows<const float16> x, Rows<float> y, const SoftmaxOptions& o) {
  forward16(Op::kLogSoftmax, x, y, o);
}
void logsumexp(Rows<const float16> x, std::span<float> out, const SoftmaxOptions& o) {
  lse16(x, out, o);
}

void softmax_backward(Rows<const float> y, Rows<const float> dy, Rows<float> dx,
                      const SoftmaxOptions& o) {
  backward<float>(false, y, dy, dx, o);
}
void log_softmax_backward(Rows<const float> y, Rows<const float> dy, Rows<float> dx,
                          const SoftmaxOptions& o) {
  backward<float>(true, y, dy, dx, o);
}
void softmax_backward(Rows<const double> y, Rows<const double> dy, Rows<double> dx,
                      const SoftmaxOptions& o) {
  backward<double>(false, y, dy, dx, o);
}
void log_softmax_backward(Rows<const double> y, Rows<const double> dy, Rows<double> dx,
                          const SoftmaxOptions& o) {
  backward<double>(true, y, dy, dx, o);
}

}  // namespace logitkit
