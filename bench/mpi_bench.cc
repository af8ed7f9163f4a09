// SPDX-License-Identifier: Apache-2.0
// Vocabulary-parallel cross-entropy forward + backward (logitkit::mpi::cross_entropy with the
// gradient) against the single-process kernel. A plain timer loop (MPI_Wtime, a barrier before
// each repetition, the slowest rank's time, median over repetitions): Google Benchmark picks its
// iteration counts per process, which would desynchronise the ranks' collectives.
//   mpirun -np P bench/mpi_bench [--rows N] [--cols V] [--reps R]    (P = 1 also times the
//   single-process call on the whole [N, V]; with --single-only it times only that; with
//   --comm-only only the communication below)
// Also times the communication alone: logitkit's merge (src/mpi/collective.cc: MPI_MAX of the N
// row maxima, then MPI_SUM of the states rebased to them), two other designs (one MPI_Allgather
// of the packed 64-byte states merged in rank order on every rank; one MPI_Allreduce with a
// state-merging MPI_Op, non-commutative and declared commutative), against Megatron-LM's pattern
// of three MPI_Allreduce of N floats (max, sum of exponentials, target logit).

#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "logitkit/loss.h"
#include "logitkit/mpi.h"
#include "logitkit/shard.h"
#include "src/mpi/collective.h"

namespace {

int rank_ = 0, size_ = 1;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double cpu_s() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double g_last_cpu_ms = 0;  // median CPU time of the slowest rank in the last time_ms

// Times fn over reps repetitions; each repetition's time is the slowest rank's (wall clock; the
// CPU time of the process, less sensitive to other jobs on the machine, in g_last_cpu_ms).
template <class Fn>
double time_ms(int reps, Fn fn) {
  std::vector<double> t, c;
  fn();  // warm-up (page faults, pools)
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime(), c0 = cpu_s();
    fn();
    double d[2] = {MPI_Wtime() - t0, cpu_s() - c0}, worst[2] = {0, 0};
    MPI_Allreduce(d, worst, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    t.push_back(worst[0] * 1e3);
    c.push_back(worst[1] * 1e3);
  }
  g_last_cpu_ms = median(c);
  return median(t);
}

void merge_ce(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const logitkit::shard::CrossEntropyState*>(in);
  auto* b = static_cast<logitkit::shard::CrossEntropyState*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = a[i].merge(b[i]);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  std::size_t N = 4096, C = 128256;
  int reps = 5;
  bool single_only = false, comm_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) N = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--cols" && i + 1 < argc) C = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--single-only") single_only = true;
    else if (a == "--comm-only") comm_only = true;
  }
  // This rank's shard: contiguous, the remainder on the first ranks.
  const std::size_t base = C / size_, extra = C % size_;
  const std::size_t V = base + (static_cast<std::size_t>(rank_) < extra ? 1 : 0);
  std::vector<std::int64_t> target(N);
  for (std::size_t r = 0; r < N; ++r) target[r] = static_cast<std::int64_t>((r * 2654435761u) % C);
  logitkit::CrossEntropyOptions o;
  o.threads = 1;
  auto fill = [](std::vector<float>& x, std::uint64_t seed) {
    std::uint64_t s = seed;
    for (auto& v : x) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      v = static_cast<float>(static_cast<double>(s >> 40) * 0x1.0p-24 * 16.0 - 8.0);
    }
  };
  if (rank_ == 0) {
    std::printf("mpi_bench: cross-entropy fwd+bwd, N = %zu, C = %zu, %d rank(s), 1 thread per "
                "rank, median of %d\n", N, C, size_, reps);
  }
  if (size_ == 1 && single_only) {
    std::vector<float> x(N * C), g(N * C);
    fill(x, 1);
    const double ms = time_ms(reps, [&] {
      logitkit::cross_entropy(logitkit::Rows<const float>{x.data(), N, C, C}, target, o,
                              {logitkit::Rows<float>{g.data(), N, C, C}});
    });
    std::printf("single-process logitkit::cross_entropy: %.1f ms, %.3f ns/element (CPU time "
                "%.1f ms)\n", ms, ms * 1e6 / (double(N) * double(C)), g_last_cpu_ms);
    MPI_Finalize();
    return 0;
  }
  if (!comm_only) {
    std::vector<float> x(N * V), g(N * V);
    fill(x, 1 + static_cast<std::uint64_t>(rank_));
    const double ms = time_ms(reps, [&] {
      logitkit::mpi::cross_entropy(MPI_COMM_WORLD, logitkit::Rows<const float>{x.data(), N, V, V},
                                   target, o, {logitkit::Rows<float>{g.data(), N, V, V}});
    });
    if (rank_ == 0) {
      std::printf("logitkit::mpi::cross_entropy on %d rank(s): %.1f ms, %.3f ns/element of [N, C] "
                  "(%.3f ns per element of a shard; CPU time of the slowest rank %.1f ms)\n",
                  size_, ms, ms * 1e6 / (double(N) * double(C)), ms * 1e6 / (double(N) * double(V)),
                  g_last_cpu_ms);
    }
  }
  {
    // Communication alone.
    MPI_Datatype t;
    MPI_Op op;
    MPI_Type_contiguous(8, MPI_DOUBLE, &t);
    MPI_Type_commit(&t);
    MPI_Op_create(merge_ce, 0, &op);
    MPI_Op op_c;  // the same merge declared commutative (MPI may then combine in any order)
    MPI_Op_create(merge_ce, 1, &op_c);
    std::vector<logitkit::shard::CrossEntropyState> st(N);
    for (std::size_t r = 0; r < N; ++r) {
      // Each row's max on one rank, a different one from row to row (as a vocabulary split gives).
      st[r].lse = logitkit::LseState{1.0 + static_cast<double>((r + static_cast<std::size_t>(rank_)) %
                                                               static_cast<std::size_t>(size_)),
                                     1.0, 100.0, 1.0};
      st[r].coef = 1.0;
      st[r].gap = 3.0;
      st[r].target_weight = r % static_cast<std::size_t>(size_) == static_cast<std::size_t>(rank_);
    }
    // The variants, timed interleaved: each round times every variant once (a barrier before
    // each, the slowest rank's wall time), so that load changes hit them alike; medians.
    // Every variant starts from a copy of the states in a buffer kept from round to round (the
    // states a call merges were just written by its states pass, so their pages are mapped).
    std::vector<logitkit::shard::CrossEntropyState> s(N);
    std::vector<logitkit::shard::CrossEntropyState> all(N * static_cast<std::size_t>(size_));
    std::vector<float> a(N, 1.0f), b(N, 2.0f), c(N, 3.0f);
    const std::vector<std::pair<const char*, std::function<void()>>> variants = {
        // logitkit::mpi's merge (src/mpi/collective.cc): MPI_MAX of the row maxima, then MPI_SUM
        // of the states rebased to them.
        {"ours", [&] {
           std::copy(st.begin(), st.end(), s.begin());
           logitkit::mpi::detail::allreduce_states(s.data(), N, 8, MPI_COMM_WORLD);
         }},
        // Allgather of the states, then every rank merges them in rank order.
        {"allgather", [&] {
           std::copy(st.begin(), st.end(), s.begin());
           MPI_Allgather(s.data(), static_cast<int>(N * 8), MPI_DOUBLE, all.data(),
                         static_cast<int>(N * 8), MPI_DOUBLE, MPI_COMM_WORLD);
           std::copy(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(N), s.begin());
           for (int r = 1; r < size_; ++r) {
             for (std::size_t i = 0; i < N; ++i) {
               s[i] = s[i].merge(all[static_cast<std::size_t>(r) * N + i]);
             }
           }
         }},
        {"op", [&] {
           std::copy(st.begin(), st.end(), s.begin());
           MPI_Allreduce(MPI_IN_PLACE, s.data(), static_cast<int>(N), t, op, MPI_COMM_WORLD);
         }},
        {"op_commutative", [&] {
           std::copy(st.begin(), st.end(), s.begin());
           MPI_Allreduce(MPI_IN_PLACE, s.data(), static_cast<int>(N), t, op_c, MPI_COMM_WORLD);
         }},
        {"megatron", [&] {
           MPI_Allreduce(MPI_IN_PLACE, a.data(), static_cast<int>(N), MPI_FLOAT, MPI_MAX,
                         MPI_COMM_WORLD);
           MPI_Allreduce(MPI_IN_PLACE, b.data(), static_cast<int>(N), MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD);
           MPI_Allreduce(MPI_IN_PLACE, c.data(), static_cast<int>(N), MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD);
         }},
    };
    std::vector<std::vector<double>> ms(variants.size());
    for (const auto& v : variants) v.second();  // warm-up
    for (int round = 0; round < reps * 20; ++round) {
      for (std::size_t k = 0; k < variants.size(); ++k) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        variants[k].second();
        double d = MPI_Wtime() - t0, worst = 0;
        MPI_Allreduce(&d, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        ms[k].push_back(worst * 1e3);
      }
    }
    if (rank_ == 0) {
      const double ours = median(ms[0]), megatron = median(ms[4]);
      std::printf("communication alone, %zu rows, %d ranks, %d interleaved rounds: logitkit's "
                  "merge (MPI_MAX of the maxima, then MPI_SUM of 7 rebased doubles per row) "
                  "%.4f ms; allgather of the 64-byte states + rank-order merge %.4f ms; one "
                  "allreduce with a merge op %.4f ms; the op declared commutative %.4f ms; three "
                  "allreduces of %zu floats (Megatron's max, sum-exp, target) %.4f ms; logitkit / "
                  "Megatron %.2f\n",
                  N, size_, reps * 20, ours, median(ms[1]), median(ms[2]), median(ms[3]), N,
                  megatron, ours / megatron);
      std::printf("mpi_comm ranks=%d rows=%zu ours_ms=%.5f megatron_ms=%.5f ratio=%.4f\n", size_,
                  N, ours, megatron, ours / megatron);
    }
    MPI_Op_free(&op);
    MPI_Op_free(&op_c);
    MPI_Type_free(&t);
  }
  MPI_Finalize();
  return 0;
}
