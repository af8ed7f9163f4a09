// SPDX-License-Identifier: Apache-2.0
// logitkit::mpi: softmax family, cross-entropy and distillation over vocabulary shards. Each call:
// local checks -> one MPI_Allgather of a descriptor (every rank throws on any problem) -> local
// shard states -> the merge (MPI_MAX of the row maxima, then MPI_SUM of the states rebased to
// them; src/mpi/collective.cc) -> local finish (logitkit/shard.h).

#include "logitkit/mpi.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/loss/distillation_setup.h"
#include "src/mpi/collective.h"
#include "src/softmax/softmax_op.h"

namespace logitkit::mpi {
namespace {

using detail::Descriptor;
using detail::Layout;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void fail_local(const char* fn, const std::string& what) { detail::fail(fn, what); }

// The library's checks (src/internal/check.h), their messages naming "mpi::<fn>".
std::string qualified(const char* fn) { return std::string("mpi::") + fn; }

// ---- softmax family ---------------------------------------------------------------------------

using Op = internal::SoftmaxOp;  // src/softmax/softmax_op.h
using internal::op_name;

constexpr const char* kSoftmaxParams[] = {"the operation", "temperature", "empty_row",
                                          "nan policy", nullptr};

void softmax_family(Op op, MPI_Comm comm, Rows<const float> x, Rows<float> y, std::span<float> lse,
                    const SoftmaxOptions& o) {
  const char* fn = op_name(op);
  detail::check_comm(fn, comm);
  Descriptor d;
  d.rows = x.rows;
  d.cols = x.cols;
  d.params[0] = static_cast<double>(op);
  d.params[1] = o.temperature;
  d.params[2] = static_cast<double>(o.empty_row);
  d.params[3] = static_cast<double>(o.nan);
  const std::string qual = qualified(fn);
  detail::capture(d, [&] {
    internal::check_rows(qual.c_str(), "x", x);
    if (op == Op::kLogSumExp) {
      if (lse.size() != x.rows) {
        fail_local(fn, "out has " + std::to_string(lse.size()) + " entries but x has " +
                           std::to_string(x.rows) + " rows");
      }
    } else {
      internal::check_rows(qual.c_str(), "y", y);
      internal::check_same_shape(qual.c_str(), "x", x, "y", y);
    }
    internal::check_temperature(qual.c_str(), o.temperature, internal::TauRange::kLimits);
    detail::check_count(fn, x.rows);
    if (o.nan == NanPolicy::kThrow) {
      for (std::size_t r = 0; r < x.rows && d.nan_row < 0; ++r) {
        for (std::size_t c = 0; c < x.cols; ++c) {
          if (std::isnan(x.row(r)[c])) {
            d.nan_row = static_cast<std::int64_t>(r);
            d.nan_col = static_cast<std::int64_t>(c);
            break;
          }
        }
      }
    }
  });
  const Layout l = detail::exchange(fn, comm, d, kSoftmaxParams);
  if (o.nan == NanPolicy::kThrow) {
    std::int64_t row = -1, col = -1;
    std::size_t off = 0;
    for (const Descriptor& e : l.all) {
      if (e.nan_row >= 0) {
        const std::int64_t c = e.nan_col + static_cast<std::int64_t>(off);
        if (row < 0 || e.nan_row < row || (e.nan_row == row && c < col)) row = e.nan_row, col = c;
      }
      off += e.cols;
    }
    if (row >= 0) {
      fail_local(fn, "x has NaN at row " + std::to_string(row) + ", column " +
                         std::to_string(col) + " (NanPolicy::kThrow)");
    }
  }
  SoftmaxOptions lo = o;
  lo.nan = NanPolicy::kPropagate;
  std::vector<LseState> st(x.rows);
  shard::softmax_states(x, st, lo);
  detail::allreduce_states(st.data(), st.size(), 4, comm);
  switch (op) {
    case Op::kSoftmax: shard::softmax_finish(x, st, y, lo); break;
    case Op::kLogSoftmax: shard::log_softmax_finish(x, st, y, lo); break;
    case Op::kLogSumExp: shard::logsumexp_finish(st, lse, lo); break;
  }
}

// ---- cross-entropy ----------------------------------------------------------------------------

constexpr const char* kCeParams[] = {
    "the target kind (class indices or probabilities)", "reduction", "ignore_index",
    "label_smoothing", "smoothing (kPyTorch or kMegatron)", "z_loss", "softcap", "temperature",
    "empty_mean", nullptr};

// Class weights: given on every rank that holds columns, or on none.
void check_weights_everywhere(const char* fn, const Layout& l) {
  for (int r = 0; r < l.size; ++r) {
    const Descriptor& e = l.all[static_cast<std::size_t>(r)];
    for (int q = r + 1; q < l.size; ++q) {
      const Descriptor& f = l.all[static_cast<std::size_t>(q)];
      if (e.cols > 0 && f.cols > 0 && e.flag != f.flag) {
        fail_local(fn, "class weights are given on rank " + std::to_string(e.flag ? r : q) +
                           " but not on rank " + std::to_string(e.flag ? q : r) +
                           " (pass each rank's shard of the weights, or none anywhere)");
      }
    }
  }
}

// No classes anywhere: only ignored rows can exist (as the single-process call); lse -inf, loss 0
// or the empty mean.
double ce_no_classes(const char* fn, std::span<const std::int64_t> target, bool prob,
                     std::size_t N, const CrossEntropyOptions& o, const LossOutputs<float>& out) {
  for (std::size_t r = 0; r < N && !prob; ++r) {
    if (target[r] != o.ignore_index) {
      fail_local(fn, "target at row " + std::to_string(r) + " is " + std::to_string(target[r]) +
                         ", outside [0, 0) and not ignore_index (" +
                         std::to_string(o.ignore_index) + ")");
    }
  }
  for (std::size_t r = 0; r < N; ++r) {
    if (!out.lse.empty()) out.lse[r] = -std::numeric_limits<float>::infinity();
    if (!out.row_loss.empty()) out.row_loss[r] = 0.0f;
  }
  if (o.reduction != Reduction::kMean) return 0.0;
  const double den = prob ? static_cast<double>(N) : 0.0;
  if (den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return 0.0;
}

// kMean's denominator of the whole batch, known before the first block is finished: class-index
// targets with weights sum the target weights by one MPI_SUM allreduce of N doubles (one non-zero
// term per row: exact in any order), then in row order as the single-process call does.
double batch_mean_denominator(MPI_Comm comm, const Layout& l, Rows<const float> x,
                              std::span<const std::int64_t> target, bool prob, bool has_weights,
                              const CrossEntropyOptions& o) {
  const std::size_t N = x.rows;
  double den = 0.0;
  if (prob) {
    den = static_cast<double>(N);
  } else if (!has_weights) {
    for (std::size_t r = 0; r < N; ++r) den += target[r] != o.ignore_index ? 1.0 : 0.0;
  } else {
    std::vector<double> wt(N, 0.0);
    for (std::size_t r = 0; r < N; ++r) {
      const std::int64_t t = target[r];
      if (t != o.ignore_index && !o.weight.empty() && static_cast<std::size_t>(t) >= l.offset &&
          static_cast<std::size_t>(t) < l.offset + x.cols) {
        wt[r] = o.weight[static_cast<std::size_t>(t) - l.offset];
      }
    }
    MPI_Allreduce(MPI_IN_PLACE, wt.data(), static_cast<int>(N), MPI_DOUBLE, MPI_SUM, comm);
    for (std::size_t r = 0; r < N; ++r) den += target[r] != o.ignore_index ? wt[r] : 0.0;
  }
  return den;
}

// The gradient path: the states pass stores the exponentials in grad, the finish turns them into
// the gradient with this rank's own states. One merge for the whole batch by default.
// LOGITKIT_MPI_CE_BLOCK_ROWS = b > 0 (rank 0's value) finishes rows in blocks of b, one merge
// per block, so that each block's gradient is finished while still in cache; measured here it
// did not pay (docs/distributed.md): on an oversubscribed machine every block is a
// synchronisation point.
double ce_stored(MPI_Comm comm, const Layout& l, const shard::Shard& sh, Rows<const float> x,
                 std::span<const std::int64_t> target, Rows<const float> y, bool prob,
                 bool has_weights, const CrossEntropyOptions& o, const LossOutputs<float>& out) {
  const std::size_t N = x.rows;
  std::vector<shard::CrossEntropyState> st(N);
  const std::size_t block = l.all[0].hint > 0 ? static_cast<std::size_t>(l.all[0].hint)
                                              : std::max<std::size_t>(N, 1);
  const double den = o.reduction == Reduction::kMean && block < N
                         ? batch_mean_denominator(comm, l, x, target, prob, has_weights, o)
                         : 0.0;
  const CrossEntropyOptions& sum_o = o;  // each block divides by the whole batch's den
  double total = 0.0;
  std::vector<shard::CrossEntropyState> local;
  for (std::size_t r0 = 0; r0 < N; r0 += block) {
    const std::size_t nb = std::min(block, N - r0);
    // (an empty shard's data may be null: no pointer arithmetic on it)
    const Rows<const float> xb{x.data ? x.row(r0) : nullptr, nb, x.cols, x.row_stride};
    const Rows<const float> yb =
        prob ? Rows<const float>{y.data ? y.row(r0) : nullptr, nb, y.cols, y.row_stride}
             : Rows<const float>{};
    const std::span<const std::int64_t> tb = prob ? target : target.subspan(r0, nb);
    // A rank without columns may pass no gradient: nothing to write there.
    const Rows<float> gb = out.grad.data
        ? Rows<float>{out.grad.row(r0), nb, out.grad.cols, out.grad.row_stride}
        : Rows<float>{nullptr, 0, 0, 0};
    const LossOutputs<float> ob{gb, out.row_loss.empty() ? out.row_loss : out.row_loss.subspan(r0, nb),
                                out.lse.empty() ? out.lse : out.lse.subspan(r0, nb)};
    const std::span<shard::CrossEntropyState> sb(st.data() + r0, nb);
    if (prob) shard::cross_entropy_states(xb, yb, sh, sum_o, sb, gb);
    else shard::cross_entropy_states(xb, tb, sh, sum_o, sb, gb);
    local.assign(sb.begin(), sb.end());
    detail::allreduce_states(sb.data(), nb, 8, comm);
    const std::span<const shard::CrossEntropyState> lb =
        gb.data ? std::span<const shard::CrossEntropyState>(local)
                : std::span<const shard::CrossEntropyState>();
    total += prob ? shard::cross_entropy_finish(xb, yb, sh, sum_o, lb, sb, ob, den)
                  : shard::cross_entropy_finish(xb, tb, sh, sum_o, lb, sb, ob, den);
  }
  if (o.reduction == Reduction::kMean && block < N && den == 0.0) {
    return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  }
  return total;
}

double ce(MPI_Comm comm, Rows<const float> x, std::span<const std::int64_t> target,
          Rows<const float> y, bool prob, const CrossEntropyOptions& o,
          const LossOutputs<float>& out, const char* fn = "cross_entropy") {
  const std::string qual = std::string("mpi::") + fn;
  // cross_entropy_check tells the target kind by y.data: an empty shard's y may be null.
  static const float kDummy = 0.0f;
  const Rows<const float> y_chk =
      prob ? Rows<const float>{y.data ? y.data : &kDummy, y.rows, y.cols, y.row_stride}
           : Rows<const float>{nullptr, 0, 0, 0};
  detail::check_comm(fn, comm);
  Descriptor d;
  d.rows = x.rows;
  d.cols = x.cols;
  d.params[0] = prob ? 1.0 : 0.0;
  d.params[1] = static_cast<double>(o.reduction);
  d.params[2] = static_cast<double>(o.ignore_index);
  d.params[3] = o.label_smoothing;
  d.params[4] = static_cast<double>(o.smoothing);
  d.params[5] = o.z_loss;
  d.params[6] = o.softcap;
  d.params[7] = o.temperature;
  d.params[8] = static_cast<double>(o.empty_mean);
  d.flag = (x.cols > 0 && !o.weight.empty()) ? 1 : 0;
  // The blocked path (below) needs every rank that holds columns to want a gradient that does not
  // alias x; the choice must be the same on every rank (it changes the collectives).
  d.flag2 = (x.cols == 0 || (out.grad.data != nullptr &&
                             static_cast<const void*>(out.grad.data) != static_cast<const void*>(x.data)))
                ? 1 : 0;
  if (!prob) d.hash = detail::hash_bytes(target.data(), target.size_bytes());
  // LOGITKIT_MPI_CE_BLOCK_ROWS (> 0): rows per block of the gradient path (tests, tuning); rank
  // 0's value is used everywhere.
  if (const char* env = std::getenv("LOGITKIT_MPI_CE_BLOCK_ROWS")) d.hint = std::atoll(env);
  detail::capture(d, [&] {
    detail::check_count(fn, x.rows);
    shard::cross_entropy_check(x, target, y_chk, {0, 0}, o, out, qual.c_str());
  });
  const Layout l = detail::exchange(fn, comm, d, kCeParams);
  check_weights_everywhere(fn, l);
  const std::size_t N = x.rows;
  if (l.total == 0) return ce_no_classes(fn, target, prob, N, o, out);
  const shard::Shard sh{l.offset, l.total};
  // The global checks (target range, kMegatron's C >= 2) see identical targets and C on every
  // rank, so they throw on every rank or on none.
  shard::cross_entropy_check(x, target, y_chk, sh, o, out, qual.c_str());
  // With a gradient that does not alias x, the states pass stores the exponentials in it (one exp
  // pass in all); the finish needs this rank's own states too.
  bool stored = true, has_weights = false, any_cols = false;
  for (const Descriptor& e : l.all) {
    stored = stored && e.flag2 != 0;
    has_weights = has_weights || e.flag != 0;
    any_cols = any_cols || e.cols > 0;
  }
  if (stored && any_cols && N > 0) {
    return ce_stored(comm, l, sh, x, target, y, prob, has_weights, o, out);
  }
  std::vector<shard::CrossEntropyState> st(N);
  if (prob) shard::cross_entropy_states(x, y, sh, o, st);
  else shard::cross_entropy_states(x, target, sh, o, st);
  detail::allreduce_states(st.data(), N, 8, comm);
  return prob ? shard::cross_entropy_finish(x, y, sh, o, st, out)
              : shard::cross_entropy_finish(x, target, sh, o, st, out);
}

// ---- distillation -----------------------------------------------------------------------------

constexpr const char* kDistillParams[] = {"temperature", "divergence", "js_beta", "tau_squared",
                                          "reduction", "teacher_input", "alpha", "ignore_index",
                                          nullptr};

// Reverse KL, Jensen-Shannon and log-probability teachers (loss.h's scalar definitions, in long
// double): one merge of the teacher's and student's LseStates, then one MPI_SUM allreduce of
// two per-row sums (the divergence and, for the gradient, KL(q || p) or KL(q || M)). Rows whose
// states are limits are left to the caller (`special`).
void generic_divergence(MPI_Comm comm, Rows<const float> s, Rows<const float> t,
                        const DistillationOptions& o, double scale, std::vector<double>& row_loss,
                        const LossOutputs<float>& out, std::vector<std::size_t>& special) {
  using L = long double;
  const std::size_t N = s.rows, V = s.cols;
  const bool lp_in = o.teacher_input == TeacherInput::kLogProbs;
  const double tau = o.temperature;
  const double t_tau = lp_in ? 1.0 : tau;
  std::vector<LseState> st(2 * N);
  for (std::size_t r = 0; r < N; ++r) {
    st[2 * r] = LseState::of(std::span<const float>(V ? t.row(r) : nullptr, V), t_tau);
    st[2 * r + 1] = LseState::of(std::span<const float>(V ? s.row(r) : nullptr, V), tau);
  }
  detail::allreduce_states(st.data(), 2 * N, 4, comm);
  const L inv_tau = internal::inv_tau_long(tau), t_inv = internal::inv_tau_long(t_tau);
  const L beta = o.js_beta;
  const L factor = o.tau_squared ? static_cast<L>(tau) * tau : 1.0L;
  using internal::distill::kInfL;
  auto lnorm = [](const LseState& x) -> L {
    return x.ties == 1.0 ? std::log1p(static_cast<L>(x.rest))
                         : std::log(static_cast<L>(x.ties) + static_cast<L>(x.rest));
  };
  auto is_special = [](const LseState& a, const LseState& b) {
    return !std::isfinite(a.max) || !std::isfinite(b.max);
  };
  // Per row: log p_j, log q_j, log M_j of this shard's entries.
  auto logs = [&](std::size_t r, std::size_t j, L* lp, L* lq) {
    const LseState &a = st[2 * r], &b = st[2 * r + 1];
    const float tj = t.row(r)[j], sj = s.row(r)[j];
    *lp = tj == -std::numeric_limits<float>::infinity()
              ? -kInfL : (static_cast<L>(tj) - a.max) * t_inv - lnorm(a);
    *lq = sj == -std::numeric_limits<float>::infinity()
              ? -kInfL : (static_cast<L>(sj) - b.max) * inv_tau - lnorm(b);
  };
  // The whole-row driver's per-entry terms (distillation_setup.h): log M in the log domain,
  // kl_term +inf where the second distribution has no mass.
  const L log_beta = std::log(beta), log_1m_beta = std::log1p(-beta);
  auto log_m = [&](L lp, L lq) {
    return internal::distill::log_mixture(lp, lq, log_beta, log_1m_beta);
  };
  using internal::distill::kl_term;
  std::vector<double> sums(2 * N, 0.0);
  for (std::size_t r = 0; r < N; ++r) {
    if (is_special(st[2 * r], st[2 * r + 1])) continue;
    L div = 0, mean_h = 0;
    for (std::size_t j = 0; j < V; ++j) {
      L lp, lq;
      logs(r, j, &lp, &lq);
      switch (o.divergence) {
        case Divergence::kForwardKL: div += kl_term(lp, lq); break;
        case Divergence::kReverseKL: div += kl_term(lq, lp); break;
        case Divergence::kJensenShannon: {
          const L lm = log_m(lp, lq);
          div += beta * kl_term(lp, lm) + (1 - beta) * kl_term(lq, lm);
          mean_h += kl_term(lq, lm);
          break;
        }
      }
    }
    sums[2 * r] = static_cast<double>(div);
    sums[2 * r + 1] = static_cast<double>(o.divergence == Divergence::kReverseKL ? div : mean_h);
  }
  MPI_Allreduce(MPI_IN_PLACE, sums.data(), static_cast<int>(2 * N), MPI_DOUBLE, MPI_SUM, comm);
  for (std::size_t r = 0; r < N; ++r) {
    const LseState &a = st[2 * r], &b = st[2 * r + 1];
    if (is_special(a, b)) {
      special.push_back(r);
      continue;
    }
    row_loss[r] = static_cast<double>(factor * static_cast<L>(sums[2 * r]));
    if (!out.lse.empty()) out.lse[r] = static_cast<float>(static_cast<L>(b.max) * inv_tau + lnorm(b));
    if (!out.grad.data) continue;
    const L c = static_cast<L>(scale) * factor * inv_tau;
    const L mean_h = sums[2 * r + 1];
    float* g = out.grad.row(r);
    for (std::size_t j = 0; j < V; ++j) {
      L lp, lq;
      logs(r, j, &lp, &lq);
      if (o.divergence == Divergence::kForwardKL) {
        g[j] = static_cast<float>(c * (std::exp(lq) - std::exp(lp)));
      } else {
        const L other = o.divergence == Divergence::kReverseKL ? lp : log_m(lp, lq);
        const L w = o.divergence == Divergence::kReverseKL ? 1.0L : 1 - beta;
        g[j] = static_cast<float>(internal::distill::divergence_grad(c, w, lq, other, mean_h));
      }
    }
  }
}

// Limit rows (NaN, +inf, all -inf on either side) are rare: gathered whole and computed with the
// single-process call (every rank gets the same rows, so the same verdicts).
void finish_limit_rows(MPI_Comm comm, const Layout& l, Rows<const float> s, Rows<const float> t,
                       const DistillationOptions& o, double scale,
                       const std::vector<std::size_t>& special, std::vector<double>& row_loss,
                       const LossOutputs<float>& out) {
  const std::size_t C = l.total;
  const std::size_t k = special.size();
  std::vector<float> mine(2 * k * s.cols);
  for (std::size_t i = 0; i < k && s.cols > 0; ++i) {
    std::copy(s.row(special[i]), s.row(special[i]) + s.cols, mine.data() + i * s.cols);
    std::copy(t.row(special[i]), t.row(special[i]) + s.cols, mine.data() + (k + i) * s.cols);
  }
  std::vector<int> counts(static_cast<std::size_t>(l.size)), displs(counts.size());
  std::size_t at = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    counts[r] = static_cast<int>(2 * k * l.all[r].cols);
    displs[r] = static_cast<int>(at);
    at += static_cast<std::size_t>(counts[r]);
  }
  std::vector<float> all(at);
  MPI_Allgatherv(mine.data(), static_cast<int>(mine.size()), MPI_FLOAT, all.data(),
                 counts.data(), displs.data(), MPI_FLOAT, comm);
  std::vector<float> fs(C), ft(C), fg(C);
  DistillationOptions one = o;
  one.alpha = 0.0;
  one.reduction = Reduction::kSum;
  one.target = {};
  for (std::size_t i = 0; i < k; ++i) {
    std::size_t col = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      const std::size_t v = l.all[r].cols;
      const float* base = all.data() + displs[r];
      std::copy(base + i * v, base + (i + 1) * v, fs.data() + col);
      std::copy(base + (k + i) * v, base + (k + i + 1) * v, ft.data() + col);
      col += v;
    }
    float lse_one = 0.0f;
    const double loss = ::logitkit::distillation_loss(
        one_row<const float>(fs.data(), C), one_row<const float>(ft.data(), C), one,
        {out.grad.data ? one_row(fg.data(), C) : Rows<float>{nullptr, 0, 0, 0}, {},
         std::span<float>(&lse_one, 1)});
    const std::size_t r = special[i];
    row_loss[r] = loss;
    if (!out.lse.empty()) out.lse[r] = lse_one;
    if (out.grad.data && s.cols > 0) {
      float* gr = out.grad.row(r);
      for (std::size_t j = 0; j < s.cols; ++j) {
        gr[j] = static_cast<float>(static_cast<double>(fg[l.offset + j]) * scale);
      }
    }
  }
}

double distill(MPI_Comm comm, Rows<const float> s, Rows<const float> t,
               const DistillationOptions& o, const LossOutputs<float>& out) {
  constexpr char fn[] = "distillation_loss";
  detail::check_comm(fn, comm);
  Descriptor d;
  d.rows = s.rows;
  d.cols = s.cols;
  d.params[0] = o.temperature;
  d.params[1] = static_cast<double>(o.divergence);
  d.params[2] = o.js_beta;
  d.params[3] = o.tau_squared ? 1.0 : 0.0;
  d.params[4] = static_cast<double>(o.reduction);
  d.params[5] = static_cast<double>(o.teacher_input);
  d.params[6] = o.alpha;
  d.params[7] = static_cast<double>(o.ignore_index);
  if (o.alpha > 0) d.hash = detail::hash_bytes(o.target.data(), o.target.size_bytes());
  const std::string qual = qualified(fn);
  detail::capture(d, [&] {
    detail::check_count(fn, s.rows);
    internal::distill::check_arguments(qual.c_str(), s, t, o, out);
  });
  const Layout l = detail::exchange(fn, comm, d, kDistillParams);
  const std::size_t N = s.rows, C = l.total;
  // The targets are the same on every rank (hashed), so every rank throws or none.
  internal::distill::check_targets(qual.c_str(), o, C);
  const double scale = internal::distill::reduction_scale(o, N, C);
  std::vector<double> row_loss(N, 0.0);
  if (C > 0) {
    std::vector<std::size_t> special;
    if (o.divergence == Divergence::kForwardKL && o.teacher_input == TeacherInput::kLogits) {
      // One merge of DistillationStates; the finish uses the SIMD kernels.
      std::vector<shard::DistillationState> st(N);
      shard::distillation_states(s, t, o, st);
      detail::allreduce_states(st.data(), N, 10, comm);
      shard::distillation_finish(s, t, o, st, row_loss, out.grad, scale, out.lse);
      for (std::size_t r = 0; r < N; ++r) if (st[r].special()) special.push_back(r);
    } else {
      generic_divergence(comm, s, t, o, scale, row_loss, out, special);
    }
    if (!special.empty()) finish_limit_rows(comm, l, s, t, o, scale, special, row_loss, out);
  }
  if (!out.row_loss.empty()) {
    for (std::size_t r = 0; r < N; ++r) out.row_loss[r] = static_cast<float>(row_loss[r]);
  }
  double sum = 0.0;
  for (double v : row_loss) sum += v;
  double loss = o.reduction == Reduction::kNone || o.reduction == Reduction::kSum ? sum : sum * scale;
  if (o.alpha > 0) {
    CrossEntropyOptions ce_o;
    ce_o.ignore_index = o.ignore_index;
    ce_o.threads = o.threads;
    std::vector<float> g;
    LossOutputs<float> ce_out;
    if (out.grad.data) {
      g.resize(N * s.cols);
      ce_out.grad = Rows<float>{g.data(), N, s.cols, s.cols};
    }
    loss += o.alpha * ce(comm, s, o.target, Rows<const float>{nullptr, 0, 0, 0}, false, ce_o,
                         ce_out, fn);
    if (out.grad.data) {
      for (std::size_t r = 0; r < N; ++r) {
        float* gr = out.grad.row(r);
        for (std::size_t j = 0; j < s.cols; ++j) {
          gr[j] = static_cast<float>(gr[j] + o.alpha * static_cast<double>(g[r * s.cols + j]));
        }
      }
    }
  }
  return loss;
}

}  // namespace

void softmax(MPI_Comm comm, Rows<const float> x, Rows<float> y, const SoftmaxOptions& o) {
  softmax_family(Op::kSoftmax, comm, x, y, {}, o);
}
void log_softmax(MPI_Comm comm, Rows<const float> x, Rows<float> y, const SoftmaxOptions& o) {
  softmax_family(Op::kLogSoftmax, comm, x, y, {}, o);
}
void logsumexp(MPI_Comm comm, Rows<const float> x, std::span<float> out, const SoftmaxOptions& o) {
  softmax_family(Op::kLogSumExp, comm, x, Rows<float>{nullptr, 0, 0, 0}, out, o);
}

double cross_entropy(MPI_Comm comm, Rows<const float> x, std::span<const std::int64_t> target,
                     const CrossEntropyOptions& o, const LossOutputs<float>& out) {
  return ce(comm, x, target, Rows<const float>{nullptr, 0, 0, 0}, false, o, out);
}
double cross_entropy(MPI_Comm comm, Rows<const float> x, Rows<const float> y,
                     const CrossEntropyOptions& o, const LossOutputs<float>& out) {
  return ce(comm, x, {}, y, true, o, out);
}

double distillation_loss(MPI_Comm comm, Rows<const float> student, Rows<const float> teacher,
                         const DistillationOptions& o, const LossOutputs<float>& out) {
  return distill(comm, student, teacher, o, out);
}

}  // namespace logitkit::mpi
