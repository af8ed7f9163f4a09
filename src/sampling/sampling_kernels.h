// SPDX-License-Identifier: Apache-2.0
// The sampler's per-target kernels, resolved for the chosen SIMD target (see sampling_kernels-inl.h).
#ifndef LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_H_
#define LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace logitkit::internal {

// Entries per block of the inverse-CDF block sums.
inline constexpr std::size_t kSampleBlock = 1024;
// Extra room the compressing kernels need after their output (they store whole vectors).
inline constexpr std::size_t kCompressSlack = 64;

struct PartitionStats {
  double mass_gt_hi;  // sum of e over {x > hi}
  double mass_ge_lo;  // sum of e over {x >= lo}
  std::size_t count_gt_hi;
  std::size_t count_ge_lo;
};

// The exp's arguments: e = 2^((x - m) * c), c = log2(e) * inv_tau; c_hi = fl(c), c_lo = fl(c - c_hi)
// (the float paths); inv_tau for the double path.
struct ExpArgs {
  float m;
  float c_hi;
  float c_lo;
  double inv_tau;
};

// Which exp: kExpComp (Precision::kAccurate, tau in [1e-30, 1e30]): float exp of the compensated
// shift; kExpPlain (Precision::kFast, same range): the shift rounded in float; kExpDouble (any
// other tau, +inf included): the shift and the exp in double.
enum ExpMode { kExpComp = 0, kExpPlain = 1, kExpDouble = 2 };

struct SamplingKernels {
  // e_i = exp((x_i - m) * inv_tau) as float (0 for x_i = -inf; x_i <= m, no NaN) into e
  // (nullable); block_sums (nullable) gets the double sum of e over each 1024-entry block.
  // Elementwise: e_i depends on x_i and the arguments only.
  void (*exp_blocks)(const float* x, std::size_t n, const ExpArgs& a, float* e,
                     double* block_sums);
  // The fused pass: per 1024-entry block b, block_max[b] = m_b, then e^ = exp((x - m_b) * inv_tau)
  // into e (nullable) and block_sums[b] = their sum; *has_nan: any NaN. (a.m is ignored.)
  void (*exp_fused)(const float* x, std::size_t n, const ExpArgs& a, float* e, double* block_sums,
                    float* block_max, bool* has_nan);
  // block_above[b] = sum of e over {x > hi} in block b, *count_above = |{x > hi}|; indices of
  // {lo <= x <= hi} in order into idx (n + slack room); returns how many. The same entries'
  // x into bx and float(e * scale) into be (scale = cb[block], or 1 if cb is null; n + slack
  // room each); *bracket_sum = the double sum of those be, in order. block_max (nullable): each
  // block's max; blocks whose max is below lo are not read.
  std::size_t (*above_bracket)(const float* x, const float* e, std::size_t n, float hi, float lo,
                               double* block_above, std::size_t* count_above, std::int32_t* idx,
                               const double* cb, float* bx, float* be, double* bracket_sum,
                               const float* block_max);
  // block_sums[b]: sum of e_i over block b restricted to the cut
  // {x_i > theta} or {x_i == theta and i <= last}.
  void (*cut_block_sums)(const float* x, const float* e, std::size_t n, float theta,
                         std::int64_t last, double* block_sums);
  // Indices base + i of x_i > theta (strict) or x_i >= theta, in order; idx has n + slack room.
  std::size_t (*select_indices)(const float* x, std::size_t n, float theta, bool strict,
                                std::int32_t base, std::int32_t* idx);
  // First i with x_i == v, or n.
  std::size_t (*find_first_eq)(const float* x, std::size_t n, float v);
  PartitionStats (*partition)(const float* x, const float* e, std::size_t n, float hi, float lo);
  // Keeps lo <= x <= hi in order (x, e, index; ic null: the positions); outputs have n + slack.
  std::size_t (*compact)(const float* x, const float* e, const std::int32_t* ic, std::size_t n,
                         float lo, float hi, float* xo, float* eo, std::int32_t* io);
  // Max of x[0, n), n >= 1, and whether any entry is NaN.
  // with block_max[b] the max of each 1024-entry block (unspecified where a block holds NaN).
  float (*max)(const float* x, std::size_t n, float* block_max, bool* has_nan);
};

SamplingKernels sampling_kernels(ExpMode mode);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_H_
