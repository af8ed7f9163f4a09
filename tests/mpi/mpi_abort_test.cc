// SPDX-License-Identifier: Apache-2.0
// A rank that dies in the middle of a job: rank 1 aborts while the others are inside
// logitkit::mpi::cross_entropy (blocked in its first collective). The MPI runtime must end the
// whole job; tests/mpi/expect_job_fails.sh checks that mpirun exits non-zero well within a timeout.

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "logitkit/mpi.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<float> x(4 * 10, 0.5f);
  std::vector<std::int64_t> t{0, 1, 2, 3};
  if (rank == 1) std::abort();
  const double loss = logitkit::mpi::cross_entropy(
      MPI_COMM_WORLD, logitkit::Rows<const float>{x.data(), 4, 10, 10}, t);
  std::printf("rank %d: loss %g (the job should have been ended)\n", rank, loss);
  MPI_Finalize();
  return 0;
}
