// SPDX-License-Identifier: Apache-2.0
// Batches of medium rows (kLaneGroup + 1 .. kMediumRowMax entries), several rows at a time.
#ifndef LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_H_
#define LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_H_

#include <cstddef>

#include "src/softmax/softmax_internal.h"

namespace logitkit::internal {

// Batches of rows of kLaneGroup + 1 .. kMediumRowMax entries are processed one row per vector
// lane (medium_rows), with the bits of the chunk kernels, except rows of 64 entries and, in the
// accurate default, of 48 (whole lane groups, no padded tail), where the chunk kernels row by row
// measured as fast or faster: on AMD EPYC Zen 4, the row-per-lane kernel took 1.10x the row-by-row
// kFast time at [65536, 64] (0.78 at [16384, 64]) and 1.01-1.30x in the accurate default at 48;
// kFast at 48, 0.58-0.71.
inline constexpr std::size_t kMediumRowMax = 64;

// Whether a batch of rows of n entries goes through medium_rows (fast: Precision::kFast).
inline constexpr bool use_medium_rows(std::size_t n, bool fast) {
  return n > kLaneGroup && n < kMediumRowMax && (fast || n != 48);
}

// Rows of kLaneGroup + 1 .. kMediumRowMax entries, several at a time (one per vector lane), with
// exactly the bits of the chunk kernels (stats, then scale / log_out and the driver's normaliser)
// on each row: fast selects Precision::kFast's kernels (1/tau must fit a float). op: 0 softmax,
// 1 log_softmax, 2 logsumexp into lse[r]. Rows with NaN, +inf or no finite entry are left
// unwritten and flagged in special[r].
void medium_rows(bool fast, int op, const float* x, std::size_t x_stride, float* y,
                 std::size_t y_stride, float* lse, std::size_t rows, std::size_t cols,
                 double inv_tau, unsigned char* special);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_H_
