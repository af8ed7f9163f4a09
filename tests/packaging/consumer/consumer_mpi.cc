// SPDX-License-Identifier: Apache-2.0
// A consumer of the installed logitkit::mpi, built from `pkg-config --cflags --libs logitkit-mpi`:
// softmax of the article's example over MPI_COMM_WORLD (run it with mpirun, or as a singleton).
#include <cmath>
#include <cstddef>
#include <cstdio>

#include "logitkit/mpi.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const float x[4] = {2.0f, 1.0f, 0.1f, -1.0f};
  float y[4];
  // Rank 0 holds the whole row, the others an empty shard.
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::size_t cols = rank == 0 ? 4 : 0;
  logitkit::mpi::softmax(MPI_COMM_WORLD, logitkit::Rows<const float>{x, 1, cols, 4},
                         logitkit::Rows<float>{y, 1, cols, 4});
  const bool ok = rank != 0 || std::fabs(y[0] - 0.638066351) < 1e-6;
  if (rank == 0) std::printf("p0 %.9g over %d ranks\n", y[0], size);
  MPI_Finalize();
  return ok ? 0 : 1;
}
