// SPDX-License-Identifier: Apache-2.0
// The collective argument check and the state-merging MPI operations of logitkit::mpi.

#include "src/mpi/collective.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <type_traits>
#include <vector>

#include "logitkit/shard.h"

namespace logitkit::mpi::detail {
namespace {

static_assert(sizeof(LseState) == 4 * sizeof(double) && std::is_standard_layout_v<LseState>);
static_assert(sizeof(shard::CrossEntropyState) == 8 * sizeof(double) &&
              std::is_standard_layout_v<shard::CrossEntropyState>);
static_assert(sizeof(shard::DistillationState) == 10 * sizeof(double) &&
              std::is_standard_layout_v<shard::DistillationState>);

// merge_*(in, inout, len): inout[i] = inout[i].merge(in[i]) for i < *len. The merges are exactly
// commutative but not associative (rest rounds): allreduce_states applies them in rank order.
void merge_lse(void* in, void* inout, int* len, MPI_Datatype*) {
  // The merges are exactly commutative (only their association rounds), so b op a == a op b.
  shard::merge_states(std::span<LseState>(static_cast<LseState*>(inout), *len),
                      std::span<const LseState>(static_cast<const LseState*>(in), *len));
}

void merge_ce(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const shard::CrossEntropyState*>(in);
  auto* b = static_cast<shard::CrossEntropyState*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = a[i].merge(b[i]);
}

void merge_distill(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const shard::DistillationState*>(in);
  auto* b = static_cast<shard::DistillationState*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = a[i].merge(b[i]);
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
  void (*merge)(void*, void*, int*, MPI_Datatype*) =
      doubles_per_state == 4 ? merge_lse : (doubles_per_state == 8 ? merge_ce : merge_distill);
  const std::size_t doubles = n * static_cast<std::size_t>(doubles_per_state);
  // Counts in doubles must fit an int; split the rows into pieces that do (the merge is per row).
  const std::size_t max_rows = static_cast<std::size_t>(INT_MAX) /
                               static_cast<std::size_t>(doubles_per_state) /
                               static_cast<std::size_t>(size);
  std::vector<double> all(std::min(doubles, max_rows * static_cast<std::size_t>(doubles_per_state)) *
                          static_cast<std::size_t>(size));
  double* s = static_cast<double*>(states);
  for (std::size_t r0 = 0; r0 < n; r0 += max_rows) {
    const std::size_t rows = std::min(max_rows, n - r0);
    const int count = static_cast<int>(rows * static_cast<std::size_t>(doubles_per_state));
    double* mine = s + r0 * static_cast<std::size_t>(doubles_per_state);
    MPI_Allgather(mine, count, MPI_DOUBLE, all.data(), count, MPI_DOUBLE, comm);
    // ((s_0 . s_1) . s_2) . ...: every rank the same operations on the same data.
    std::memcpy(mine, all.data(), static_cast<std::size_t>(count) * sizeof(double));
    int len = static_cast<int>(rows);
    for (int r = 1; r < size; ++r) {
      merge(all.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(count), mine, &len,
            nullptr);
    }
  }
}

}  // namespace logitkit::mpi::detail
