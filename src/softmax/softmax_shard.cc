// SPDX-License-Identifier: Apache-2.0
// The softmax family over vocabulary shards (include/logitkit/shard.h): per-row LseStates of a
// shard (the limits tau = 0 / +inf included), their merge, and the per-shard finish from the
// merged states, on the same kernels as the whole-row driver (softmax.cc).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/internal/shard_util.h"
#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/softmax_internal.h"
#include "src/softmax/softmax_op.h"

namespace logitkit::shard {
namespace {

using namespace internal::shard_values;  // kInf, kNaN, kInfF, kNaNF
using internal::check_size;
using internal::fail;
using internal::rowp;

using internal::TauMode;  // the temperature rule: src/internal/temperature.h

TauMode tau_mode(double tau) { return internal::decode_temperature(tau).mode; }

// The state of a row in the limit modes (tau = 0 / +inf), or any row with NaN / +inf.
LseState limit_state(const float* x, std::size_t n, double tau, TauMode mode) {
  LseState s{-kInf, 0.0, 0.0, tau};
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return LseState{kNaN, 0.0, 0.0, tau};
    s.max = std::max(s.max, static_cast<double>(x[i]));
  }
  if (s.max == -kInf) return s;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] == s.max) {
      s.ties += 1;
    } else if (mode == TauMode::kUniform && s.max != kInf && x[i] != -kInfF) {
      s.rest += 1;
    }
  }
  return s;
}

void throw_on_nan(const char* fn, Rows<const float> x, std::size_t offset) {
  for (std::size_t r = 0; r < x.rows; ++r) {
    const std::size_t c = internal::find_nan(rowp(x, r), x.cols);
    if (c < x.cols) {
      fail(fn, "x has NaN at row " + std::to_string(r) + ", column " + std::to_string(c + offset) +
                   " (NanPolicy::kThrow)");
    }
  }
}

using Op = internal::SoftmaxOp;  // softmax_op.h

void finish(Op op, const char* fn, Rows<const float> x, std::span<const LseState> global,
            Rows<float> y, const SoftmaxOptions& o) {
  internal::check_rows(fn, "x", x);
  internal::check_rows(fn, "y", y);
  internal::check_same_shape(fn, "x", x, "y", y);
  internal::check_temperature(fn, o.temperature, internal::TauRange::kLimits);
  check_size(fn, "global", global.size(), x.rows, "rows");
  const TauMode mode = tau_mode(o.temperature);
  const double inv_tau = mode == TauMode::kNormal ? internal::decode_temperature(o.temperature).inv_tau : 1.0;
  const auto k = internal::softmax_kernels(false);
  const std::size_t n = x.cols;
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    const LseState& s = global[r];
    const float* xr = rowp(x, r);
    float* yr = rowp(y, r);
    if (n == 0) return;
    if (std::isnan(s.max)) {
      std::fill(yr, yr + n, kNaNF);
      return;
    }
    if (s.max == -kInf) {
      const bool nan = o.empty_row == EmptyRow::kNaN;
      std::fill(yr, yr + n, op == Op::kSoftmax ? (nan ? kNaNF : 0.0f) : (nan ? kNaNF : -kInfF));
      return;
    }
    if (s.max == kInf || mode != TauMode::kNormal) {
      const bool uniform = s.max != kInf && mode == TauMode::kUniform;
      const double count = uniform ? s.ties + s.rest : s.ties;
      const float share = static_cast<float>(1.0 / count);
      const float log_share = static_cast<float>(-std::log(count));
      const float winner = static_cast<float>(s.max);
      for (std::size_t i = 0; i < n; ++i) {
        const bool win = uniform ? xr[i] != -kInfF : xr[i] == winner;
        yr[i] = op == Op::kSoftmax ? (win ? share : 0.0f) : (win ? log_share : -kInfF);
      }
      return;
    }
    const double Z = s.ties + s.rest;
    const double log_norm = internal::LogNormalizer(s.ties, s.rest);
    const float m = static_cast<float>(s.max);
    const double inv_sum = 1.0 / Z;
    for (std::size_t c = 0; c < internal::chunk_count(n); ++c) {
      const std::size_t off = c * internal::kChunk, len = internal::chunk_len(n, c);
      if (op == Op::kLogSoftmax) {
        k.log_out(xr + off, len, m, inv_tau, log_norm, yr + off);
        continue;
      }
      const internal::ChunkStats st = k.stats(xr + off, len, inv_tau, yr + off);
      if (st.max == -kInfF) {
        std::fill(yr + off, yr + off + len, 0.0f);
        continue;
      }
      const double f = st.max == m ? 1.0 : std::exp((static_cast<double>(st.max) - s.max) * inv_tau);
      k.scale(yr + off, len, f == 1.0 ? inv_sum : f * inv_sum, yr + off);
    }
  });
}

}  // namespace

void softmax_states(Rows<const float> x, std::span<LseState> states, const SoftmaxOptions& o) {
  constexpr char fn[] = "shard::softmax_states";
  internal::check_rows(fn, "x", x);
  internal::check_temperature(fn, o.temperature, internal::TauRange::kLimits);
  check_size(fn, "states", states.size(), x.rows, "rows");
  if (o.nan == NanPolicy::kThrow) throw_on_nan(fn, x, 0);
  const TauMode mode = tau_mode(o.temperature);
  const double tau = o.temperature;
  internal::for_each_row(x.rows, x.cols, o.threads, [&](std::size_t r, int) {
    const float* xr = rowp(x, r);
    if (mode != TauMode::kNormal) {
      states[r] = limit_state(xr, x.cols, tau, mode);
    } else {
      states[r] = LseState::of(std::span<const float>(xr, x.cols), tau);
    }
  });
}

void merge_states(std::span<LseState> inout, std::span<const LseState> in) {
  internal::merge_all(inout, in, internal::merge_lse);
}

void softmax_finish(Rows<const float> x, std::span<const LseState> global, Rows<float> y,
                    const SoftmaxOptions& o) {
  finish(Op::kSoftmax, "shard::softmax_finish", x, global, y, o);
}

void log_softmax_finish(Rows<const float> x, std::span<const LseState> global, Rows<float> y,
                        const SoftmaxOptions& o) {
  finish(Op::kLogSoftmax, "shard::log_softmax_finish", x, global, y, o);
}

void logsumexp_finish(std::span<const LseState> global, std::span<float> out,
                      const SoftmaxOptions& o) {
  constexpr char fn[] = "shard::logsumexp_finish";
  internal::check_temperature(fn, o.temperature, internal::TauRange::kLimits);
  if (out.size() != global.size()) {
    fail(fn, "out has " + std::to_string(out.size()) + " entries but global has " +
                 std::to_string(global.size()));
  }
  const TauMode mode = tau_mode(o.temperature);
  for (std::size_t r = 0; r < global.size(); ++r) {
    const LseState& s = global[r];
    double v;
    if (std::isnan(s.max) || std::isinf(s.max)) {
      v = s.max;
    } else if (mode == TauMode::kArgmax) {
      v = s.max > 0 ? kInf : (s.max < 0 ? -kInf : std::log(s.ties));
    } else if (mode == TauMode::kUniform) {
      v = std::log(s.ties + s.rest);
    } else {
      v = s.max / o.temperature + internal::LogNormalizer(s.ties, s.rest);
    }
    out[r] = static_cast<float>(v);
  }
}

}  // namespace logitkit::shard
