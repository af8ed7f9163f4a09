// SPDX-License-Identifier: Apache-2.0
// CLIP-style contrastive loss: blocked similarities (BLAS or the own kernel), online row and
// column log-sum-exp states, and a second blocked pass for the gradients.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "logitkit/loss.h"
#include "src/internal/check.h"
#include "src/loss/contrastive_kernels.h"
#include "src/parallel/parallel.h"

#ifdef LOGITKIT_WITH_BLAS
#include <cblas.h>
#endif

namespace logitkit {
namespace {

constexpr char kFn[] = "contrastive_loss";
constexpr std::size_t kDefaultBlock = 512;
// Column split unit of the own kernel: a multiple of every target's 2-vector tile, so a column is
// always computed by the same code path whatever the thread count.
constexpr std::size_t kColumnUnit = 64;

internal::ContrastiveKernels<float> kernels_of(float) { return internal::contrastive_kernels_f32(); }
internal::ContrastiveKernels<double> kernels_of(double) {
  return internal::contrastive_kernels_f64();
}

// C (M x N, ldc) = alpha op(A) op(B) + beta C through the BLAS.
#ifdef LOGITKIT_WITH_BLAS
void blas_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
               const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
               float* C, std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}
void blas_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
               const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta,
               double* C, std::size_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}
#endif

template <class T>
struct Ctx {
  internal::ContrastiveKernels<T> k;
  bool blas;
  int threads;

  // C = alpha A' B + beta C, A'(i, k) = a[i a_rs + k a_cs] (M x K), B row-major K x N (ldb).
  void own_gemm(std::size_t M, std::size_t N, std::size_t K, T alpha, const T* a, std::size_t a_rs,
                std::size_t a_cs, const T* b, std::size_t ldb, T beta, T* c,
                std::size_t ldc) const {
    const std::size_t units = (N + kColumnUnit - 1) / kColumnUnit;
    const int t = internal::threads_for(threads, M * N * K / 64);
    auto body = [&](std::size_t u0, std::size_t u1) {
      k.gemm(M, K, alpha, a, a_rs, a_cs, b, ldb, beta, c, ldc, u0 * kColumnUnit,
             std::min(N, u1 * kColumnUnit));
    };
    if (t > 1 && units > 1) {
      internal::parallel_for(units, t, body);
    } else {
      body(0, units);
    }
  }
};

// Copies u (B x D, strided) into a contiguous B x D buffer, each row divided by
// max(|u_i|, eps); norms[i] receives |u_i| (in double).
template <class T>
void normalize_rows(Rows<const T> u, double eps, std::vector<T>* a, std::vector<double>* norms) {
  const std::size_t B = u.rows, D = u.cols;
  a->resize(B * D);
  norms->resize(B);
  for (std::size_t i = 0; i < B; ++i) {
    const T* r = u.row(i);
    double s = 0;
    for (std::size_t k = 0; k < D; ++k) s += static_cast<double>(r[k]) * r[k];
    const double n = std::sqrt(s);
    (*norms)[i] = n;
    const double inv = 1.0 / std::max(n, eps);
    for (std::size_t k = 0; k < D; ++k) (*a)[i * D + k] = static_cast<T>(r[k] * inv);
  }
}

// g_i <- (g_i - a_i <a_i, g_i>) / |u_i| where |u_i| > eps, g_i / eps otherwise (in place).
template <class T>
void normalize_backward(Rows<T> g, const std::vector<T>& a, const std::vector<double>& norms,
                        double eps) {
  const std::size_t D = g.cols;
  for (std::size_t i = 0; i < g.rows; ++i) {
    T* r = g.row(i);
    const T* ai = a.data() + i * D;
    if (norms[i] > eps) {
      double dot = 0;
      for (std::size_t k = 0; k < D; ++k) dot += static_cast<double>(ai[k]) * r[k];
      for (std::size_t k = 0; k < D; ++k) r[k] = static_cast<T>((r[k] - ai[k] * dot) / norms[i]);
    } else {
      for (std::size_t k = 0; k < D; ++k) r[k] = static_cast<T>(r[k] / eps);
    }
  }
}

template <class T>
bool all_finite(Rows<const T> x) {
  for (std::size_t i = 0; i < x.rows; ++i) {
    const T* r = x.row(i);
    for (std::size_t k = 0; k < x.cols; ++k) {
      if (!std::isfinite(r[k])) return false;
    }
  }
  return true;
}

template <class T>
void fill_nan(Rows<T> g) {
  if (g.data == nullptr) return;
  for (std::size_t i = 0; i < g.rows; ++i) {
    std::fill(g.row(i), g.row(i) + g.cols, std::numeric_limits<T>::quiet_NaN());
  }
}

template <class T>
void check_args(Rows<const T> image, Rows<const T> text, double t, const ContrastiveOptions& o,
                const ContrastiveOutputs<T>& out) {
  if (image.rows == 0 || image.cols == 0) {
    internal::fail(kFn, "image must have B >= 1 rows and D >= 1 columns, got [" +
                            std::to_string(image.rows) + ", " + std::to_string(image.cols) + "]");
  }
  if (image.data == nullptr) internal::fail(kFn, "image.data is null");
  if (text.data == nullptr) internal::fail(kFn, "text.data is null");
  internal::check_rows(kFn, "image", image);
  internal::check_rows(kFn, "text", text);
  if (text.rows != image.rows) {
    internal::fail(kFn, "text has B = " + std::to_string(text.rows) + " rows but image has " +
                            std::to_string(image.rows));
  }
  if (text.cols != image.cols) {
    internal::fail(kFn, "text has D = " + std::to_string(text.cols) + " columns but image has " +
                            std::to_string(image.cols));
  }
  if (out.grad_image.data != nullptr) {
    internal::check_rows(kFn, "grad_image", out.grad_image);
    internal::check_same_shape(kFn, "image", image, "grad_image", out.grad_image);
  }
  if (out.grad_text.data != nullptr) {
    internal::check_rows(kFn, "grad_text", out.grad_text);
    internal::check_same_shape(kFn, "text", text, "grad_text", out.grad_text);
  }
  if (std::isnan(t)) internal::fail(kFn, "log_scale is NaN");
  if (!(o.max_scale > 0) || !std::isfinite(o.max_scale)) {
    internal::fail(kFn, "max_scale must be finite and > 0, got " + std::to_string(o.max_scale));
  }
  if (!(o.normalize_eps > 0) || !std::isfinite(o.normalize_eps)) {
    internal::fail(kFn,
                   "normalize_eps must be finite and > 0, got " + std::to_string(o.normalize_eps));
  }
}

// The similarity blocks of one call: s (h x B) = scale a[r0 : r0 + h] b^T for the rows
// [r0, r0 + h) of a block, a and b the (normalised) embeddings as row-major views, through the
// BLAS or the own kernel (which reads b^T, D x B, row-major).
template <class T>
struct Similarities {
  const Ctx<T>& ctx;
  std::size_t B, D, block;
  T scale;
  const T* a;
  std::size_t lda;
  const T* b;
  std::size_t ldb;
  std::vector<T> bt;
  std::vector<T> s;

  Similarities(const Ctx<T>& ctx_, std::size_t B_, std::size_t D_, std::size_t block_, T scale_,
               const T* a_, std::size_t lda_, const T* b_, std::size_t ldb_)
      : ctx(ctx_), B(B_), D(D_), block(block_), scale(scale_), a(a_), lda(lda_), b(b_),
        ldb(ldb_), s(block_ * B_) {
    if (!ctx.blas) {
      bt.resize(D * B);
      for (std::size_t j = 0; j < B; ++j) {
        for (std::size_t k = 0; k < D; ++k) bt[k * B + j] = b[j * ldb + k];
      }
    }
  }

  void compute(std::size_t r0, std::size_t h) {
#ifdef LOGITKIT_WITH_BLAS
    if (ctx.blas) {
      blas_gemm(false, true, h, B, D, scale, a + r0 * lda, lda, b, ldb, T(0), s.data(), B);
      return;
    }
#endif
    ctx.own_gemm(h, B, D, scale, a + r0 * lda, lda, 1, bt.data(), B, T(0), s.data(), B);
  }
};

// The forward pass's results: the loss and every row's and column's log-sum-exp.
template <class T>
struct Forward {
  double loss = 0;
  std::vector<double> row_lse;
  std::vector<T> col_lse;
};

// Forward: row states per block, column states merged online; c = 1 / (2B). False when a
// similarity is not finite.
template <class T>
bool forward(Similarities<T>& sim, double c, Forward<T>* f) {
  const Ctx<T>& ctx = sim.ctx;
  const std::size_t B = sim.B, block = sim.block;
  std::vector<T>& s = sim.s;
  std::vector<double> diag(B), col_m(B, -std::numeric_limits<double>::infinity()), col_z(B, 0.0);
  std::vector<T> cmax(B), csum(B), rmax(block);
  f->row_lse.assign(B, 0.0);
  double row_terms = 0;
  bool bad = false;
  for (std::size_t r0 = 0; r0 < B; r0 += block) {
    const std::size_t h = std::min(block, B - r0);
    sim.compute(r0, h);
    std::fill(cmax.begin(), cmax.end(), -std::numeric_limits<T>::infinity());
    std::fill(csum.begin(), csum.end(), T(0));
    for (std::size_t i = 0; i < h; ++i) rmax[i] = ctx.k.block_max(&s[i * B], B, cmax.data(), &bad);
    if (bad) return false;
    for (std::size_t i = 0; i < h; ++i) {
      const double z = ctx.k.block_sum(&s[i * B], B, rmax[i], cmax.data(), csum.data());
      const double lz = std::log(z);
      const double sii = s[i * B + r0 + i];
      diag[r0 + i] = sii;
      f->row_lse[r0 + i] = rmax[i] + lz;
      row_terms += (rmax[i] - sii) + lz;
    }
    for (std::size_t j = 0; j < B; ++j) {
      const double m = cmax[j];
      if (m > col_m[j]) {
        col_z[j] = col_z[j] * std::exp(col_m[j] - m) + csum[j];
        col_m[j] = m;
      } else {
        col_z[j] += csum[j] * std::exp(m - col_m[j]);
      }
    }
  }
  double col_terms = 0;
  f->col_lse.assign(B, T(0));
  for (std::size_t j = 0; j < B; ++j) {
    const double lz = std::log(col_z[j]);
    col_terms += (col_m[j] - diag[j]) + lz;
    f->col_lse[j] = static_cast<T>(col_m[j] + lz);
  }
  f->loss = (row_terms + col_terms) * c;
  return true;
}

// Backward: G = c (P + Q) - 2c I per block; gi = scale G b, gt = scale G^T a (each when its data
// is non-null); returns d loss / d log(scale), before the clamp.
template <class T>
double backward(Similarities<T>& sim, const Forward<T>& f, double c, int threads, Rows<T> gi,
                Rows<T> gt) {
  const Ctx<T>& ctx = sim.ctx;
  const std::size_t B = sim.B, D = sim.D, block = sim.block;
  std::vector<T>& s = sim.s;
  std::vector<double> dts(B);
  for (std::size_t r0 = 0; r0 < B; r0 += block) {
    const std::size_t h = std::min(block, B - r0);
    sim.compute(r0, h);
    auto rows = [&](std::size_t i0, std::size_t i1) {
      for (std::size_t i = i0; i < i1; ++i) {
        T* si = &s[i * B];
        const double sii = si[r0 + i];
        dts[r0 + i] = ctx.k.block_grad(si, B, static_cast<T>(f.row_lse[r0 + i]),
                                       f.col_lse.data(), static_cast<T>(c)) -
                      2.0 * c * sii;
        si[r0 + i] = static_cast<T>(si[r0 + i] - 2.0 * c);
      }
    };
    const int th = internal::threads_for(threads, h * B);
    if (th > 1) {
      internal::parallel_for(h, th, rows);
    } else {
      rows(0, h);
    }
    if (gi.data != nullptr) {
      T* dst = gi.data + r0 * gi.row_stride;
#ifdef LOGITKIT_WITH_BLAS
      if (ctx.blas) {
        blas_gemm(false, false, h, D, B, sim.scale, s.data(), B, sim.b, sim.ldb, T(0), dst,
                  gi.row_stride);
      }
#endif
      if (!ctx.blas) {
        ctx.own_gemm(h, D, B, sim.scale, s.data(), B, 1, sim.b, sim.ldb, T(0), dst, gi.row_stride);
      }
    }
    if (gt.data != nullptr) {
      const T beta = r0 == 0 ? T(0) : T(1);
      const T* ar = sim.a + r0 * sim.lda;
#ifdef LOGITKIT_WITH_BLAS
      if (ctx.blas) {
        blas_gemm(true, false, B, D, h, sim.scale, s.data(), B, ar, sim.lda, beta, gt.data,
                  gt.row_stride);
      }
#endif
      if (!ctx.blas) {
        ctx.own_gemm(B, D, h, sim.scale, s.data(), 1, B, ar, sim.lda, beta, gt.data,
                     gt.row_stride);
      }
    }
  }
  double sum = 0;
  for (double v : dts) sum += v;
  return sum;
}

template <class T>
double contrastive_impl(Rows<const T> image, Rows<const T> text, double t,
                        const ContrastiveOptions& o, const ContrastiveOutputs<T>& out) {
  check_args(image, text, t, o, out);
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const std::size_t B = image.rows, D = image.cols;
  const bool want_gi = out.grad_image.data != nullptr, want_gt = out.grad_text.data != nullptr;
  const bool want_dt = out.grad_log_scale != nullptr;
  auto fail_nan = [&]() {
    fill_nan(out.grad_image);
    fill_nan(out.grad_text);
    if (want_dt) *out.grad_log_scale = kNaN;
    return kNaN;
  };
  if (!all_finite(image) || !all_finite(text)) return fail_nan();

  Ctx<T> ctx{kernels_of(T()), false, o.threads};
#ifdef LOGITKIT_WITH_BLAS
  ctx.blas = !o.own_matmul;
#endif
  const double e = std::exp(t);
  const bool clamped = e > o.max_scale;
  const T scale = static_cast<T>(clamped ? o.max_scale : e);
  const double c = 1.0 / (2.0 * static_cast<double>(B));

  // a, b: the (normalised) embeddings as row-major views.
  std::vector<T> an, bn;
  std::vector<double> na, nb;
  const T* a = image.data;
  const T* b = text.data;
  std::size_t lda = image.row_stride, ldb = text.row_stride;
  if (o.normalize) {
    normalize_rows(image, o.normalize_eps, &an, &na);
    normalize_rows(text, o.normalize_eps, &bn, &nb);
    a = an.data();
    b = bn.data();
    lda = ldb = D;
  }
  if (B == 1) lda = ldb = std::max<std::size_t>(D, 1);
  const std::size_t block = std::min(B, o.block ? o.block : kDefaultBlock);
  Similarities<T> sim(ctx, B, D, block, scale, a, lda, b, ldb);
  Forward<T> f;
  if (!forward(sim, c, &f)) return fail_nan();
  if (!want_gi && !want_gt && !want_dt) return f.loss;

  Rows<T> gi = out.grad_image, gt = out.grad_text;
  if (B == 1) {  // a single row may have any stride; the BLAS wants at least D
    gi.row_stride = std::max(gi.row_stride, D);
    gt.row_stride = std::max(gt.row_stride, D);
  }
  const double dt = backward(sim, f, c, o.threads, gi, gt);
  if (o.normalize) {
    if (want_gi) normalize_backward(gi, an, na, o.normalize_eps);
    if (want_gt) normalize_backward(gt, bn, nb, o.normalize_eps);
  }
  if (want_dt) *out.grad_log_scale = clamped ? 0.0 : dt;
  return f.loss;
}

}  // namespace

double contrastive_loss(Rows<const float> image, Rows<const float> text, double log_scale,
                        const ContrastiveOptions& options, const ContrastiveOutputs<float>& out) {
  return contrastive_impl<float>(image, text, log_scale, options, out);
}

double contrastive_loss(Rows<const double> image, Rows<const double> text, double log_scale,
                        const ContrastiveOptions& options, const ContrastiveOutputs<double>& out) {
  return contrastive_impl<double>(image, text, log_scale, options, out);
}

}  // namespace logitkit
