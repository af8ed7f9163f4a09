// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of the sampler: exp with 1024-entry block sums, masked block sums, threshold
// filters (compress), partition statistics for the top-p select, first-maximum search.
// Every double sum uses 16 logical lanes (position i in lane i % 16, added in order) and a fixed
// tree, like the softmax kernels, so every target gives the same bits and hence the same token.

#if defined(LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_INL_H_
#undef LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_INL_H_
#else
#define LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_INL_H_
#endif

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "src/internal/exp-inl.h"
#include "src/sampling/sampling_kernels.h"
#include "src/softmax/softmax_kernels-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace sampling {

using internal::kLaneGroup;
using internal::kSampleBlock;
using internal::PartitionStats;

constexpr size_t kN = hn::MaxLanes(DF());
constexpr size_t kU = kLaneGroup / kN;  // float vectors per lane group of 16
constexpr size_t kA = kParts * kU;      // double accumulators holding the 16 logical lanes
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

// 16 logical double lanes, added in a fixed order on every target.
struct Lanes16 {
  VD acc[kA];
  HWY_INLINE void Reset() {
    for (size_t a = 0; a < kA; ++a) acc[a] = hn::Zero(DD());
  }
  // Adds float vector v, which holds positions [k * N, (k + 1) * N) of a lane group.
  HWY_INLINE void Add(size_t k, VF v) {
    VD parts[kParts];
    Widen(v, parts);
    for (size_t p = 0; p < kParts; ++p) {
      acc[(k % kU) * kParts + p] = hn::Add(acc[(k % kU) * kParts + p], parts[p]);
    }
  }
  HWY_INLINE double Total() const {
    return TreeSum16(acc);
  }
};

// e[0, KV*N) = exp((x - m) * inv_tau) rounded to float, 0 where x = -inf; adds the rounded values
// into `sum`. src holds whole lane groups.
template <size_t KV>
HWY_INLINE void ExpGroups(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst, VD md, VD itd,
                          Lanes16* sum) {
  const DF d;
  const DD dd;
  constexpr size_t KD = KV * kParts;
  VF v[KV];
  VD t[KD];
  for (size_t k = 0; k < KV; ++k) {
    v[k] = hn::LoadU(d, src + k * kN);
    Widen(v[k], t + k * kParts);
  }
  for (size_t j = 0; j < KD; ++j) t[j] = hn::Mul(hn::Sub(t[j], md), itd);
  ExpNonPositiveF64<KD>(dd, t);
  const VF neg_inf = hn::Set(d, -kInfF);
  for (size_t k = 0; k < KV; ++k) {
    // x = -inf with inv_tau = 0 (tau = +inf) gives NaN above; a masked entry is 0 on every path.
    const VF e = hn::IfThenZeroElse(hn::Eq(v[k], neg_inf), Narrow(t + k * kParts));
    if (dst) hn::StoreU(e, d, dst + k * kN);
    if (sum) sum->Add(k, e);
  }
}

// The double path (tau outside [1e-30, 1e30], +inf included): the shift in double, a double exp,
// e rounded to float (relative error <= 2^-24); block_sums per 1024-entry block (16 double lanes).
HWY_INLINE void ExpBlocksF64Impl(const float* x, size_t n, float m, double inv_tau, float* e,
                                 double* block_sums) {
  constexpr size_t kStep = 32;  // entries per exp batch: enough independent vectors
  const DD dd;
  const VD md = hn::Set(dd, static_cast<double>(m));
  const VD itd = hn::Set(dd, inv_tau);
  Lanes16 sum;
  Lanes16* psum = block_sums ? &sum : nullptr;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    sum.Reset();
    size_t j = 0;
    for (; j + kStep <= len; j += kStep) {
      ExpGroups<kStep / kN>(x + b0 + j, e ? e + b0 + j : nullptr, md, itd, psum);
    }
    if (j < len) {  // padded with -inf, which adds exactly 0 on every target
      HWY_ALIGN float xb[kStep];
      HWY_ALIGN float eb[kStep];
      for (size_t i = 0; i < kStep; ++i) xb[i] = -kInfF;
      std::memcpy(xb, x + b0 + j, (len - j) * sizeof(float));
      ExpGroups<kStep / kN>(xb, eb, md, itd, psum);
      if (e) std::memcpy(e + b0 + j, eb, (len - j) * sizeof(float));
    }
    if (block_sums) block_sums[b0 / kSampleBlock] = sum.Total();
  }
}

// ---------------------------------------------------------------------------------------------
// The float path (every tau in [1e-30, 1e30]): e = 2^u, u = (x - m) * c, c = log2(e) / tau, in
// float. kComp (Precision::kAccurate): u is carried as uh + ul, where uh = fl((x - m) * c_hi) and
// ul holds the rounding errors of the subtraction (TwoSum), of the product (FMA) and of
// c_hi = fl(c) (c_lo = c - c_hi), so the exp sees u to about 2^-40 relative: e within 1.5 float
// ULP of the exact exp((x - m)/tau). Without kComp (Precision::kFast) u = uh: relative error up
// to about (3 |t| + 2) * 2^-24, t = (x - m)/tau. Results below FLT_MIN are subnormal (rounded
// twice); x = -inf, and u < -151, give exactly 0.
struct ExpConsts {
  VF m, neg_m, c_hi, c_lo;
};

HWY_INLINE ExpConsts MakeExpConsts(const internal::ExpArgs& a) {
  const DF d;
  return ExpConsts{hn::Set(d, a.m), hn::Set(d, -a.m), hn::Set(d, a.c_hi), hn::Set(d, a.c_lo)};
}

// 2^(j/16), j = 0..15, rounded to float (the sampler's own copy: its tokens must not change when
// the shared exp kernels do).
alignas(64) inline constexpr float kExp2Sixteenths[16] = {
    0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f,
    0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};

// bits(2^(j/16)) - (j << 19): with n = 16 k + j, (n << 19) + kScaleBits[j] = bits(2^k 2^(j/16)),
// the exponent field taking k (the j bits shifted into the mantissa are cancelled).
struct ScaleBitsTable {
  alignas(64) int32_t v[16];
  constexpr ScaleBitsTable() : v() {
    for (int j = 0; j < 16; ++j) {
      v[j] = static_cast<int32_t>(std::bit_cast<uint32_t>(kExp2Sixteenths[j])) - (j << 19);
    }
  }
};
inline constexpr ScaleBitsTable kScaleBits{};

// kScaleBits[n & 15].
template <class VI>
HWY_INLINE VI ScaleBitsOf(VI n) {
  const hn::RebindToSigned<DF> di;
  return Lookup16x32(di, kScaleBits.v, n);
}

// v[k] <- e for K vectors of x. u = n/16 + r with n = round(16 u) by the shifter addition (exact
// on every target), r = u - n/16 exactly, |r| <= 1/32; 2^(n/16) = 2^(n>>4) * 2^((n&15)/16) from
// the table; 2^r by the degree-3 Taylor polynomial of exp(r ln2) (truncation 9e-9).
// kF2S (with kComp): the caller guarantees |x| < 2^(e_m + 1) for every finite x of the batch
// (e_m the exponent of m), so the exponent of -m is at least that of x and Fast2Sum gives the
// same exact error as TwoSum in 2 operations instead of 5: the same bits.
template <size_t K, bool kComp, bool kF2S = false>
HWY_INLINE void ExpShifted(const ExpConsts& c, VF* HWY_RESTRICT v) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  using VI = hn::Vec<decltype(di)>;
  const VF shifter = hn::Set(d, 0x1.8p19f);  // ulp 1/16: u + shifter rounds u to sixteenths
  VF uh[K], r[K], p[K];
  VI scale[K];
  for (size_t k = 0; k < K; ++k) {
    const VF dk = hn::Sub(v[k], c.m);
    uh[k] = hn::Mul(dk, c.c_hi);
    const VF kf = hn::Add(uh[k], shifter);
    const VI n = hn::Sub(hn::BitCast(di, kf), hn::BitCast(di, shifter));
    const hn::RebindToUnsigned<DF> du;
    scale[k] = hn::Add(hn::BitCast(di, hn::ShiftLeft<19>(hn::BitCast(du, n))), ScaleBitsOf(n));
    r[k] = hn::Sub(uh[k], hn::Sub(kf, shifter));  // exact
    if constexpr (kComp) {
      // TwoSum: x - m = dk + err exactly (no overflow: else uh = -inf and the lane is 0 below).
      VF err;
      if constexpr (kF2S) {
        err = hn::Sub(v[k], hn::Add(dk, c.m));  // Fast2Sum(-m, x)
      } else {
        const VF z = hn::Sub(dk, v[k]);
        err = hn::Add(hn::Sub(v[k], hn::Sub(dk, z)), hn::Sub(c.neg_m, z));
      }
      VF lo = MulAddExact(d, dk, c.c_hi, hn::Neg(uh[k]));  // dk * c_hi - uh, exactly
      lo = MulAddExact(d, dk, c.c_lo, lo);
      r[k] = hn::Add(r[k], MulAddExact(d, err, c.c_hi, lo));
    }
    p[k] = hn::Set(d, 0.0555041086648216f);  // ln2^3 / 6
  }
  constexpr float kCoef[] = {0.240226506959101f, 0.693147180559945f};  // ln2^2 / 2, ln2
  for (float cf : kCoef) {
    const VF vc = hn::Set(d, cf);
    for (size_t k = 0; k < K; ++k) p[k] = MulAddExact(d, p[k], r[k], vc);
  }
  const VF one = hn::Set(d, 1.0f);
  const VF lowest = hn::Set(d, -126.0f);
  for (size_t k = 0; k < K; ++k) p[k] = MulAddExact(d, p[k], r[k], one);
  // One test for the batch: is any u below -126 (a result below FLT_MIN, or x = -inf, or an
  // overflowing x - m)? Usually not, and then e = p * scale as computed (a NaN x gives a NaN e:
  // the fused pass finds NaN by its sums). Min may drop a NaN, which is harmless here.
  VF umin = uh[0];
  for (size_t k = 1; k < K; ++k) umin = hn::Min(umin, uh[k]);
  if (HWY_LIKELY(hn::AllFalse(d, hn::Lt(umin, lowest)))) {
    for (size_t k = 0; k < K; ++k) v[k] = hn::Mul(p[k], hn::BitCast(d, scale[k]));
    return;
  }
  for (size_t k = 0; k < K; ++k) {
    // Lanes below -126 hold garbage above. u in [-151, -126): the scale 2^(k + 64) 2^(j/16),
    // then a product with 2^-64 that rounds into the subnormals (two roundings); u < -151
    // (below half the least subnormal, -inf included): exactly 0.
    const hn::RebindToUnsigned<DF> du;
    const VF kf = hn::Add(uh[k], shifter);
    const VI n = hn::Add(hn::Sub(hn::BitCast(di, kf), hn::BitCast(di, shifter)),
                         hn::Set(di, 64 * 16));
    const VI sc = hn::Add(hn::BitCast(di, hn::ShiftLeft<19>(hn::BitCast(du, n))), ScaleBitsOf(n));
    const VF tiny = hn::Mul(hn::Mul(p[k], hn::BitCast(d, sc)), hn::Set(d, 0x1p-64f));
    const auto low = hn::Lt(uh[k], lowest);
    const auto sub = hn::And(low, hn::Ge(uh[k], hn::Set(d, -151.0f)));
    const VF normal = hn::IfThenZeroElse(low, hn::Mul(p[k], hn::BitCast(d, scale[k])));
    v[k] = hn::IfThenElse(sub, tiny, normal);
  }
}

// Sums of e over a block, the same operations on every target: a sub-block of 256 entries
// (16 lane groups) is summed per logical lane in float by a balanced tree (depth 4: relative
// error <= 4 * 2^-24 for these non-negative terms), widened to double and added to that lane's
// accumulator in order; the block's 16 lanes are added by TreeSum16.
constexpr size_t kSub = 16 * kLaneGroup;  // 256
constexpr size_t kSubV = kSub / kN;       // vectors per sub-block
constexpr size_t kPairV = 2 * kU;         // vectors per pair of lane groups
static_assert(internal::kSampleBlock % kSub == 0, "blocks hold whole sub-blocks");

// The tree over a sub-block: pair(p, out) writes, for the lane groups 2p and 2p + 1,
// out[k] = g_{2p}[k] + g_{2p+1}[k]; the pairs are added as ((0+1)+(2+3))+((4+5)+(6+7)).
template <class PairFn>
HWY_INLINE void SubTreeSum(PairFn& pair, Lanes16& acc) {
  VF a[kU], b[kU], s4[kU], s8[kU];
  pair(0, a);
  pair(1, b);
  for (size_t k = 0; k < kU; ++k) s4[k] = hn::Add(a[k], b[k]);
  pair(2, a);
  pair(3, b);
  for (size_t k = 0; k < kU; ++k) s8[k] = hn::Add(s4[k], hn::Add(a[k], b[k]));
  pair(4, a);
  pair(5, b);
  for (size_t k = 0; k < kU; ++k) s4[k] = hn::Add(a[k], b[k]);
  pair(6, a);
  pair(7, b);
  for (size_t k = 0; k < kU; ++k) {
    acc.Add(k, hn::Add(s8[k], hn::Add(s4[k], hn::Add(a[k], b[k]))));
  }
}

// The pair functor of ExpSub: e of two lane groups (stored if dst), and their sum.
template <bool kComp, bool kF2S = false>
struct ExpPairs {
  const ExpConsts& c;
  const float* HWY_RESTRICT src;
  float* HWY_RESTRICT dst;
  HWY_INLINE void operator()(size_t p, VF* out) const {
    const DF d;
    VF v[kPairV];
    for (size_t q = 0; q < kPairV; ++q) v[q] = hn::LoadU(d, src + (p * kPairV + q) * kN);
    ExpShifted<kPairV, kComp, kF2S>(c, v);
    if (dst) {
      for (size_t q = 0; q < kPairV; ++q) hn::StoreU(v[q], d, dst + (p * kPairV + q) * kN);
    }
    for (size_t k = 0; k < kU; ++k) out[k] = hn::Add(v[k], v[kU + k]);
  }
};

// One sub-block: e of src[0, 256) (x <= m, or -inf: e = 0) into dst (nullable), summed into acc.
template <bool kComp, bool kF2S = false>
HWY_INLINE void ExpSub(const ExpConsts& c, const float* HWY_RESTRICT src, float* HWY_RESTRICT dst,
                       Lanes16& acc) {
  ExpPairs<kComp, kF2S> pairs{c, src, dst};
  SubTreeSum(pairs, acc);
}

// Runs ExpSub over block [0, len): whole sub-blocks in place, the rest through a -inf padded
// buffer (which adds exactly 0).
template <bool kComp, bool kF2S = false>
HWY_INLINE void ExpBlock(const ExpConsts& c, const float* HWY_RESTRICT x, size_t len,
                         float* HWY_RESTRICT e, Lanes16& acc) {
  size_t j = 0;
  for (; j + kSub <= len; j += kSub) ExpSub<kComp, kF2S>(c, x + j, e ? e + j : nullptr, acc);
  if (j < len) {
    HWY_ALIGN float buf[kSub];
    for (size_t i = 0; i < kSub; ++i) buf[i] = -kInfF;
    std::memcpy(buf, x + j, (len - j) * sizeof(float));
    ExpSub<kComp, kF2S>(c, buf, e ? buf : nullptr, acc);
    if (e) std::memcpy(e + j, buf, (len - j) * sizeof(float));
  }
}

// e_i for x[0, n) (x_i <= m, no NaN) into e (nullable); block_sums (nullable): per 1024-entry
// block, the sum of the e by the scheme above.
template <bool kComp>
HWY_INLINE void ExpSumsImpl(const float* HWY_RESTRICT x, size_t n, const internal::ExpArgs& a,
                            float* HWY_RESTRICT e, double* HWY_RESTRICT block_sums) {
  const ExpConsts c = MakeExpConsts(a);
  Lanes16 acc;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    acc.Reset();
    ExpBlock<kComp>(c, x + b0, len, e ? e + b0 : nullptr, acc);
    if (block_sums) block_sums[b0 / kSampleBlock] = acc.Total();
  }
}

// The max of one block xb[0, len), len >= 1; a0, a1 accumulate |bits| (a NaN shows as |bits|
// above those of +inf: no mask operations). The max needs no lane order, so the block is read
// with one unaligned load at each end and aligned loads between (an unaligned 512-bit load
// touches two cache lines); overlaps do not matter. Unspecified where the block holds NaN.
// kNaN = false: no NaN tracking (the fused pass finds NaN through its sums instead).
// kMin: *min_out receives the block's min too (unspecified where the block holds NaN).
template <bool kNaN = true, bool kMin = false, class VI>
HWY_INLINE float BlockMaxOne(const float* HWY_RESTRICT xb, size_t len, VI& a0, VI& a1,
                             float* min_out = nullptr) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF neg_inf = hn::Set(d, -kInfF);
  const VF pos_inf = hn::Set(d, kInfF);
  const VI abs_mask = hn::Set(di, 0x7fffffff);
  VF m0 = neg_inf, m1 = neg_inf, m2 = neg_inf, m3 = neg_inf;
  VF n0 = pos_inf, n1 = pos_inf;
  if (len < 4 * kN || reinterpret_cast<uintptr_t>(xb) % sizeof(float) != 0) {
    for (size_t i = 0; i < len; i += kN) {
      HWY_ALIGN float buf[kN];
      for (size_t j = 0; j < kN; ++j) buf[j] = -kInfF;
      std::memcpy(buf, xb + i, (len - i < kN ? len - i : kN) * sizeof(float));
      const VF v = hn::Load(d, buf);
      m0 = hn::Max(m0, v);
      if (kMin) {  // the padding's -inf must not count: pad with +inf for the min
        for (size_t j = 0; j < kN; ++j) buf[j] = kInfF;
        std::memcpy(buf, xb + i, (len - i < kN ? len - i : kN) * sizeof(float));
        n0 = hn::Min(n0, hn::Load(d, buf));
      }
      if (kNaN) a0 = hn::Max(a0, hn::And(hn::BitCast(di, v), abs_mask));
    }
  } else {
    const VF h = hn::LoadU(d, xb), t = hn::LoadU(d, xb + len - kN);
    m0 = hn::Max(h, t);
    if (kMin) n0 = hn::Min(h, t);
    if (kNaN) {
      a0 = hn::Max(a0, hn::And(hn::BitCast(di, h), abs_mask));
      a1 = hn::Max(a1, hn::And(hn::BitCast(di, t), abs_mask));
    }
    const size_t mis = (reinterpret_cast<uintptr_t>(xb) / sizeof(float)) % kN;
    size_t i = mis == 0 ? 0 : kN - mis;
    for (; i + 4 * kN <= len; i += 4 * kN) {
      const VF v0 = hn::Load(d, xb + i), v1 = hn::Load(d, xb + i + kN);
      const VF v2 = hn::Load(d, xb + i + 2 * kN), v3 = hn::Load(d, xb + i + 3 * kN);
      m0 = hn::Max(m0, v0);
      m1 = hn::Max(m1, v1);
      m2 = hn::Max(m2, v2);
      m3 = hn::Max(m3, v3);
      if (kMin) {
        n0 = hn::Min(n0, hn::Min(v0, v1));
        n1 = hn::Min(n1, hn::Min(v2, v3));
      }
      if (kNaN) {
        a0 = hn::Max(a0, hn::And(hn::BitCast(di, v0), abs_mask));
        a1 = hn::Max(a1, hn::And(hn::BitCast(di, v1), abs_mask));
        a0 = hn::Max(a0, hn::And(hn::BitCast(di, v2), abs_mask));
        a1 = hn::Max(a1, hn::And(hn::BitCast(di, v3), abs_mask));
      }
    }
    for (; i + kN <= len; i += kN) {
      const VF v = hn::Load(d, xb + i);
      m1 = hn::Max(m1, v);
      if (kMin) n1 = hn::Min(n1, v);
      if (kNaN) a0 = hn::Max(a0, hn::And(hn::BitCast(di, v), abs_mask));
    }
  }
  if (kMin) *min_out = hn::GetLane(hn::MinOfLanes(d, hn::Min(n0, n1)));
  return hn::GetLane(hn::MaxOfLanes(d, hn::Max(hn::Max(m0, m1), hn::Max(m2, m3))));
}

template <class VI>
HWY_INLINE bool AnyNaN(VI a0, VI a1) {
  const hn::RebindToSigned<DF> di;
  return hn::GetLane(hn::MaxOfLanes(di, hn::Max(a0, a1))) > 0x7f800000;
}

// The fused pass (temperature alone, top-p alone): per 1024-entry block, the block's max m_b, then e^_i = exp((x_i - m_b) * inv_tau) from L1, into e (nullable)
// and the block's quad-scheme sum. The caller scales block b by exp((m_b - max) * inv_tau).
// A block of -inf has m_b = -inf, e^ = 0, sum 0. A block with +inf or NaN gives garbage e^ there
// (the caller then throws, or takes the plain path). *has_nan: a NaN sum, or a NaN in a block
// whose max is not finite.
template <bool kComp>
HWY_INLINE void ExpFusedImpl(const float* HWY_RESTRICT x, size_t n, const internal::ExpArgs& a,
                             float* HWY_RESTRICT e, double* HWY_RESTRICT block_sums,
                             float* HWY_RESTRICT block_max, bool* has_nan) {
  internal::ExpArgs ab = a;
  const hn::RebindToSigned<DF> di;
  auto a0 = hn::Zero(di), a1 = hn::Zero(di);
  Lanes16 acc;
  bool nan = false;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    const float* xb = x + b0;
    float mn = 0.0f;
    const float mb = BlockMaxOne<false, kComp>(xb, len, a0, a1, &mn);
    block_max[b0 / kSampleBlock] = mb;
    if (mb == -kInfF || !(mb == mb) || mb == kInfF) {  // nothing to exponentiate (or garbage)
      if (e) std::memset(e + b0, 0, len * sizeof(float));
      block_sums[b0 / kSampleBlock] = 0.0;
      // Max is not NaN-propagating on every target: look for a NaN the max skipped.
      for (size_t i = 0; i < len; ++i) nan |= !(xb[i] == xb[i]);
      continue;
    }
    ab.m = mb;
    const ExpConsts c = MakeExpConsts(ab);
    acc.Reset();
    if (kComp && mn > -Fast2SumBound(mb)) {  // ExpShifted's kF2S condition (exp-inl.h)
      ExpBlock<kComp, true>(c, xb, len, e ? e + b0 : nullptr, acc);
    } else {
      ExpBlock<kComp>(c, xb, len, e ? e + b0 : nullptr, acc);
    }
    // A NaN in a block with a finite max gives a NaN weight (NaN fails the underflow test and
    // stays NaN), hence a NaN sum.
    const double sum = acc.Total();
    nan |= !(sum == sum);
    block_sums[b0 / kSampleBlock] = sum;
  }
  *has_nan = nan;
}

// The lanes of mask m as a bit field (lane i in bit i).
HWY_INLINE uint64_t MaskBits(hn::Mask<DF> m) {
  uint8_t mb[8] = {};
  hn::StoreMaskBits(DF(), m, mb);
  uint64_t bits = 0;
  for (size_t k = 0; k < 8; ++k) bits |= static_cast<uint64_t>(mb[k]) << (8 * k);
  return bits;
}

// Appends base + i for each lane i of m, in order, at idx + w; returns the new w. AVX-512 has a
// native compress; elsewhere Highway 1.0.3's Compress copies its table to the stack on each call,
// so the (few) set lanes are written one by one.
HWY_INLINE size_t AppendIndices(hn::Mask<DF> m, int32_t base, int32_t* idx, size_t w,
                                hn::Vec<hn::RebindToSigned<DF>> iota0) {
  const hn::RebindToSigned<DF> di;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const auto iv = hn::Add(iota0, hn::Set(di, base));
  hn::StoreU(hn::Compress(iv, hn::RebindMask(di, m)), di, idx + w);
  return w + hn::CountTrue(DF(), m);
#else
  (void)di;
  (void)iota0;
  for (uint64_t bits = MaskBits(m); bits != 0; bits &= bits - 1) {
    idx[w++] = base + static_cast<int32_t>(__builtin_ctzll(bits));
  }
  return w;
#endif
}

// The pair functor of the bracket pass: the masked e (x > hi) of two lane groups, summed; the
// count of x > hi; the indices of lo <= x <= hi compressed to idx.
struct BracketPairs {
  const float* HWY_RESTRICT xs;
  const float* HWY_RESTRICT es;
  size_t at;
  VF vhi, vlo;
  hn::Vec<hn::RebindToSigned<DF>> iota0;
  int32_t* HWY_RESTRICT idx;
  size_t w;      // entries written to idx (a local copy: no store-to-load chain through memory)
  size_t above;  // count of x > hi
  HWY_INLINE void operator()(size_t p, VF* out) {
    const DF d;
    const hn::RebindToSigned<DF> di;
    (void)di;
    VF ea[kPairV];
    size_t cnt = 0;
    size_t wl = w;
    // Branchless: about half the vectors hold a bracket entry, so a test would mispredict.
    for (size_t q = 0; q < kPairV; ++q) {
      const size_t o = (p * kPairV + q) * kN;
      const VF v = hn::LoadU(d, xs + o);
      const auto gt = hn::Gt(v, vhi);
      cnt += hn::CountTrue(d, gt);
      ea[q] = hn::IfThenElseZero(gt, hn::LoadU(d, es + o));
      // lo <= x <= hi as (x >= lo) and not (x > hi): the same lanes (NaN padding fails both).
      const auto in = hn::AndNot(gt, hn::Ge(v, vlo));
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
      // The lanes' indices advance by one vector each time (the pairs come in order): no
      // broadcast per vector.
      hn::StoreU(hn::Compress(iota0, hn::RebindMask(di, in)), di, idx + wl);
      wl += hn::CountTrue(d, in);
      iota0 = hn::Add(iota0, hn::Set(di, static_cast<int32_t>(kN)));
#else
      wl = AppendIndices(in, static_cast<int32_t>(at + o), idx, wl, iota0);
#endif
    }
    above += cnt;
    w = wl;
    for (size_t k = 0; k < kU; ++k) out[k] = hn::Add(ea[k], ea[kU + k]);
  }
};

// One sub-block of the bracket pass: 256 entries (xs, es), the first at index at.
HWY_INLINE void BracketSub(const float* HWY_RESTRICT xs, const float* HWY_RESTRICT es, size_t at,
                           VF vhi, VF vlo, hn::Vec<hn::RebindToSigned<DF>> iota0,
                           int32_t* HWY_RESTRICT idx, size_t& w, size_t& above, Lanes16& acc) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const hn::RebindToSigned<DF> di;
  iota0 = hn::Add(iota0, hn::Set(di, static_cast<int32_t>(at)));  // the lanes' indices
#endif
  BracketPairs pairs{xs, es, at, vhi, vlo, iota0, idx, w, above};
  SubTreeSum(pairs, acc);
  w = pairs.w;
  above = pairs.above;
}

// The top-p bracket pass over the stored e: block_above[b] = quad-scheme sum of e over
// {x > hi} in block b, *count_above = |{x > hi}|; writes the indices of {lo <= x <= hi}, in
// order, to idx (room for n + kCompressSlack); returns how many. Each block's bracket entries
// are gathered while the block is in L1: bx = x, be = float(e * scale_b) (scale_b = cb[b], or
// 1 if cb is null), and *bracket_sum = the double sum of the be in order. A block whose max
// (block_max, nullable) is below lo has nothing above hi nor in the bracket: its sum is +0, the
// tree's value over all-zero lanes, without reading it.
HWY_INLINE size_t AboveBracketImpl(const float* HWY_RESTRICT x, const float* HWY_RESTRICT e,
                                   size_t n, float hi, float lo, double* block_above,
                                   size_t* count_above, int32_t* HWY_RESTRICT idx,
                                   const double* cb, float* HWY_RESTRICT bx,
                                   float* HWY_RESTRICT be, double* bracket_sum,
                                   const float* block_max) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vhi = hn::Set(d, hi);
  const VF vlo = hn::Set(d, lo);
  const auto iota0 = hn::Iota(di, 0);
  Lanes16 acc;
  size_t w = 0, above = 0;
  double bracket = 0;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    if (block_max && block_max[b0 / kSampleBlock] < lo) {
      block_above[b0 / kSampleBlock] = 0.0;
      continue;
    }
    const size_t w0 = w;
    acc.Reset();
    size_t j = 0;
    for (; j + kSub <= len; j += kSub) {
      BracketSub(x + b0 + j, e + b0 + j, b0 + j, vhi, vlo, iota0, idx, w, above, acc);
    }
    if (j < len) {
      HWY_ALIGN float xb[kSub];
      HWY_ALIGN float eb[kSub] = {};
      for (size_t i = 0; i < kSub; ++i) xb[i] = kNaNF;  // fails every comparison
      std::memcpy(xb, x + b0 + j, (len - j) * sizeof(float));
      std::memcpy(eb, e + b0 + j, (len - j) * sizeof(float));
      BracketSub(xb, eb, b0 + j, vhi, vlo, iota0, idx, w, above, acc);
    }
    block_above[b0 / kSampleBlock] = acc.Total();
    const double scale = cb ? cb[b0 / kSampleBlock] : 1.0;
    for (size_t k = w0; k < w; ++k) {
      const size_t i = static_cast<size_t>(idx[k]);
      bx[k] = x[i];
      be[k] = static_cast<float>(static_cast<double>(e[i]) * scale);
      bracket += be[k];
    }
  }
  *count_above = above;
  *bracket_sum = bracket;
  return w;
}

// The mask of the cut {x > theta} or {x == theta and index < end} (end = last + 1).
// iota0 = Iota(di, 0), hoisted: Highway 1.0.3's x86 Iota goes through memory.
HWY_INLINE hn::Mask<DF> InCut(VF v, size_t i, VF vt, hn::Vec<hn::RebindToSigned<DF>> vend,
                              hn::Vec<hn::RebindToSigned<DF>> iota0) {
  const hn::RebindToSigned<DF> di;
  const auto idx = hn::Add(iota0, hn::Set(di, static_cast<int32_t>(i)));
  const auto tie_ok = hn::RebindMask(DF(), hn::Lt(idx, vend));
  return hn::Or(hn::Gt(v, vt), hn::And(hn::Eq(v, vt), tie_ok));
}

// block_sums[b] = sum over entries of block b in the cut of e_i.
HWY_INLINE void CutBlockSumsImpl(const float* x, const float* e, size_t n, float theta,
                                 int64_t last, double* block_sums) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vt = hn::Set(d, theta);
  // Indices are below INT32_MAX (n <= INT32_MAX), so end = INT32_MAX takes every tie.
  const int64_t end = last < -1 ? 0 : (last >= INT32_MAX - 1 ? INT32_MAX : last + 1);
  const auto vlast = hn::Set(di, static_cast<int32_t>(end));
  const auto iota0 = hn::Iota(di, 0);
  Lanes16 sum;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    sum.Reset();
    size_t j = 0;
    for (; j + kLaneGroup <= len; j += kLaneGroup) {
      for (size_t k = 0; k < kU; ++k) {
        const size_t i = b0 + j + k * kN;
        const VF v = hn::LoadU(d, x + i);
        sum.Add(k, hn::IfThenElseZero(InCut(v, i, vt, vlast, iota0), hn::LoadU(d, e + i)));
      }
    }
    if (j < len) {
      HWY_ALIGN float xb[kLaneGroup];
      HWY_ALIGN float eb[kLaneGroup] = {};
      for (size_t i = 0; i < kLaneGroup; ++i) xb[i] = kNaNF;  // fails every comparison
      std::memcpy(xb, x + b0 + j, (len - j) * sizeof(float));
      std::memcpy(eb, e + b0 + j, (len - j) * sizeof(float));
      for (size_t k = 0; k < kU; ++k) {
        const VF v = hn::Load(d, xb + k * kN);
        const auto m = InCut(v, b0 + j + k * kN, vt, vlast, iota0);
        sum.Add(k, hn::IfThenElseZero(m, hn::Load(d, eb + k * kN)));
      }
    }
    block_sums[b0 / kSampleBlock] = sum.Total();
  }
}

// Writes base + i for every i in [0, n) with x_i > theta (strict) or x_i >= theta, in order, to
// idx (which has room for n + kCompressSlack entries); returns how many.
HWY_INLINE size_t SelectIndicesImpl(const float* x, size_t n, float theta, bool strict,
                                    int32_t base, int32_t* idx) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vt = hn::Set(d, theta);
  const auto iota0 = hn::Iota(di, 0);
  size_t w = 0;
  size_t i = 0;
  auto one = [&](VF v, size_t at) HWY_ATTR {
    const auto m = strict ? hn::Gt(v, vt) : hn::Ge(v, vt);
    w = AppendIndices(m, base + static_cast<int32_t>(at), idx, w, iota0);
  };
  // Most vectors pass nothing once the threshold has risen: test four at a time first.
  for (; i + 4 * kN <= n; i += 4 * kN) {
    const VF v0 = hn::LoadU(d, x + i), v1 = hn::LoadU(d, x + i + kN);
    const VF v2 = hn::LoadU(d, x + i + 2 * kN), v3 = hn::LoadU(d, x + i + 3 * kN);
    const VF top = hn::Max(hn::Max(v0, v1), hn::Max(v2, v3));
    if (hn::AllFalse(d, strict ? hn::Gt(top, vt) : hn::Ge(top, vt))) continue;
    one(v0, i);
    one(v1, i + kN);
    one(v2, i + 2 * kN);
    one(v3, i + 3 * kN);
  }
  for (; i + kN <= n; i += kN) one(hn::LoadU(d, x + i), i);
  if (i < n) {
    HWY_ALIGN float xb[kN];
    for (size_t j = 0; j < kN; ++j) xb[j] = -kInfF;
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    const VF v = hn::Load(d, xb);
    const auto valid = hn::FirstN(d, n - i);
    const auto m = hn::And(valid, strict ? hn::Gt(v, vt) : hn::Ge(v, vt));
    w = AppendIndices(m, base + static_cast<int32_t>(i), idx, w, iota0);
  }
  return w;
}

// Per 1024-entry block, block_max[b] = the block's max; returns the row's max; *has_nan: any NaN.
HWY_INLINE float BlockMaxImpl(const float* HWY_RESTRICT x, size_t n, float* HWY_RESTRICT block_max,
                              bool* has_nan) {
  const hn::RebindToSigned<DF> di;
  auto a0 = hn::Zero(di), a1 = hn::Zero(di);
  float row_max = -kInfF;
  for (size_t b0 = 0; b0 < n; b0 += kSampleBlock) {
    const size_t len = n - b0 < kSampleBlock ? n - b0 : kSampleBlock;
    const float mb = BlockMaxOne(x + b0, len, a0, a1);
    block_max[b0 / kSampleBlock] = mb;
    row_max = mb > row_max ? mb : row_max;
  }
  *has_nan = AnyNaN(a0, a1);
  return row_max;
}

// The first i with x_i == v, or n.
HWY_INLINE size_t FindFirstEqImpl(const float* x, size_t n, float v) {
  const DF d;
  const VF vv = hn::Set(d, v);
  size_t i = 0;
  for (; i + kN <= n; i += kN) {
    const auto m = hn::Eq(hn::LoadU(d, x + i), vv);
    if (!hn::AllFalse(d, m)) return i + static_cast<size_t>(hn::FindFirstTrue(d, m));
  }
  for (; i < n; ++i) {
    if (x[i] == v) return i;
  }
  return n;
}

// Mass and count of {x > hi} and {x >= lo} over the candidate arrays (positions in lanes).
HWY_INLINE PartitionStats PartitionImpl(const float* x, const float* e, size_t n, float hi,
                                        float lo) {
  const DF d;
  const VF vhi = hn::Set(d, hi);
  const VF vlo = hn::Set(d, lo);
  Lanes16 s_hi, s_lo;
  s_hi.Reset();
  s_lo.Reset();
  size_t c_hi = 0, c_lo = 0;
  auto group = [&](const float* xg, const float* eg) HWY_ATTR {
    for (size_t k = 0; k < kU; ++k) {
      const VF v = hn::LoadU(d, xg + k * kN);
      const VF ev = hn::LoadU(d, eg + k * kN);
      const auto m_hi = hn::Gt(v, vhi);
      const auto m_lo = hn::Ge(v, vlo);
      c_hi += hn::CountTrue(d, m_hi);
      c_lo += hn::CountTrue(d, m_lo);
      s_hi.Add(k, hn::IfThenElseZero(m_hi, ev));
      s_lo.Add(k, hn::IfThenElseZero(m_lo, ev));
    }
  };
  size_t i = 0;
  for (; i + kLaneGroup <= n; i += kLaneGroup) group(x + i, e + i);
  if (i < n) {
    HWY_ALIGN float xb[kLaneGroup];
    HWY_ALIGN float eb[kLaneGroup] = {};
    for (size_t j = 0; j < kLaneGroup; ++j) xb[j] = kNaNF;  // fails every comparison
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(eb, e + i, (n - i) * sizeof(float));
    group(xb, eb);
  }
  return PartitionStats{s_hi.Total(), s_lo.Total(), c_hi, c_lo};
}

// Keeps the candidates with lo <= x <= hi, in order: writes their x, e and index (ic null: the
// position itself) to xo, eo, io (room for n + kCompressSlack each); returns how many.
HWY_INLINE size_t CompactImpl(const float* x, const float* e, const int32_t* ic, size_t n,
                              float lo, float hi, float* xo, float* eo, int32_t* io) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const VF vlo = hn::Set(d, lo);
  const VF vhi = hn::Set(d, hi);
  size_t w = 0;
  auto one = [&](VF v, VF ev, hn::Vec<decltype(di)> iv, hn::Mask<DF> valid) HWY_ATTR {
    const auto m = hn::And(valid, hn::And(hn::Ge(v, vlo), hn::Le(v, vhi)));
    if (hn::AllFalse(d, m)) return;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    hn::StoreU(hn::Compress(v, m), d, xo + w);
    hn::StoreU(hn::Compress(ev, m), d, eo + w);
    hn::StoreU(hn::Compress(iv, hn::RebindMask(di, m)), di, io + w);
    w += hn::CountTrue(d, m);
#else  // see AppendIndices
    HWY_ALIGN float xv[kN];
    HWY_ALIGN float evv[kN];
    HWY_ALIGN int32_t ivv[kN];
    hn::Store(v, d, xv);
    hn::Store(ev, d, evv);
    hn::Store(iv, di, ivv);
    for (uint64_t bits = MaskBits(m); bits != 0; bits &= bits - 1) {
      const size_t lane = static_cast<size_t>(__builtin_ctzll(bits));
      xo[w] = xv[lane];
      eo[w] = evv[lane];
      io[w] = ivv[lane];
      ++w;
    }
#endif
  };
  const auto all = hn::FirstN(d, kN);
  const auto iota0 = hn::Iota(di, 0);
  size_t i = 0;
  for (; i + kN <= n; i += kN) {
    const auto iv =
        ic ? hn::LoadU(di, ic + i) : hn::Add(iota0, hn::Set(di, static_cast<int32_t>(i)));
    one(hn::LoadU(d, x + i), hn::LoadU(d, e + i), iv, all);
  }
  if (i < n) {
    HWY_ALIGN float xb[kN] = {};
    HWY_ALIGN float eb[kN] = {};
    HWY_ALIGN int32_t ib[kN] = {};
    std::memcpy(xb, x + i, (n - i) * sizeof(float));
    std::memcpy(eb, e + i, (n - i) * sizeof(float));
    for (size_t j = 0; j < n - i; ++j) ib[j] = ic ? ic[i + j] : static_cast<int32_t>(i + j);
    one(hn::Load(d, xb), hn::Load(d, eb), hn::Load(di, ib), hn::FirstN(d, n - i));
  }
  return w;
}

}  // namespace sampling
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_SAMPLING_SAMPLING_KERNELS_INL_H_
