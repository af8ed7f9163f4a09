// SPDX-License-Identifier: Apache-2.0
// The collective argument check and the state-merging MPI operations of logitkit::mpi.

#include "src/mpi/collective.h"

#include <climits>
#include <cmath>
#include <mutex>
#include <type_traits>

#include "logitkit/shard.h"

namespace logitkit::mpi::detail {
namespace {

static_assert(sizeof(LseState) == 4 * sizeof(double) && std::is_standard_layout_v<LseState>);
static_assert(sizeof(shard::CrossEntropyState) == 8 * sizeof(double) &&
              std::is_standard_layout_v<shard::CrossEntropyState>);
static_assert(sizeof(shard::DistillationState) == 10 * sizeof(double) &&
              std::is_standard_layout_v<shard::DistillationState>);

// MPI calls op(invec, inoutvec, len, type) and wants inoutvec[i] = invec[i] op inoutvec[i].
// The merges are exactly commutative but not associative (rest rounds); the operations are
// declared non-commutative so that MPI combines in rank order (OpenMPI then reduces and
// broadcasts: the same bits on every rank).
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

struct Ops {
  MPI_Datatype type[3];
  MPI_Op op[3];
};

const Ops& ops() {
  static Ops o;
  static std::once_flag once;
  std::call_once(once, [] {
    const int counts[3] = {4, 8, 10};
    MPI_User_function* fns[3] = {merge_lse, merge_ce, merge_distill};
    for (int i = 0; i < 3; ++i) {
      MPI_Type_contiguous(counts[i], MPI_DOUBLE, &o.type[i]);
      MPI_Type_commit(&o.type[i]);
      MPI_Op_create(fns[i], /*commute=*/0, &o.op[i]);
    }
  });
  return o;
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
  const int i = doubles_per_state == 4 ? 0 : (doubles_per_state == 8 ? 1 : 2);
  const Ops& o = ops();
  MPI_Allreduce(MPI_IN_PLACE, states, static_cast<int>(n), o.type[i], o.op[i], comm);
}

}  // namespace logitkit::mpi::detail
