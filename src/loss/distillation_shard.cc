// SPDX-License-Identifier: Apache-2.0
// Distillation (forward KL, teacher logits) over vocabulary shards (include/logitkit/shard.h):
// a shard's per-row states, their merge, and the per-shard finish from the merged states, on the
// whole-row driver's kernels and option checks (src/loss/distillation_setup.h).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/internal/shard_util.h"
#include "src/loss/distillation_setup.h"
#include "src/loss/loss_internal.h"
#include "src/loss/loss_kernels.h"
#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit::shard {
namespace {

using namespace internal::shard_values;  // kInf, kInfF

using internal::check_size;
using internal::rowp;

void check_distill(const char* fn, Rows<const float> s, Rows<const float> t,
                   const DistillationOptions& o) {
  internal::check_rows(fn, "student", s);
  internal::check_rows(fn, "teacher", t);
  internal::check_same_shape(fn, "student", s, "teacher", t);
  internal::check_temperature(fn, o.temperature, internal::TauRange::kPositive);
}

}  // namespace

DistillationState DistillationState::merge(const DistillationState& o) const {
  DistillationState m;
  m.teacher = internal::merge_lse(teacher, o.teacher);
  m.student = internal::merge_lse(student, o.student);
  m.masked = (masked != 0.0 || o.masked != 0.0) ? 1.0 : 0.0;
  if (m.special()) return m;
  const double Mt = m.teacher.max, Ms = m.student.max;
  m.cross = internal::cross_at(*this, Mt, Ms) + internal::cross_at(o, Mt, Ms);
  return m;
}

bool DistillationState::special() const {
  return !std::isfinite(teacher.max) || !std::isfinite(student.max);
}

void merge_states(std::span<DistillationState> inout, std::span<const DistillationState> in) {
  internal::merge_all(inout, in, [](const DistillationState& a, const DistillationState& b) {
    return a.merge(b);
  });
}

void distillation_states(Rows<const float> s, Rows<const float> t, const DistillationOptions& o,
                         std::span<DistillationState> states) {
  constexpr char fn[] = "shard::distillation_states";
  check_distill(fn, s, t, o);
  check_size(fn, "states", states.size(), s.rows, "rows");
  const double tau = o.temperature, inv_tau = internal::decode_temperature(tau).inv_tau;
  const auto sk = internal::softmax_kernels(false);
  const auto lk = internal::loss_kernels(false, /*comp_dual=*/true);
  internal::for_each_row(s.rows, s.cols, o.threads, [&](std::size_t r, int) {
    const float* sr = rowp(s, r);
    const float* tr = rowp(t, r);
    const std::size_t n = s.cols;
    DistillationState st;
    st.teacher = LseState::of(std::span<const float>(tr, n), tau);
    st.student = LseState::of(std::span<const float>(sr, n), tau);
    if (std::isnan(st.teacher.max) || std::isnan(st.student.max) || st.teacher.max == kInf ||
        st.student.max == kInf || st.teacher.max == -kInf) {
      states[r] = st;
      return;
    }
    if (st.student.max == -kInf) {  // teacher has mass here, student none
      st.masked = 1.0;
      states[r] = st;
      return;
    }
    // Chunk sums come relative to the chunk maxima (dual_stats); shift them to the shard's row
    // maxima as the whole-row distillation does (the same merge, in the same order): with
    // f = exp(dt), cross += f (cross_c + (ties_c + rest_c) (dt - ds)), dt, ds the shifts of the
    // two maxima.
    double cross = 0.0, tt = 0.0, trest = 0.0, sties = 0.0, srest = 0.0;
    bool masked = false;
    const double mt = st.teacher.max, ms = st.student.max;
    for (std::size_t c = 0; c < internal::chunk_count(n); ++c) {
      const std::size_t off = c * internal::kChunk;
      const internal::DualStats k = lk.dual_stats(tr + off, sr + off, internal::chunk_len(n, c),
                                                  inv_tau, inv_tau, nullptr, nullptr);
      // A chunk without mass on one side: the kernel's statistics are not defined there; each
      // side's come from the softmax statistics.
      internal::ChunkStats ks = k.s, kt = k.t;
      if (ks.max == -kInfF || kt.max == -kInfF) {
        ks = sk.stats(sr + off, internal::chunk_len(n, c), inv_tau, nullptr);
        kt = sk.stats(tr + off, internal::chunk_len(n, c), inv_tau, nullptr);
      }
      double ft = 0.0, fs = 0.0;
      if (ks.max != -kInfF) {
        internal::distill::merge_chunk(ks, static_cast<float>(ms), inv_tau, &fs, &sties, &srest);
      }
      if (kt.max == -kInfF) continue;  // no teacher mass in this chunk: adds nothing
      internal::distill::merge_chunk(kt, static_cast<float>(mt), inv_tau, &ft, &tt, &trest);
      if (k.s.max == -kInfF) {          // teacher mass where the student has none
        masked = true;
        continue;
      }
      masked |= k.student_masked;
      const double dt = (static_cast<double>(k.t.max) - mt) * inv_tau;
      const double ds = (static_cast<double>(k.s.max) - ms) * inv_tau;
      cross += ft * (k.cross_t + (k.t.ties + k.t.rest) * (dt - ds));
    }
    st.teacher.ties = tt;
    st.teacher.rest = trest;
    st.student.ties = sties;
    st.student.rest = srest;
    st.cross = cross;
    st.masked = masked ? 1.0 : 0.0;
    states[r] = st;
  });
}

void distillation_finish(Rows<const float> s, Rows<const float> t, const DistillationOptions& o,
                         std::span<const DistillationState> global, std::span<double> row_loss,
                         Rows<float> grad, double grad_scale, std::span<float> lse) {
  constexpr char fn[] = "shard::distillation_finish";
  check_distill(fn, s, t, o);
  check_size(fn, "global", global.size(), s.rows, "rows");
  check_size(fn, "row_loss", row_loss.size(), s.rows, "rows");
  if (!lse.empty()) check_size(fn, "lse", lse.size(), s.rows, "rows");
  if (grad.data) {
    internal::check_rows(fn, "grad", grad);
    internal::check_same_shape(fn, "student", s, "grad", grad);
  }
  const double inv_tau = internal::decode_temperature(o.temperature).inv_tau;
  const double factor = o.tau_squared ? o.temperature * o.temperature : 1.0;
  const auto sk = internal::softmax_kernels(false);
  const auto lk = internal::loss_kernels(false, /*comp_dual=*/true);
  internal::for_each_row(s.rows, s.cols, o.threads, [&](std::size_t r, int) {
    const DistillationState& g = global[r];
    if (g.special()) return;
    const double zt = g.teacher.ties + g.teacher.rest, zs = g.student.ties + g.student.rest;
    const double lt = internal::LogNormalizer(g.teacher.ties, g.teacher.rest);
    const double ls = internal::LogNormalizer(g.student.ties, g.student.rest);
    const double kl = g.masked != 0.0 ? kInf : g.cross / zt + (ls - lt);
    row_loss[r] = factor * std::max(kl, 0.0);
    if (!lse.empty()) lse[r] = static_cast<float>(g.student.max * inv_tau + ls);
    if (!grad.data) return;
    const float* sr = rowp(s, r);
    const float* tr = rowp(t, r);
    float* gr = rowp(grad, r);
    const double c = grad_scale * factor * inv_tau;
    for (std::size_t ch = 0; ch < internal::chunk_count(s.cols); ++ch) {
      const std::size_t off = ch * internal::kChunk, len = internal::chunk_len(s.cols, ch);
      // Both sides' exponentials of this chunk (relative to its own maxima, by the whole-row
      // driver's kernel), then grad = c (q - p), each side scaled to the global maxima. A chunk
      // without mass on one side (all -inf there: the kernel's exponentials are not defined)
      // takes each side's exponentials from the softmax statistics instead.
      float* te = internal::scratch(len, 1);
      const internal::DualStats k = lk.dual_stats(tr + off, sr + off, len, inv_tau, inv_tau, te,
                                                  gr + off);
      internal::ChunkStats ss = k.s, ts = k.t;
      if (ss.max == -kInfF || ts.max == -kInfF) {
        ss = sk.stats(sr + off, len, inv_tau, gr + off);
        ts = sk.stats(tr + off, len, inv_tau, te);
      }
      double f = 0.0, ft = 0.0;
      if (ss.max == -kInfF) {
        std::fill(gr + off, gr + off + len, 0.0f);
      } else {
        f = static_cast<double>(ss.max) == g.student.max
                ? 1.0
                : std::exp((static_cast<double>(ss.max) - g.student.max) * inv_tau);
      }
      if (ts.max == -kInfF) {
        std::fill(te, te + len, 0.0f);
      } else {
        ft = static_cast<double>(ts.max) == g.teacher.max
                 ? 1.0
                 : std::exp((static_cast<double>(ts.max) - g.teacher.max) * inv_tau);
      }
      lk.kl_grad(gr + off, te, len, c * f / zs, c * ft / zt, gr + off, false);
    }
  });
}

}  // namespace logitkit::shard
