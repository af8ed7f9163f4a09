// SPDX-License-Identifier: Apache-2.0
// Types shared by the per-target softmax kernels and the (target-independent) driver.
#ifndef LOGITKIT_SRC_SOFTMAX_SOFTMAX_INTERNAL_H_
#define LOGITKIT_SRC_SOFTMAX_SOFTMAX_INTERNAL_H_

#include <cstddef>

namespace logitkit::internal {

// Rows are processed in chunks of this many entries (a multiple of kLaneGroup). The chunking
// is fixed, independent of threads and targets, so results are bitwise reproducible.
inline constexpr std::size_t kChunk = 16384;
// Sums are kept in this many logical lanes (element i goes to lane i % 16), combined by a fixed
// tree: every target (16, 8 or 4 float lanes) adds the same numbers in the same order.
inline constexpr std::size_t kLaneGroup = 16;

// The number of kChunk-entry chunks of an n-entry row, and the length of chunk c.
inline std::size_t chunk_count(std::size_t n) { return (n + kChunk - 1) / kChunk; }
inline std::size_t chunk_len(std::size_t n, std::size_t c) {
  return n - c * kChunk < kChunk ? n - c * kChunk : kChunk;
}

enum ChunkStatus : int { kChunkOk = 0, kChunkNaN = 1, kChunkPosInf = 2 };

// The LseState of a chunk, with the chunk status. When status != kChunkOk the other fields are
// meaningless and nothing was written.
struct ChunkStats {
  float max;
  int status;
  double ties;  // entries whose (x - max) * inv_tau is exactly 0
  double rest;  // sum of exp((x - max) * inv_tau) over the other entries
};

// The logsumexp of x[0, n) at temperature tau (finite, > 0; x without NaN or +inf, not all
// -inf) in long double, scalar: for rows where max / tau and log(sum) cancel.
double LseLongDouble(const float* x, std::size_t n, double tau);

// The one rule for a logsumexp that may cancel (max / tau against log(sum), e.g. logits that
// are log-probabilities): a finite lse of row x[0, n) below 2^-8 in magnitude (below 0.5 when
// it came from float exponentials, float_exp: their 2^-24 relative error) is summed again by
// LseLongDouble; otherwise lse is returned as it is (also for tau not finite and > 0).
double RetakeCancellingLse(double lse, const float* x, std::size_t n, double tau, bool float_exp);

// log(ties + rest), accurate for a dominant entry (ties == 1, tiny rest).
double LogNormalizer(double ties, double rest);

// A gradient chunk the losses' statistics kernels write while they compute (cross-entropy's row
// pipeline): before a kernel overwrites e_out[i] with its exponential, it writes g[i] from the
// previous row's value still held there, with the bits of the gradient kernel (grad_scale):
// pair == false (kFast): g = e * k - b in float; pair == true (kAccurate, no smoothing):
// g = fma(e, k, e * k_lo). pair must match the kernel set: false for the kFast stats_side, true
// for the kAccurate one. Non-temporal stores from g's first 64-byte boundary on, fenced at the
// end.
struct SideGrad {
  float* g;
  float k, b, k_lo;
  bool pair;
};

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SOFTMAX_SOFTMAX_INTERNAL_H_
