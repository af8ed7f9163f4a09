// SPDX-License-Identifier: Apache-2.0
// Shared machinery of logitkit::mpi: the collective argument check (one MPI_Allgather of a
// descriptor per call) and the reduction of per-row states.
#ifndef LOGITKIT_SRC_MPI_COLLECTIVE_H_
#define LOGITKIT_SRC_MPI_COLLECTIVE_H_

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace logitkit::mpi::detail {

// What a rank says about its arguments before anything is reduced. Plain bytes (MPI_BYTE).
struct Descriptor {
  std::uint64_t rows = 0;      // N
  std::uint64_t cols = 0;      // V_r
  std::uint64_t hash = 0;      // of the inputs that must be identical on every rank (targets...)
  std::int64_t nan_row = -1;   // NanPolicy::kThrow: the first NaN (row, local column), or -1
  std::int64_t nan_col = -1;
  std::int64_t flag = 0;       // op-specific (e.g. class weights given; 0 when V_r == 0)
  std::int64_t flag2 = 0;      // op-specific (e.g. a gradient that the blocked path can use)
  std::int64_t hint = 0;       // op-specific tuning; rank 0's value is used by every rank
  double params[16] = {};      // options that must be identical on every rank (compared bitwise)
  char error[480] = {};        // this rank's local error message, empty if none
};

// What every rank learns from the exchange.
struct Layout {
  int rank = 0, size = 1;
  std::size_t offset = 0;  // this rank's first global column
  std::size_t total = 0;   // C
  std::vector<Descriptor> all;
};

[[noreturn]] inline void fail(const char* fn, const std::string& what) {
  throw std::invalid_argument(std::string("logitkit::mpi::") + fn + ": " + what);
}

// Runs `local` (the rank's own argument checks); catches std::invalid_argument into d.error.
inline void capture(Descriptor& d, const std::function<void()>& local) {
  try {
    local();
  } catch (const std::invalid_argument& e) {
    std::strncpy(d.error, e.what(), sizeof d.error - 1);
  }
}

// FNV-1a over bytes.
inline std::uint64_t hash_bytes(const void* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

// Checks that comm is usable (locally: nothing can be communicated otherwise).
void check_comm(const char* fn, MPI_Comm comm);

// The collective check: allgathers d; if any rank reported a local error, or the ranks disagree
// on rows, params or hash, every rank throws the same std::invalid_argument. names[i] names
// params[i] in messages (nullptr ends the list).
Layout exchange(const char* fn, MPI_Comm comm, const Descriptor& d,
                const char* const* param_names);

// Merges n states of `doubles_per_state` doubles (4: LseState, 8: CrossEntropyState, 10:
// DistillationState) over the ranks, in place, with two built-in collectives: MPI_MAX of the row
// maxima (1 double per row, 2 for DistillationState), then MPI_SUM of each state rebased to those
// maxima as the states' merge functions rebase the lower state (2, 7 or 6 doubles per row: one
// exp per row on the ranks that do not hold its max). The result is the states' merge up to the
// rounding of the sums (within the merge's own 2^-52 relative per rank), and the same bits on
// every rank: MPI_Allreduce hands every rank the same sums.
void allreduce_states(void* states, std::size_t n, int doubles_per_state, MPI_Comm comm);

// Throws (every rank, same message) when n does not fit an MPI count.
void check_count(const char* fn, std::size_t n);

}  // namespace logitkit::mpi::detail

#endif  // LOGITKIT_SRC_MPI_COLLECTIVE_H_
