// SPDX-License-Identifier: Apache-2.0
// Per-target kernels of the contrastive loss: block statistics, block gradients, and the
// library's own matrix-product kernel (used when no BLAS is linked, or to compare with one).

#if defined(LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_INL_H_
#undef LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_INL_H_
#else
#define LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "hwy/highway.h"
#include "src/internal/exp-inl.h"
#include "src/softmax/softmax_kernels-inl.h"

HWY_BEFORE_NAMESPACE();
namespace logitkit {
namespace HWY_NAMESPACE {
namespace contrastive {
namespace hn = hwy::HWY_NAMESPACE;

// exp(min(v, 0)) in the element type (inputs are never NaN here). Float: the 1.5-ULP vector
// exp; double: std::exp per lane (the vector double exp is only accurate to 4e-11, float-grade).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNonPos(D d, V v) {
  V t[1] = {hn::Min(v, hn::Zero(d))};
  if constexpr (std::is_same_v<hn::TFromD<D>, float>) {
    ExpNonPositiveF32<1>(d, t);
    return t[0];
  } else {
    HWY_ALIGN double buf[hn::MaxLanes(d)];
    hn::Store(t[0], d, buf);
    for (size_t k = 0; k < hn::Lanes(d); ++k) buf[k] = std::exp(buf[k]);
    return hn::Load(d, buf);
  }
}

// acc (double lanes) += v (element type lanes).
template <class T>
struct DoubleAcc {
  static constexpr size_t kN = std::is_same_v<T, float> ? kParts : 1;
  using DDv = std::conditional_t<std::is_same_v<T, float>, DD, hn::ScalableTag<double>>;
  hn::Vec<DDv> acc[kN];
  DoubleAcc() {
    for (size_t p = 0; p < kN; ++p) acc[p] = hn::Zero(DDv());
  }
  HWY_INLINE void Add(hn::Vec<hn::ScalableTag<T>> v) {
    if constexpr (std::is_same_v<T, float>) {
      VD parts[kParts];
      Widen(v, parts);
      for (size_t p = 0; p < kParts; ++p) acc[p] = hn::Add(acc[p], parts[p]);
    } else {
      acc[0] = hn::Add(acc[0], v);
    }
  }
  HWY_INLINE double Total() const {
    auto s = acc[0];
    for (size_t p = 1; p < kN; ++p) s = hn::Add(s, acc[p]);
    return hn::GetLane(hn::SumOfLanes(DDv(), s));
  }
};

// Runs body(i, mask-or-all) over [0, n): whole vectors, then one partial vector read from a
// padded copy (pad value `pad`), whose results are kept only in the first n - i lanes.
template <class D, class Body>
HWY_INLINE void ForEachVector(D d, size_t n, Body&& body) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) body(i, N);
  if (i < n) body(i, n - i);
}

// Loads count (<= Lanes) entries of p, the rest `pad`.
template <class D>
HWY_INLINE hn::Vec<D> LoadPart(D d, const hn::TFromD<D>* p, size_t count, hn::TFromD<D> pad) {
  if (count == hn::Lanes(d)) return hn::LoadU(d, p);
  HWY_ALIGN hn::TFromD<D> buf[hn::MaxLanes(d)];
  for (size_t k = 0; k < hn::MaxLanes(d); ++k) buf[k] = k < count ? p[k] : pad;
  return hn::Load(d, buf);
}

template <class D>
HWY_INLINE void StorePart(D d, hn::Vec<D> v, hn::TFromD<D>* p, size_t count) {
  if (count == hn::Lanes(d)) {
    hn::StoreU(v, d, p);
    return;
  }
  HWY_ALIGN hn::TFromD<D> buf[hn::MaxLanes(d)];
  hn::Store(v, d, buf);
  for (size_t k = 0; k < count; ++k) p[k] = buf[k];
}

// Pass 1 over one row s[0, n) of a block: returns the row max, updates col_max[j] =
// max(col_max[j], s[j]) and sets *bad if any entry is not finite.
template <class T>
T BlockMax(const T* HWY_RESTRICT s, size_t n, T* HWY_RESTRICT col_max, bool* bad) {
  const hn::ScalableTag<T> d;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  auto m = hn::Set(d, kNegInf);
  auto finite = hn::IsFinite(hn::Zero(d));
  ForEachVector(d, n, [&](size_t i, size_t count) {
    const auto v = LoadPart(d, s + i, count, T(0));
    finite = hn::And(finite, hn::IsFinite(v));
    const auto vm = count == hn::Lanes(d) ? v : LoadPart(d, s + i, count, kNegInf);
    m = hn::Max(m, vm);
    StorePart(d, hn::Max(LoadPart(d, col_max + i, count, kNegInf), v), col_max + i, count);
  });
  if (!hn::AllTrue(d, finite)) *bad = true;
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

// Pass 2 over one row: returns sum_j exp(s_j - row_max) (in double) and adds
// exp(s_j - col_max[j]) to col_sum[j].
template <class T>
double BlockSum(const T* HWY_RESTRICT s, size_t n, T row_max, const T* HWY_RESTRICT col_max,
                T* HWY_RESTRICT col_sum) {
  const hn::ScalableTag<T> d;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const auto rm = hn::Set(d, row_max);
  DoubleAcc<T> acc;
  ForEachVector(d, n, [&](size_t i, size_t count) {
    const auto v = LoadPart(d, s + i, count, kNegInf);
    acc.Add(ExpNonPos(d, hn::Sub(v, rm)));
    const auto cm = LoadPart(d, col_max + i, count, T(0));
    const auto cs = LoadPart(d, col_sum + i, count, T(0));
    StorePart(d, hn::Add(cs, ExpNonPos(d, hn::Sub(v, cm))), col_sum + i, count);
  });
  return acc.Total();
}

// Gradient of one row in place: s_j <- c (exp(s_j - row_lse) + exp(s_j - col_lse[j])); returns
// sum_j s_j (before) * s_j (after), in double.
template <class T>
double BlockGrad(T* HWY_RESTRICT s, size_t n, T row_lse, const T* HWY_RESTRICT col_lse, T c) {
  const hn::ScalableTag<T> d;
  const auto rl = hn::Set(d, row_lse), vc = hn::Set(d, c);
  DoubleAcc<T> acc;
  ForEachVector(d, n, [&](size_t i, size_t count) {
    const auto v = LoadPart(d, s + i, count, T(0));
    const auto cl = LoadPart(d, col_lse + i, count, T(0));
    auto g = hn::Mul(vc, hn::Add(ExpNonPos(d, hn::Sub(v, rl)), ExpNonPos(d, hn::Sub(v, cl))));
    g = hn::IfThenElseZero(hn::FirstN(d, count), g);
    acc.Add(hn::Mul(g, v));
    StorePart(d, g, s + i, count);
  });
  return acc.Total();
}

// Columns [j0, j1) of C = alpha * A B + beta * C, with A(i, k) = a[i * a_rs + k * a_cs] (M x K),
// B row-major K x N (row stride ldb), C row-major (row stride ldc). beta == 0: C is not read.
// Register tile: 4 rows x 2 vectors; each C entry sums over k in order (the same bits whatever
// the column split).
template <class T>
void Gemm(size_t M, size_t K, T alpha, const T* HWY_RESTRICT a, size_t a_rs, size_t a_cs,
          const T* HWY_RESTRICT b, size_t ldb, T beta, T* HWY_RESTRICT c, size_t ldc, size_t j0,
          size_t j1) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t N = hn::Lanes(d);
  const V va = hn::Set(d, alpha), vb = hn::Set(d, beta);
  auto store = [&](V acc, T* out) {
    V r = hn::Mul(acc, va);
    if (beta != T(0)) r = hn::MulAdd(hn::LoadU(d, out), vb, r);
    hn::StoreU(r, d, out);
  };
  size_t j = j0;
  for (; j + 2 * N <= j1; j += 2 * N) {
    size_t i = 0;
    for (; i + 4 <= M; i += 4) {
      V c0[4], c1[4];
      for (int r = 0; r < 4; ++r) c0[r] = c1[r] = hn::Zero(d);
      const T* ap = a + i * a_rs;
      const T* bp = b + j;
      for (size_t k = 0; k < K; ++k, ap += a_cs, bp += ldb) {
        const V b0 = hn::LoadU(d, bp), b1 = hn::LoadU(d, bp + N);
        for (int r = 0; r < 4; ++r) {
          const V ar = hn::Set(d, ap[r * a_rs]);
          c0[r] = hn::MulAdd(ar, b0, c0[r]);
          c1[r] = hn::MulAdd(ar, b1, c1[r]);
        }
      }
      for (int r = 0; r < 4; ++r) {
        store(c0[r], c + (i + r) * ldc + j);
        store(c1[r], c + (i + r) * ldc + j + N);
      }
    }
    for (; i < M; ++i) {
      V c0 = hn::Zero(d), c1 = hn::Zero(d);
      const T* ap = a + i * a_rs;
      const T* bp = b + j;
      for (size_t k = 0; k < K; ++k, ap += a_cs, bp += ldb) {
        const V ar = hn::Set(d, *ap);
        c0 = hn::MulAdd(ar, hn::LoadU(d, bp), c0);
        c1 = hn::MulAdd(ar, hn::LoadU(d, bp + N), c1);
      }
      store(c0, c + i * ldc + j);
      store(c1, c + i * ldc + j + N);
    }
  }
  for (; j < j1; ++j) {  // column tail: scalar, the same summation order
    for (size_t i = 0; i < M; ++i) {
      T acc = 0;
      for (size_t k = 0; k < K; ++k) acc += a[i * a_rs + k * a_cs] * b[k * ldb + j];
      T* out = c + i * ldc + j;
      *out = beta != T(0) ? alpha * acc + beta * *out : alpha * acc;
    }
  }
}

}  // namespace contrastive
}  // namespace HWY_NAMESPACE
}  // namespace logitkit
HWY_AFTER_NAMESPACE();

#endif  // LOGITKIT_SRC_LOSS_CONTRASTIVE_KERNELS_INL_H_
