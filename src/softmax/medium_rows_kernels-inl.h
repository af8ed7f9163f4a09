// SPDX-License-Identifier: Apache-2.0
// Per-target kernels for batches of short rows (1 .. kLaneGroup entries) and medium rows
// (kLaneGroup + 1 .. kMediumRowMax entries): one row per vector lane.

#if defined(LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_INL_H_
#undef LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_INL_H_
#else
#define LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "src/internal/exp-inl.h"
#include "src/softmax/medium_rows_kernels.h"
#include "src/softmax/softmax_kernels-inl.h"
#include "src/softmax/softmax_internal.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using internal::kLaneGroup;

#if HWY_TARGET == HWY_AVX2
// The 8 x 8 transpose of r[0..7] in registers (r[i] lane j -> r[j] lane i).
HWY_INLINE void Transpose8x8(__m256* r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// The first stages of the transposes below: for each group of 4 registers r[i .. i + 3] (i < n,
// in steps of 4), a 4 x 4 transpose inside every 128-bit block, so that block q of r[i + k]
// holds column 4q + k of the group's 4 rows.
HWY_INLINE void Transpose4x4InBlocks(__m512* r, int n) {
  for (int i = 0; i < n; i += 4) {
    const __m512 t0 = _mm512_unpacklo_ps(r[i], r[i + 1]);
    const __m512 t1 = _mm512_unpackhi_ps(r[i], r[i + 1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[i + 2], r[i + 3]);
    const __m512 t3 = _mm512_unpackhi_ps(r[i + 2], r[i + 3]);
    r[i] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

// The 16 x 16 transpose of r[0..15] in registers (r[i] lane j -> r[j] lane i): 4 x 4 blocks
// inside each 128-bit block, then the 128-bit blocks across registers.
HWY_INLINE void Transpose16x16(__m512* r) {
  Transpose4x4InBlocks(r, 16);
  // Column 4q + k, block g = r[4g + k] block q: a 4 x 4 transpose of blocks per k.
  __m512 t[16];
  for (int k = 0; k < 4; ++k) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[k], r[4 + k], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 u1 = _mm512_shuffle_f32x4(r[k], r[4 + k], _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], _MM_SHUFFLE(3, 1, 3, 1));
    t[k] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
    t[8 + k] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
    t[4 + k] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + k] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Two 8 x 8 transposes, one per 256-bit half of r[0..7] (r[i] half h lane j -> r[j] half h lane
// i): with row l in the low half of r[l] and row l + 8 in its high half, r[c] becomes column c
// of the 16 rows, one row per lane.
HWY_INLINE void Transpose8x8Halves(__m512* r) {
  Transpose4x4InBlocks(r, 8);
  // The 128-bit blocks: r[i] = (r[i].0, r[i+4].0, r[i].2, r[i+4].2), r[i+4] the odd blocks.
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i) {
    const __m512 a = r[i], b = r[i + 4];
    r[i] = _mm512_permutex2var_ps(a, lo, b);
    r[i + 4] = _mm512_permutex2var_ps(a, hi, b);
  }
}
#endif

// Prefetches the cache lines of rows [0, n) at p (row stride `stride`, `cols` entries each): the
// next block's input while this block computes, and this block's output once its exponentials
// are taken (a hint: it never faults).
// Blocks of more than 512 entries (rows of more than 32 entries on AVX-512, 64 on AVX2)
// prefetch into L2 only (prefetcht1): their buffers, input and output fill most of L1. On
// AMD EPYC Zen 4 (AVX-512), prefetcht1 against prefetcht0: kFast at [87381, 48] (16 MiB) 0.84,
// the same within the noise on a 4 MiB batch; at 40 and 56 columns, 0.67-0.92 in both
// precisions. On the AVX2 target (8-row blocks) it measured 1.04-1.07 at 40 and 56 columns.
template <int kLocality>  // 3: prefetcht0 (into L1), 2: prefetcht1 (into L2)
HWY_INLINE void PrefetchRows(const float* p, size_t stride, size_t n, size_t cols) {
  if (stride == cols) {
    const char* b = reinterpret_cast<const char*>(p);
    const size_t bytes = n * cols * sizeof(float);
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(b + o, 0, kLocality);
    __builtin_prefetch(b + bytes - 1, 0, kLocality);
  } else {
    for (size_t l = 0; l < n; ++l) {
      for (size_t c = 0; c < cols; c += 16) __builtin_prefetch(p + l * stride + c, 0, kLocality);
      __builtin_prefetch(p + l * stride + cols - 1, 0, kLocality);
    }
  }
}

HWY_INLINE void PrefetchBlock(const float* p, size_t stride, size_t n, size_t cols) {
  if (hn::MaxLanes(DF()) * cols > 512) {
    PrefetchRows<2>(p, stride, n, cols);
  } else {
    PrefetchRows<3>(p, stride, n, cols);
  }
}

// Whether a batch prefetches (PrefetchBlock). Measured on AMD EPYC Zen 5, the next block's input
// and output at the block's start, against none (min of 7 runs, softmax_bench's row-length sweep
// at 2^22 entries, 16 MiB each way): 32 columns 0.61 (fast) and 0.77 (accurate) of the time, 16
// columns 0.88-0.91; but 8 columns 1.06-1.07 and [65536, 10] (2.6 MB, cache-resident) 1.02-1.03.
// On Zen 4 the output prefetched a block ahead cost time at 24-40 columns; the current block's
// output prefetched after its exponentials took 0.71-0.79 of that time at 32 columns (min and
// median of 11 interleaved runs), 0.98-1.03 at 16, 0.96-1.02 on the AVX2 target.
// Rows of more than 8 entries whose input passes 4 MiB take it.
HWY_INLINE bool UsePrefetchBlock(size_t rows, size_t x_stride, size_t cols) {
  return cols > 8 && rows * x_stride * sizeof(float) > (size_t{4} << 20);
}

// xs[c * N + l] = row l's entry c (c < cols, l < N) for the block of rows starting at x: each
// row in one lane, lanes past the last live row repeating it. avail: how many floats from x on
// are the caller's to read (up to the end of its last row). On AVX2 and AVX-512, 8 x 8 or
// 16 x 16 blocks transposed in registers (rows of at most 8 entries on AVX-512: two 8 x 8 blocks,
// one per 256-bit half); a load that would pass avail is masked (the masked-off lanes do not
// fault), the others read whole vectors (their lanes past the row are within the caller's rows
// and land in columns past cols). The columns from cols up to the next multiple of 8 (16 past 8
// columns on AVX-512) are then written with junk. Elsewhere scalar copies, whose vector reloads
// wait on store forwarding. Data movement only: the same values either way.
HWY_INLINE void TransposeIn(const float* x, size_t x_stride, size_t live, size_t cols,
                            size_t avail, float* HWY_RESTRICT xs) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
#if HWY_TARGET == HWY_AVX2
  static_assert(N == 8, "AVX2: 8 float lanes");
  for (size_t c0 = 0; c0 < cols; c0 += 8) {
    const size_t w = cols - c0 < 8 ? cols - c0 : 8;
    const auto mask = hn::FirstN(d, w);
    __m256 r[8];
    for (size_t l = 0; l < 8; ++l) {
      const size_t off = (l < live ? l : live - 1) * x_stride + c0;
      r[l] = (off + 8 <= avail ? hn::LoadU(d, x + off) : hn::MaskedLoad(mask, d, x + off)).raw;
    }
    Transpose8x8(r);
    // All 8 columns (xs has room): a loop to w would become a copy through the stack.
    for (size_t j = 0; j < 8; ++j) _mm256_store_ps(xs + (c0 + j) * N, r[j]);
  }
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  static_assert(N == 16, "AVX-512: 16 float lanes");
  for (size_t c0 = 0; c0 < cols; c0 += 16) {
    const size_t w = cols - c0 < 16 ? cols - c0 : 16;
    if (w <= 8) {  // rows l and l + 8 in the halves of r[l]: half the loads and shuffles
      const __mmask8 mask = static_cast<__mmask8>((1u << w) - 1u);
      auto load8 = [&](size_t l) {
        const size_t off = (l < live ? l : live - 1) * x_stride + c0;
        return off + 8 <= avail ? _mm256_loadu_ps(x + off) : _mm256_maskz_loadu_ps(mask, x + off);
      };
      __m512 r[8];
      if (live == 16 && 15 * x_stride + c0 + 8 <= avail) {  // every load whole: no checks
        for (size_t l = 0; l < 8; ++l) {
          r[l] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x + l * x_stride + c0)),
                                    _mm256_loadu_ps(x + (l + 8) * x_stride + c0), 1);
        }
      } else {
        for (size_t l = 0; l < 8; ++l) {
          r[l] = _mm512_insertf32x8(_mm512_castps256_ps512(load8(l)), load8(l + 8), 1);
        }
      }
      Transpose8x8Halves(r);
      // All 8 columns (xs has room): a loop to w would become a copy through the stack.
      for (size_t j = 0; j < 8; ++j) _mm512_store_ps(xs + (c0 + j) * N, r[j]);
    } else {
      const __mmask16 mask = static_cast<__mmask16>((1u << w) - 1u);
      __m512 r[16];
      if (live == 16 && 15 * x_stride + c0 + 16 <= avail) {  // every load whole: no checks
        for (size_t l = 0; l < 16; ++l) r[l] = _mm512_loadu_ps(x + l * x_stride + c0);
      } else {
        for (size_t l = 0; l < 16; ++l) {
          const size_t off = (l < live ? l : live - 1) * x_stride + c0;
          r[l] = off + 16 <= avail ? _mm512_loadu_ps(x + off)
                                   : _mm512_maskz_loadu_ps(mask, x + off);
        }
      }
      Transpose16x16(r);
      for (size_t j = 0; j < 16; ++j) _mm512_store_ps(xs + (c0 + j) * N, r[j]);
    }
  }
#else
  (void)avail;
  for (size_t l = 0; l < N; ++l) {
    const float* src = x + (l < live ? l : live - 1) * x_stride;
    for (size_t c = 0; c < cols; ++c) xs[c * N + l] = src[c];
  }
#endif
}

// The inverse: row l (l < live, skip[l] == 0) of y gets obuf[c * N + l], c < cols. Rows with
// skip[l] != 0 are not written. On AVX2 and AVX-512, 8- or 16-column pieces go through a
// register transpose and one store per row (masked past the row's end: nothing outside the row
// is touched); elsewhere entries are copied one by one.
HWY_INLINE void TransposeOut(const float* HWY_RESTRICT obuf, size_t live, size_t cols,
                             const unsigned char* skip, float* y, size_t y_stride) {
  const DF d;
  constexpr size_t N = hn::MaxLanes(d);
  size_t c0 = 0;
#if HWY_TARGET == HWY_AVX2
  for (; c0 < cols; c0 += 8) {
    const size_t w = cols - c0 < 8 ? cols - c0 : 8;
    __m256 r[8];
    for (size_t j = 0; j < 8; ++j) {
      r[j] = j < w ? _mm256_load_ps(obuf + (c0 + j) * N) : _mm256_setzero_ps();
    }
    Transpose8x8(r);
    const __m256i mask = hn::VecFromMask(hn::RebindToSigned<DF>(),
                                         hn::FirstN(hn::RebindToSigned<DF>(), w)).raw;
    for (size_t l = 0; l < live; ++l) {
      if (skip[l]) continue;
      if (w == 8) {
        _mm256_storeu_ps(y + l * y_stride + c0, r[l]);
      } else {
        _mm256_maskstore_ps(y + l * y_stride + c0, mask, r[l]);
      }
    }
  }
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // A full block with no row to skip (skip[0, 16) all 0).
  uint64_t skip_lo = 1, skip_hi = 1;
  if (live == 16) {
    std::memcpy(&skip_lo, skip, 8);
    std::memcpy(&skip_hi, skip + 8, 8);
  }
  const bool clean = (skip_lo | skip_hi) == 0;
  for (; c0 < cols; c0 += 16) {
    const size_t w = cols - c0 < 16 ? cols - c0 : 16;
    if (w <= 8) {  // Transpose8x8Halves: row l in the low half of r[l], row l + 8 in the high
      __m512 r[8];
      for (size_t j = 0; j < 8; ++j) {
        r[j] = j < w ? _mm512_load_ps(obuf + (c0 + j) * N) : _mm512_setzero_ps();
      }
      Transpose8x8Halves(r);
      const __mmask8 mask = static_cast<__mmask8>((1u << w) - 1u);
      if (w == 8 && clean) {  // every row written whole: a fixed count keeps r in registers
        for (size_t l = 0; l < 8; ++l) {
          _mm256_storeu_ps(y + l * y_stride + c0, _mm512_castps512_ps256(r[l]));
          _mm256_storeu_ps(y + (l + 8) * y_stride + c0, _mm512_extractf32x8_ps(r[l], 1));
        }
        continue;
      }
      for (size_t l = 0; l < live; ++l) {
        if (skip[l]) continue;
        const __m256 v = l < 8 ? _mm512_castps512_ps256(r[l]) : _mm512_extractf32x8_ps(r[l - 8], 1);
        if (w == 8) {
          _mm256_storeu_ps(y + l * y_stride + c0, v);
        } else {
          _mm256_mask_storeu_ps(y + l * y_stride + c0, mask, v);
        }
      }
    } else {
      __m512 r[16];
      for (size_t j = 0; j < 16; ++j) {
        r[j] = j < w ? _mm512_load_ps(obuf + (c0 + j) * N) : _mm512_setzero_ps();
      }
      Transpose16x16(r);
      const __mmask16 mask = static_cast<__mmask16>((1u << w) - 1u);
      if (clean) {  // every row written: a fixed count keeps r in registers
        for (size_t l = 0; l < 16; ++l) {
          _mm512_mask_storeu_ps(y + l * y_stride + c0, mask, r[l]);
        }
        continue;
      }
      for (size_t l = 0; l < live; ++l) {
        if (skip[l]) continue;
        if (w == 16) {
          _mm512_storeu_ps(y + l * y_stride + c0, r[l]);
        } else {
          _mm512_mask_storeu_ps(y + l * y_stride + c0, mask, r[l]);
        }
      }
    }
  }
#endif
  for (size_t l = 0; l < live; ++l) {
    if (skip[l]) continue;
    float* out = y + l * y_stride;
    for (size_t c = c0; c < cols; ++c) out[c] = obuf[c * N + l];
  }
}

// Rows of at most kLaneGroup entries, N rows at a time with one row per lane (the block
// transposed by TransposeIn), so that a batch of short rows costs no per-row reductions. The
// arithmetic per row is that of ChunkStatsImpl<false> + ScaleImpl<false> / LogOutImpl<false> on
// the padded lane group (same exp, the same 16-lane tree), with the normaliser's log1p
// vectorised (Log1pNonNegativeF64). Every row of at most 16 entries takes this path, alone or in
// a batch, so its bits never depend on the batch. op: 0 softmax, 1 log_softmax, 2 logsumexp
// (lse[r]). Rows with NaN, +inf or no finite entry are not written; special[r] is set to 1 for
// them (0 otherwise), for the driver.
// Preconditions: 1 <= cols <= kLaneGroup.
HWY_INLINE void ShortRowsImpl(int op, const float* x, size_t x_stride, float* y, size_t y_stride,
                              float* lse, size_t rows, size_t cols, double inv_tau,
                              unsigned char* special) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t G = kLaneGroup;
  const float kInf = std::numeric_limits<float>::infinity();
  // The value a -inf padding entry contributes (exp clamps; see ExpNonPositiveF64).
  VD pad[1] = {hn::Set(dd, -std::numeric_limits<double>::infinity())};
  ExpNonPositiveF64<1>(dd, pad);
  const VD one = hn::Set(dd, 1.0);
  const VD itd = hn::Set(dd, inv_tau);
  HWY_ALIGN float xs[G * N];
  HWY_ALIGN float obuf[G * N];
  HWY_ALIGN float max_buf[N];
  HWY_ALIGN unsigned char bad_buf[N];
  const bool prefetch = UsePrefetchBlock(rows, x_stride, cols);
  for (size_t r0 = 0; r0 < rows; r0 += N) {
    const size_t live = rows - r0 < N ? rows - r0 : N;
    if (prefetch && r0 + N < rows) {  // the next block's input
      PrefetchBlock(x + (r0 + N) * x_stride, x_stride, rows - r0 - N < N ? rows - r0 - N : N,
                    cols);
    }
    // Transposed (cheaper than gathers): lanes past the last row repeat it (and are not written).
    TransposeIn(x + r0 * x_stride, x_stride, live, cols, (rows - r0 - 1) * x_stride + cols,
                xs);
    VF col[G];
    VF m = hn::Set(d, -kInf);
    auto nan = hn::FirstN(d, 0);
    for (size_t c = 0; c < cols; ++c) {
      col[c] = hn::Load(d, xs + c * N);
      nan = hn::Or(nan, hn::IsNaN(col[c]));
      m = hn::Max(m, col[c]);
    }
    const auto bad = hn::Or(nan, hn::Or(hn::Eq(m, hn::Set(d, kInf)), hn::Eq(m, hn::Set(d, -kInf))));
    hn::Store(hn::IfThenElseZero(bad, hn::Set(d, 1.0f)), d, max_buf);
    for (size_t l = 0; l < live; ++l) bad_buf[l] = max_buf[l] != 0.0f;
    m = hn::IfThenZeroElse(bad, hn::Add(m, hn::Zero(d)));  // -0 -> +0; special lanes compute junk
    VD md[kParts];
    Widen(m, md);
    VD e[G][kParts];
    VD lanes[G][kParts];
    VD ties[kParts];
    for (size_t p = 0; p < kParts; ++p) ties[p] = hn::Zero(dd);
    for (size_t c = 0; c < cols; c += 2) {
      VD t[2 * kParts];
      hn::Mask<DD> z[2 * kParts];
      for (size_t h = 0; h < 2; ++h) {
        const VF v = c + h < cols ? col[c + h] : hn::Set(d, -kInf);
        Widen(v, t + h * kParts);
      }
      for (size_t j = 0; j < 2 * kParts; ++j) {
        t[j] = hn::Mul(hn::Sub(t[j], md[j % kParts]), itd);
        z[j] = hn::Eq(t[j], hn::Zero(dd));
      }
      ExpNonPositiveF64<2 * kParts>(dd, t);
      for (size_t h = 0; h < 2 && c + h < cols; ++h) {
        for (size_t p = 0; p < kParts; ++p) {
          e[c + h][p] = t[h * kParts + p];
          lanes[c + h][p] = hn::IfThenZeroElse(z[h * kParts + p], t[h * kParts + p]);
          ties[p] = hn::Add(ties[p], hn::IfThenElseZero(z[h * kParts + p], one));
        }
      }
    }
    // This block's output, requested while its sums and outputs are computed.
    if (prefetch && op != 2) PrefetchBlock(y + r0 * y_stride, y_stride, live, cols);
    for (size_t c = cols; c < G; ++c) {
      for (size_t p = 0; p < kParts; ++p) lanes[c][p] = pad[0];
    }
    for (size_t w = G / 2; w >= 1; w /= 2) {
      for (size_t j = 0; j < w; ++j) {
        for (size_t p = 0; p < kParts; ++p) lanes[j][p] = hn::Add(lanes[j][p], lanes[j + w][p]);
      }
    }
    if (op == 0) {
      VD inv[kParts];
      for (size_t p = 0; p < kParts; ++p) inv[p] = hn::Div(one, hn::Add(ties[p], lanes[0][p]));
      for (size_t c = 0; c < cols; ++c) {
        VD parts[kParts];
        Widen(Narrow(e[c]), parts);  // e rounded to float, as the chunk kernel stores it
        for (size_t p = 0; p < kParts; ++p) parts[p] = hn::Mul(parts[p], inv[p]);
        hn::Store(Narrow(parts), d, obuf + c * N);
      }
    } else {
      // log(ties + rest) = log1p((ties - 1) + rest); exact argument when ties == 1.
      VD ld[kParts];
      for (size_t p = 0; p < kParts; ++p) {
        ld[p] = Log1pNonNegativeF64(dd, hn::Add(hn::Sub(ties[p], one), lanes[0][p]));
      }
      if (op == 2) {
        VD parts[kParts];
        for (size_t p = 0; p < kParts; ++p) parts[p] = hn::Add(hn::Mul(md[p], itd), ld[p]);
        hn::Store(Narrow(parts), d, obuf);
        for (size_t l = 0; l < live; ++l) {
          if (!bad_buf[l]) lse[r0 + l] = obuf[l];
        }
      } else {
        for (size_t c = 0; c < cols; ++c) {
          VD parts[kParts];
          Widen(col[c], parts);
          for (size_t p = 0; p < kParts; ++p) {
            parts[p] = hn::Sub(hn::Mul(hn::Sub(parts[p], md[p]), itd), ld[p]);
          }
          hn::Store(Narrow(parts), d, obuf + c * N);
        }
      }
    }
    for (size_t l = 0; l < live; ++l) special[r0 + l] = bad_buf[l];
    if (op != 2) TransposeOut(obuf, live, cols, bad_buf, y + r0 * y_stride, y_stride);
  }
}

// Rows of kLaneGroup + 1 .. internal::kMediumRowMax entries, N rows at a time with one row per
// lane (the block transposed by TransposeIn), with exactly the arithmetic of the chunk kernels
// on each row (ChunkStatsImpl<kStatsFast or kStatsDouble> with its blocks and padded last lane
// group, the driver's normaliser and ScaleImpl / LogOutImpl), so a row gives the same bits
// whether it comes alone (row by row) or in a batch. The normaliser's log is the driver's
// (LogNormalizer, scalar, one per row). op: 0 softmax, 1 log_softmax, 2 logsumexp (lse[r]).
// Rows with NaN, +inf or no finite entry are not written; special[r] is set to 1 for them (0
// otherwise), for the driver.
// Preconditions: kLaneGroup < cols <= kMediumRowMax; fast only where 1/tau fits a float.
template <bool kFast>
HWY_INLINE void MediumRowsImpl(int op, const float* x, size_t x_stride, float* y, size_t y_stride,
                               float* lse, size_t rows, size_t cols, double inv_tau,
                               unsigned char* special) {
  const DF d;
  const DD dd;
  constexpr size_t N = hn::MaxLanes(d);
  constexpr size_t ND = N / kParts;
  constexpr size_t G = kLaneGroup;
  constexpr size_t kMax = internal::kMediumRowMax;
  static_assert(kMax % G == 0, "whole lane groups");
  const float kInf = std::numeric_limits<float>::infinity();
  // What a -inf padding entry of the last lane group adds (the exps clamp).
  VF pad_f[1] = {hn::Set(d, -kInf)};
  ExpNonPositiveF32<1>(d, pad_f);
  VD pad_d[1] = {hn::Set(dd, -std::numeric_limits<double>::infinity())};
  ExpNonPositiveF64<1>(dd, pad_d);
  const VD one = hn::Set(dd, 1.0);
  const VD itd = hn::Set(dd, inv_tau);
  const VF itf = hn::Set(d, static_cast<float>(inv_tau));
  HWY_ALIGN float xs[kMax * N];   // the block's columns: xs[c * N + lane]
  HWY_ALIGN float es[kMax * N];   // exponentials, then outputs
  // The summands per column (the exp, 0 for a tie, the padding's value past the row), in the
  // precision in which the chunk kernel adds them to its lanes.
  HWY_ALIGN float sf[kFast ? kMax * N : 1];
  HWY_ALIGN double sd[kFast ? 1 : kMax * N];
  HWY_ALIGN float flag_buf[N];
  HWY_ALIGN double ties_buf[N], rest_buf[N], ln_buf[N];
  unsigned char bad_buf[N];
  const size_t padded = (cols + G - 1) / G * G;
  const bool prefetch = UsePrefetchBlock(rows, x_stride, cols);
  for (size_t r0 = 0; r0 < rows; r0 += N) {
    const size_t live = rows - r0 < N ? rows - r0 : N;
    if (prefetch && r0 + N < rows) {  // the next block's input
      PrefetchBlock(x + (r0 + N) * x_stride, x_stride, rows - r0 - N < N ? rows - r0 - N : N,
                    cols);
    }
    // Transposed (cheaper than gathers): lanes past the last row repeat it (and are not written).
    TransposeIn(x + r0 * x_stride, x_stride, live, cols, (rows - r0 - 1) * x_stride + cols,
                xs);
    VF m = hn::Set(d, -kInf);
    auto nan = hn::FirstN(d, 0);
    for (size_t c = 0; c < cols; ++c) {
      const VF v = hn::Load(d, xs + c * N);
      nan = hn::Or(nan, hn::IsNaN(v));
      m = hn::Max(m, v);
    }
    const auto bad =
        hn::Or(nan, hn::Or(hn::Eq(m, hn::Set(d, kInf)), hn::Eq(m, hn::Set(d, -kInf))));
    hn::Store(hn::IfThenElseZero(bad, hn::Set(d, 1.0f)), d, flag_buf);
    for (size_t l = 0; l < live; ++l) bad_buf[l] = flag_buf[l] != 0.0f;
    m = hn::IfThenZeroElse(bad, hn::Add(m, hn::Zero(d)));  // -0 -> +0; special lanes: junk
    VD md[kParts];
    Widen(m, md);

    // Exponentials and summands, a lane group (16 columns) at a time.
    VF ties_f = hn::Zero(d);
    VD ties_d[kParts];
    for (size_t p = 0; p < kParts; ++p) ties_d[p] = hn::Zero(dd);
    for (size_t c0 = 0; c0 < padded; c0 += G) {
      const size_t w = cols - c0 < G ? cols - c0 : G;
      if constexpr (kFast) {
        VF e[G];
        for (size_t j = 0; j < w; ++j) {
          e[j] = hn::Mul(hn::Sub(hn::Load(d, xs + (c0 + j) * N), m), itf);
        }
        for (size_t j = w; j < G; ++j) e[j] = hn::Set(d, -kInf);
        ExpNonPositiveF32<G>(d, e);
        for (size_t j = 0; j < w; ++j) {
          const auto is_max = hn::Eq(hn::Load(d, xs + (c0 + j) * N), m);
          ties_f = hn::Add(ties_f, hn::IfThenElseZero(is_max, hn::Set(d, 1.0f)));
          hn::Store(e[j], d, es + (c0 + j) * N);
          hn::Store(hn::IfThenZeroElse(is_max, e[j]), d, sf + (c0 + j) * N);
        }
        for (size_t j = w; j < G; ++j) hn::Store(pad_f[0], d, sf + (c0 + j) * N);
      } else {
        // 4 float columns = 8 double vectors at a time: with 8 columns (16 vectors), the exp's
        // 64 live vectors spilled; 4 measured 0.78-0.90 of that time on AMD EPYC Zen 4 (AVX-512)
        // and 0.95-0.97 on its AVX2 target, at 24-40 columns (the same values either way).
        constexpr size_t H = 4;
        for (size_t h = 0; h < G; h += H) {
          VD t[H * kParts];
          hn::Mask<DD> z[H * kParts];
          for (size_t j = 0; j < H; ++j) {
            const size_t c = c0 + h + j;
            const VF v = c < cols ? hn::Load(d, xs + c * N) : hn::Set(d, -kInf);
            Widen(v, t + j * kParts);
          }
          for (size_t k = 0; k < H * kParts; ++k) {
            t[k] = hn::Mul(hn::Sub(t[k], md[k % kParts]), itd);
            z[k] = hn::Eq(t[k], hn::Zero(dd));
          }
          ExpNonPositiveF64<H * kParts>(dd, t);
          for (size_t j = 0; j < H; ++j) {
            const size_t c = c0 + h + j;
            if (c < cols) hn::Store(Narrow(t + j * kParts), d, es + c * N);
            for (size_t p = 0; p < kParts; ++p) {
              const size_t k = j * kParts + p;
              ties_d[p] = hn::Add(ties_d[p], hn::IfThenElseZero(z[k], one));
              hn::Store(hn::IfThenZeroElse(z[k], t[k]), dd, sd + c * N + p * ND);
            }
          }
        }
      }
    }
    if constexpr (kFast) Widen(ties_f, ties_d);  // a count below 2^24: exact
    // This block's output, requested while its sums and outputs are computed.
    if (prefetch && op != 2) PrefetchBlock(y + r0 * y_stride, y_stride, live, cols);

    // The 16 logical lanes (column c goes to lane c % 16), added as the chunk kernel adds them:
    // kFast blocks of 64 columns add their four groups pairwise in float first.
    VD acc[G][kParts];
    for (size_t j = 0; j < G; ++j) {
      for (size_t p = 0; p < kParts; ++p) acc[j][p] = hn::Zero(dd);
    }
    size_t i = 0;
    if constexpr (kFast) {
      for (; i + 4 * G <= cols; i += 4 * G) {
        for (size_t j = 0; j < G; ++j) {
          const float* s = sf + (i + j) * N;
          const VF g = hn::Add(hn::Add(hn::Load(d, s), hn::Load(d, s + G * N)),
                               hn::Add(hn::Load(d, s + 2 * G * N), hn::Load(d, s + 3 * G * N)));
          VD parts[kParts];
          Widen(g, parts);
          for (size_t p = 0; p < kParts; ++p) acc[j][p] = hn::Add(acc[j][p], parts[p]);
        }
      }
    }
    for (; i < padded; i += G) {
      for (size_t j = 0; j < G; ++j) {
        VD parts[kParts];
        if constexpr (kFast) {
          Widen(hn::Load(d, sf + (i + j) * N), parts);
        } else {
          for (size_t p = 0; p < kParts; ++p) parts[p] = hn::Load(dd, sd + (i + j) * N + p * ND);
        }
        for (size_t p = 0; p < kParts; ++p) acc[j][p] = hn::Add(acc[j][p], parts[p]);
      }
    }
    for (size_t w = G / 2; w >= 1; w /= 2) {  // TreeSum16
      for (size_t j = 0; j < w; ++j) {
        for (size_t p = 0; p < kParts; ++p) acc[j][p] = hn::Add(acc[j][p], acc[j + w][p]);
      }
    }

    if (op == 0) {  // the driver's scale 1 / (ties + rest), then ScaleImpl
      VD scale[kParts], lo[kParts];
      for (size_t p = 0; p < kParts; ++p) scale[p] = hn::Div(one, hn::Add(ties_d[p], acc[0][p]));
      const VF s_hi = Narrow(scale);
      VD hi_parts[kParts];
      Widen(s_hi, hi_parts);
      for (size_t p = 0; p < kParts; ++p) lo[p] = hn::Sub(scale[p], hi_parts[p]);
      const VF s_lo = Narrow(lo);  // (scale >= 1 / kMediumRowMax: ScaleImpl's float pair)
      for (size_t c = 0; c < cols; ++c) {
        const VF e = hn::Load(d, es + c * N);
        hn::Store(kFast ? hn::Mul(e, s_hi) : MulAddExact(d, e, s_hi, hn::Mul(e, s_lo)), d,
                  es + c * N);
      }
    } else {
      for (size_t p = 0; p < kParts; ++p) {
        hn::Store(ties_d[p], dd, ties_buf + p * ND);
        hn::Store(acc[0][p], dd, rest_buf + p * ND);
      }
      for (size_t l = 0; l < N; ++l) {
        ln_buf[l] = l < live && !bad_buf[l] ? internal::LogNormalizer(ties_buf[l], rest_buf[l])
                                            : 0.0;
      }
      VD ld[kParts];
      for (size_t p = 0; p < kParts; ++p) ld[p] = hn::Load(dd, ln_buf + p * ND);
      if (op == 2) {
        VD parts[kParts];
        for (size_t p = 0; p < kParts; ++p) parts[p] = hn::Add(hn::Mul(md[p], itd), ld[p]);
        hn::Store(Narrow(parts), d, es);
        for (size_t l = 0; l < live; ++l) {
          if (!bad_buf[l]) lse[r0 + l] = es[l];
        }
      } else if constexpr (kFast) {
        const VF lf = Narrow(ld);
        for (size_t c = 0; c < cols; ++c) {
          const VF v = hn::Load(d, xs + c * N);
          hn::Store(hn::Sub(hn::Mul(hn::Sub(v, m), itf), lf), d, es + c * N);
        }
      } else {
        for (size_t c = 0; c < cols; ++c) {
          VD parts[kParts];
          Widen(hn::Load(d, xs + c * N), parts);
          for (size_t p = 0; p < kParts; ++p) {
            parts[p] = hn::Sub(hn::Mul(hn::Sub(parts[p], md[p]), itd), ld[p]);
          }
          hn::Store(Narrow(parts), d, es + c * N);
        }
      }
    }
    for (size_t l = 0; l < live; ++l) special[r0 + l] = bad_buf[l];
    if (op != 2) TransposeOut(es, live, cols, bad_buf, y + r0 * y_stride, y_stride);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_SOFTMAX_MEDIUM_ROWS_KERNELS_INL_H_
