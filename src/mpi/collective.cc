// SPDX-License-Identifier: Apache-2.0
// The collective argument check and the state-merging MPI operations of logitkit::mpi.

#include "src/mpi/collective.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "logitkit/shard.h"
#include "src/internal/shard_util.h"

namespace logitkit::mpi::detail {
namespace {

static_assert(sizeof(LseState) == 4 * sizeof(double) && std::is_standard_layout_v<LseState>);
static_assert(sizeof(shard::CrossEntropyState) == 8 * sizeof(double) &&
              std::is_standard_layout_v<shard::CrossEntropyState>);
static_assert(sizeof(shard::DistillationState) == 10 * sizeof(double) &&
              std::is_standard_layout_v<shard::DistillationState>);

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The reduction runs as two built-in collectives: MPI_MAX of the row maxima, then MPI_SUM of the
// states rebased to those maxima. Rebasing a state to the global max M is what its merge does to
// the lower of two states (LseState::merge: ties and rest scaled by exp((max - M) / tau)), so the
// sum of the rebased states is their merge, up to the rounding of the additions. A NaN max enters
// the MPI_MAX as -inf and the sum as a NaN `ties`, which makes the merged state NaN.

// The max a state contributes to MPI_MAX.
double max_in(const LseState& s) { return std::isnan(s.max) ? -kInf : s.max; }

// (ties, rest) of s relative to the global max M.
void rebase_lse(const LseState& s, double M, double* out) {
  if (std::isnan(s.max)) {
    out[0] = kNaN, out[1] = 0.0;
  } else if (s.max == M) {
    out[0] = s.ties, out[1] = s.rest;
  } else if (s.max == -kInf || M == kInf) {  // nothing, or nothing beside +inf
    out[0] = 0.0, out[1] = 0.0;
  } else {
    out[0] = 0.0, out[1] = (s.ties + s.rest) * std::exp((s.max - M) / s.temperature);
  }
}

LseState rebased_state(double M, const double* sum, double temperature) {
  if (std::isnan(sum[0])) return LseState{kNaN, 0.0, 0.0, temperature};
  return LseState{M, sum[0], sum[1], temperature};
}

struct LseReduce {
  using State = LseState;
  static constexpr int kMax = 1, kSum = 2;
  static void maxima(const State& s, double* m) { m[0] = max_in(s); }
  static void rebase(const State& s, const double* M, double* out) { rebase_lse(s, M[0], out); }
  static void finish(State& s, const double* M, const double* sum) {
    s = rebased_state(M[0], sum, s.temperature);
  }
};

// CrossEntropyState: lse as above; gap shifted to M as CrossEntropyState::merge does
// (gap + coef (M - max) where coef > 0), coef and target_weight summed, the target summed with a
// count of the ranks that hold it (NaN where none does).
struct CeReduce {
  using State = shard::CrossEntropyState;
  static constexpr int kMax = 1, kSum = 7;
  static void maxima(const State& s, double* m) { m[0] = max_in(s.lse); }
  static void rebase(const State& s, const double* M, double* out) {
    rebase_lse(s.lse, M[0], out);
    out[2] = s.coef;
    out[3] = internal::gap_at(s, M[0]);
    const bool has = !std::isnan(s.target);
    out[4] = has ? s.target : 0.0;
    out[5] = has ? 1.0 : 0.0;
    out[6] = s.target_weight;
  }
  static void finish(State& s, const double* M, const double* sum) {
    s.lse = rebased_state(M[0], sum, s.lse.temperature);
    s.coef = sum[2];
    s.gap = std::isnan(s.lse.max) ? kNaN : sum[3];
    s.target = sum[5] > 0 ? sum[4] : kNaN;
    s.target_weight = sum[6];
  }
};

// DistillationState: both LseStates as above, masked or-ed (summed), cross re-based to the
// global maxima as DistillationState::merge does (0 where the merged row is special).
struct DistillReduce {
  using State = shard::DistillationState;
  static constexpr int kMax = 2, kSum = 6;
  static void maxima(const State& s, double* m) {
    m[0] = max_in(s.teacher);
    m[1] = max_in(s.student);
  }
  static void rebase(const State& s, const double* M, double* out) {
    rebase_lse(s.teacher, M[0], out);
    rebase_lse(s.student, M[1], out + 2);
    out[4] = s.masked != 0.0 ? 1.0 : 0.0;
    // The cross term counts only where the merged row is not special (finite maxima).
    out[5] = std::isfinite(M[0]) && std::isfinite(M[1]) ? internal::cross_at(s, M[0], M[1]) : 0.0;
  }
  static void finish(State& s, const double* M, const double* sum) {
    s.teacher = rebased_state(M[0], sum, s.teacher.temperature);
    s.student = rebased_state(M[1], sum + 2, s.student.temperature);
    s.masked = sum[4] > 0 ? 1.0 : 0.0;
    s.cross = s.special() ? 0.0 : sum[5];
  }
};

// The two allreduces over n states, in pieces of at most 65536 rows.
template <class R>
void reduce_states(typename R::State* states, std::size_t n, MPI_Comm comm) {
  const std::size_t max_rows = std::size_t{1} << 16;
  const std::size_t piece = std::min(n, max_rows);
  // Buffers kept from call to call (per thread, at most 65536 x 8 doubles = 4 MiB): with
  // OpenMPI's shared-memory transport, an allreduce of a few hundred KB from freshly mapped pages
  // took 2.2 ms here against 0.07 ms from pages already touched (4096 rows, 2 ranks).
  thread_local std::vector<double> mx, sum;
  if (mx.size() < piece * R::kMax) mx.resize(piece * R::kMax);
  if (sum.size() < piece * R::kSum) sum.resize(piece * R::kSum);
  for (std::size_t r0 = 0; r0 < n; r0 += max_rows) {
    const std::size_t rows = std::min(max_rows, n - r0);
    typename R::State* s = states + r0;
    for (std::size_t i = 0; i < rows; ++i) R::maxima(s[i], &mx[i * R::kMax]);
    MPI_Allreduce(MPI_IN_PLACE, mx.data(), static_cast<int>(rows * R::kMax), MPI_DOUBLE, MPI_MAX,
                  comm);
    for (std::size_t i = 0; i < rows; ++i) R::rebase(s[i], &mx[i * R::kMax], &sum[i * R::kSum]);
    MPI_Allreduce(MPI_IN_PLACE, sum.data(), static_cast<int>(rows * R::kSum), MPI_DOUBLE, MPI_SUM,
                  comm);
    for (std::size_t i = 0; i < rows; ++i) R::finish(s[i], &mx[i * R::kMax], &sum[i * R::kSum]);
  }
}

}  // namespace

void check_comm(const char* fn, MPI_Comm comm) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) fail(fn, "MPI is not initialised (call MPI_Init first) or already finalised");
  if (comm == MPI_COMM_NULL) fail(fn, "comm is MPI_COMM_NULL");
}

void check_count(const char* fn, std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) {
    fail(fn, "x has " + std::to_string(n) + " rows, more than an MPI count holds (INT_MAX)");
  }
}

Layout exchange(const char* fn, MPI_Comm comm, const Descriptor& d,
                const char* const* param_names) {
  Layout l;
  MPI_Comm_rank(comm, &l.rank);
  MPI_Comm_size(comm, &l.size);
  l.all.resize(static_cast<std::size_t>(l.size));
  MPI_Allgather(&d, sizeof(Descriptor), MPI_BYTE, l.all.data(), sizeof(Descriptor), MPI_BYTE,
                comm);
  for (int r = 0; r < l.size; ++r) {
    const Descriptor& o = l.all[static_cast<std::size_t>(r)];
    if (o.error[0] != '\0') {
      throw std::invalid_argument(std::string(o.error, strnlen(o.error, sizeof o.error)) +
                                  " (rank " + std::to_string(r) + ")");
    }
  }
  const Descriptor& d0 = l.all[0];
  for (int r = 1; r < l.size; ++r) {
    const Descriptor& o = l.all[static_cast<std::size_t>(r)];
    if (o.rows != d0.rows) {
      fail(fn, "the ranks disagree on the number of rows: rank 0 has " + std::to_string(d0.rows) +
                   ", rank " + std::to_string(r) + " has " + std::to_string(o.rows));
    }
    for (int i = 0; param_names[i] != nullptr; ++i) {
      if (std::memcmp(&o.params[i], &d0.params[i], sizeof(double)) != 0) {
        fail(fn, std::string("the ranks disagree on ") + param_names[i] + ": rank 0 has " +
                     std::to_string(d0.params[i]) + ", rank " + std::to_string(r) + " has " +
                     std::to_string(o.params[i]));
      }
    }
    if (o.hash != d0.hash) {
      fail(fn, "the ranks disagree on the targets (or another input that must be the same on "
               "every rank): rank " + std::to_string(r) + " differs from rank 0");
    }
  }
  for (int r = 0; r < l.size; ++r) {
    if (r == l.rank) l.offset = l.total;
    l.total += l.all[static_cast<std::size_t>(r)].cols;
  }
  return l;
}

void allreduce_states(void* states, std::size_t n, int doubles_per_state, MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (size == 1 || n == 0) return;
  switch (doubles_per_state) {
    case 4: reduce_states<LseReduce>(static_cast<LseState*>(states), n, comm); break;
    case 8: reduce_states<CeReduce>(static_cast<shard::CrossEntropyState*>(states), n, comm); break;
    default:
      reduce_states<DistillReduce>(static_cast<shard::DistillationState*>(states), n, comm);
      break;
  }
}

}  // namespace logitkit::mpi::detail
