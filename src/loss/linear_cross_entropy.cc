// SPDX-License-Identifier: Apache-2.0
// Linear + cross-entropy fused over row chunks: each chunk's logits from one matrix product,
// cross_entropy() turning them into the gradient in place, then the two gradient products.
// The [N, V] logits are never held; see docs/fused_linear.md.

#include "logitkit/linear_cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "logitkit/loss.h"
#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/loss/cross_entropy_setup.h"
#include "src/parallel/parallel.h"

#ifdef LOGITKIT_WITH_BLAS
#include <cblas.h>
#endif

namespace logitkit {
namespace {

constexpr char kFn[] = "linear_cross_entropy";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Automatic chunk: about 2^24 floats (64 MiB) of logits, but at least 256 rows: fewer rows make
// the products slower (each chunk reads W twice and reads and writes grad_weight once; at
// N = 4096, D = 2048, V = 128256, 128 rows cost 1.06x the materialised CPU time, 256 rows 0.97x).
constexpr std::size_t kAutoChunkFloats = std::size_t{1} << 24;
constexpr std::size_t kMinAutoRows = 256, kMaxAutoRows = 4096;
// Rows of a bf16 weight converted to f32 at a time.
constexpr std::size_t kWeightBlock = 2048;

// A read-only matrix operand: element (i, k) is p[i * ld + k], or p[k * ld + i] when trans.
struct Operand {
  const float* p;
  std::size_t ld;
  bool trans;
  float at(std::size_t i, std::size_t k) const { return trans ? p[k * ld + i] : p[i * ld + k]; }
};

// C (M x N, ldc) = alpha A B + beta C with A: M x K, B: K x N (beta == 0: C is not read).
void gemm(bool own, int threads, std::size_t M, std::size_t N, std::size_t K, float alpha,
          Operand A, Operand B, float beta, float* C, std::size_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (std::size_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      for (std::size_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
    return;
  }
#ifdef LOGITKIT_WITH_BLAS
  if (!own) {
    // A row-major operand with a single row may have any stride; BLAS wants ld >= its width.
    const std::size_t lda = std::max<std::size_t>(A.ld, A.trans ? M : K);
    const std::size_t ldb = std::max<std::size_t>(B.ld, B.trans ? K : N);
    cblas_sgemm(CblasRowMajor, A.trans ? CblasTrans : CblasNoTrans,
                B.trans ? CblasTrans : CblasNoTrans, static_cast<int>(M), static_cast<int>(N),
                static_cast<int>(K), alpha, A.p, static_cast<int>(lda), B.p,
                static_cast<int>(ldb), beta, C, static_cast<int>(std::max(ldc, N)));
    return;
  }
#else
  (void)own;
#endif
  // The simple product: each output row summed in double in k order (the same bits for every
  // thread count), threaded over output rows.
  auto body = [&](std::size_t i0, std::size_t i1) {
    std::vector<double> acc(N);
    for (std::size_t i = i0; i < i1; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t k = 0; k < K; ++k) {
        const double a = A.at(i, k);
        if (B.trans) {
          for (std::size_t j = 0; j < N; ++j) acc[j] += a * B.p[j * B.ld + k];
        } else {
          const float* b = B.p + k * B.ld;
          for (std::size_t j = 0; j < N; ++j) acc[j] += a * b[j];
        }
      }
      float* c = C + i * ldc;
      for (std::size_t j = 0; j < N; ++j) {
        const double v = static_cast<double>(alpha) * acc[j];
        c[j] = static_cast<float>(beta == 0.0f ? v : v + static_cast<double>(beta) * c[j]);
      }
    }
  };
  const int t = internal::threads_for(threads, M * N * K / 4);
  if (t > 1 && M > 1) {
    internal::parallel_for(M, t, body);
  } else {
    body(0, M);
  }
}

// dst (rows x cols, contiguous) = src converted to f32, threaded over rows.
template <class T>
void to_f32(Rows<const T> src, std::size_t r0, std::size_t rows, float* dst, int threads) {
  const std::size_t cols = src.cols;
  auto body = [&](std::size_t a, std::size_t b) {
    for (std::size_t r = a; r < b; ++r) {
      const T* s = src.row(r0 + r);
      float* d = dst + r * cols;
      for (std::size_t k = 0; k < cols; ++k) {
        if constexpr (std::is_same_v<T, float>) {
          d[k] = s[k];
        } else {
          d[k] = s[k].to_float();
        }
      }
    }
  };
  const int t = internal::threads_for(threads, rows * cols);
  if (t > 1 && rows > 1) {
    internal::parallel_for(rows, t, body);
  } else {
    body(0, rows);
  }
}

// cross_entropy()'s option checks, repeated here so that nothing is written before a throw.
void check_options(const CrossEntropyOptions& o, std::size_t V) {
  if (o.reduction == Reduction::kBatchMean) {
    internal::fail(kFn, "options.ce.reduction kBatchMean is for distillation only");
  }
  internal::check_temperature(kFn, o.temperature, internal::TauRange::kPositive,
                              "options.ce.temperature");
  if (!(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0)) {
    internal::fail(kFn, "options.ce.label_smoothing must be in [0, 1], got " +
                            std::to_string(o.label_smoothing));
  }
  if (o.smoothing == LabelSmoothing::kMegatron && o.label_smoothing > 0 && V < 2) {
    internal::fail(kFn, "options.ce.smoothing kMegatron needs at least 2 classes (weight rows)");
  }
  if (!(o.z_loss >= 0.0) || std::isinf(o.z_loss)) {
    internal::fail(kFn, "options.ce.z_loss must be >= 0 and finite, got " + std::to_string(o.z_loss));
  }
  if (!(o.softcap >= 0.0) || std::isinf(o.softcap)) {
    internal::fail(kFn,
                   "options.ce.softcap must be >= 0 and finite, got " + std::to_string(o.softcap));
  }
  if (!o.weight.empty()) {
    if (o.weight.size() != V) {
      internal::fail(kFn, "options.ce.weight has " + std::to_string(o.weight.size()) +
                              " entries but weight has V = " + std::to_string(V) + " rows");
    }
    for (std::size_t j = 0; j < V; ++j) {
      if (!(o.weight[j] >= 0.0) || std::isinf(o.weight[j])) {
        internal::fail(kFn, "options.ce.weight[" + std::to_string(j) +
                                "] must be finite and >= 0, got " + std::to_string(o.weight[j]));
      }
    }
  }
}

template <class A, class B>
void check_not_input(const char* name, const void* p, Rows<const A> hidden, Rows<const B> weight) {
  if (p != nullptr && (p == static_cast<const void*>(hidden.data) ||
                       p == static_cast<const void*>(weight.data))) {
    internal::fail(kFn, std::string(name) + " must not overlap hidden or weight");
  }
}

// G rows of counted rows for an empty mean: NaN (kNaN) or 0 (kZero), as cross_entropy() gives.
void empty_mean_rows(float* g, std::size_t m, std::size_t cols, std::size_t ld,
                     const std::int64_t* target, std::int64_t ignore_index, bool nan) {
  for (std::size_t i = 0; i < m; ++i) {
    if (target[i] == ignore_index) continue;
    float* gi = g + i * ld;
    for (std::size_t j = 0; j < cols; ++j) {
      gi[j] = nan ? std::numeric_limits<float>::quiet_NaN() : gi[j] * 0.0f;
    }
  }
}

// How run() processes the rows: chunks of n rows, the vocabulary in chunks of cv (cv == V: the
// row mode), G scaled by alpha, the mean's denominator, and what the empty-mean rule writes.
struct Plan {
  std::size_t n, cv;  // row chunk, vocabulary chunk
  float alpha;
  double den;
  bool fill_counted_nan, zero_counted, need_grad;
};

// The vocabulary-chunk mode: for each chunk of n rows, pass 1 over the vocabulary chunks
// (logits of n x cv, shard::cross_entropy_states, merged into the rows' states), then pass 2 over
// them in reverse order (the last chunk's logits are still in the buffer; the others are
// recomputed), the shard finish turning each into G in place, and the two gradient
// products on that chunk. Arguments already validated by run().
template <class TH, class TW>
double run_vocab(Rows<const TH> hidden, Rows<const TW> weight,
                 std::span<const std::int64_t> target, const LinearCrossEntropyOptions& options,
                 const LinearCrossEntropyOutputs& out, const Plan& plan,
                 const CrossEntropyOptions& co) {
  const CrossEntropyOptions& o = options.ce;
  const std::size_t N = hidden.rows, D = hidden.cols, V = weight.rows;
  const std::size_t n = plan.n, cv = plan.cv;
  const bool own = options.own_matmul;
  const int threads = o.threads;
  const bool softcap = o.softcap != 0.0;
  const bool want_gh = out.grad_hidden.data != nullptr;
  const bool want_gw = out.grad_weight.data != nullptr;
  constexpr bool kHiddenF32 = std::is_same_v<TH, float>;
  constexpr bool kWeightF32 = std::is_same_v<TW, float>;

  std::vector<float> logits(n * cv), grad_buf(softcap && plan.need_grad ? n * cv : 0);
  std::vector<float> hbuf(kHiddenF32 ? 0 : n * D);
  const std::size_t wblock = std::min(cv, kWeightBlock);
  std::vector<float> wbuf(kWeightF32 ? 0 : wblock * D);
  std::size_t wbuf_at = V, wbuf_rows = 0;  // rows of W held converted in wbuf
  auto load_w = [&](std::size_t v0, std::size_t rows) {
    if (wbuf_at == v0 && wbuf_rows == rows) return;
    to_f32(weight, v0, rows, wbuf.data(), threads);
    wbuf_at = v0;
    wbuf_rows = rows;
  };
  std::vector<shard::CrossEntropyState> global(n), local(n);
  const std::size_t chunks = (V + cv - 1) / cv;

  double total = 0.0;
  for (std::size_t r0 = 0; r0 < N; r0 += n) {
    const std::size_t m = std::min(n, N - r0);
    const std::span<const std::int64_t> tc = target.subspan(r0, m);
    const std::span<shard::CrossEntropyState> gst(global.data(), m), lst(local.data(), m);
    Operand hc{nullptr, D, false};
    if constexpr (kHiddenF32) {
      hc.p = hidden.row(r0);
      hc.ld = m > 1 ? hidden.row_stride : D;
    } else {
      to_f32(hidden, r0, m, hbuf.data(), threads);
      hc.p = hbuf.data();
    }
    // The logits of vocabulary columns [v0, v0 + vb) into logits (m x vb, contiguous).
    auto chunk_logits = [&](std::size_t v0, std::size_t vb) {
      if constexpr (kWeightF32) {
        gemm(own, threads, m, vb, D, 1.0f, hc,
             Operand{weight.row(v0), vb > 1 ? weight.row_stride : D, true}, 0.0f, logits.data(),
             vb);
      } else {
        for (std::size_t u0 = 0; u0 < vb; u0 += wblock) {
          const std::size_t ub = std::min(wblock, vb - u0);
          load_w(v0 + u0, ub);
          gemm(own, threads, m, ub, D, 1.0f, hc, Operand{wbuf.data(), D, true}, 0.0f,
               logits.data() + u0, vb);
        }
      }
    };
    auto chunk_options = [&](std::size_t v0, std::size_t vb) {
      CrossEntropyOptions c = co;
      if (!o.weight.empty()) c.weight = o.weight.subspan(v0, vb);
      return c;
    };
    // Pass 1: the rows' states, merged over the vocabulary chunks.
    std::fill(gst.begin(), gst.end(), shard::CrossEntropyState{});
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t v0 = c * cv, vb = std::min(cv, V - v0);
      chunk_logits(v0, vb);
      shard::cross_entropy_states(Rows<const float>{logits.data(), m, vb, vb}, tc,
                                  shard::Shard{v0, V}, chunk_options(v0, vb), lst);
      shard::merge_states(gst, std::span<const shard::CrossEntropyState>(lst));
    }
    // Pass 2, last chunk first (its logits are in the buffer): the loss from the merged states,
    // then each chunk's G and its two products.
    float* dh = want_gh ? out.grad_hidden.row(r0) : nullptr;
    const std::size_t lddh = m > 1 ? out.grad_hidden.row_stride : D;
    for (std::size_t c = chunks; c-- > 0;) {
      const std::size_t v0 = c * cv, vb = std::min(cv, V - v0);
      const bool last = c + 1 == chunks;
      if (!last) chunk_logits(v0, vb);
      float* g = softcap ? grad_buf.data() : logits.data();
      LossOutputs<float> lo;
      if (plan.need_grad) lo.grad = Rows<float>{g, m, vb, vb};
      if (last && !out.row_loss.empty()) lo.row_loss = out.row_loss.subspan(r0, m);
      if (last && !out.lse.empty()) lo.lse = out.lse.subspan(r0, m);
      const double s = internal::ce::shard_finish(Rows<const float>{logits.data(), m, vb, vb}, tc,
                                                  shard::Shard{v0, V}, chunk_options(v0, vb),
                                                  std::span<const shard::CrossEntropyState>(gst),
                                                  lo);
      if (last) total += s;
      if (!plan.need_grad) break;
      if (plan.fill_counted_nan || plan.zero_counted) {
        empty_mean_rows(g, m, vb, vb, tc.data(), o.ignore_index, plan.fill_counted_nan);
      }
      if (want_gw) {
        gemm(own, threads, vb, D, m, plan.alpha, Operand{g, vb, true}, hc, 1.0f,
             out.grad_weight.row(v0), vb > 1 ? out.grad_weight.row_stride : D);
      }
      if (want_gh) {
        const float beta = last ? 0.0f : 1.0f;
        if constexpr (kWeightF32) {
          gemm(own, threads, m, D, vb, plan.alpha, Operand{g, vb, false},
               Operand{weight.row(v0), vb > 1 ? weight.row_stride : D, false}, beta, dh, lddh);
        } else {
          for (std::size_t u0 = 0; u0 < vb; u0 += wblock) {
            const std::size_t ub = std::min(wblock, vb - u0);
            load_w(v0 + u0, ub);
            gemm(own, threads, m, D, ub, plan.alpha, Operand{g + u0, vb, false},
                 Operand{wbuf.data(), D, false}, u0 == 0 ? beta : 1.0f, dh, lddh);
          }
        }
      }
    }
  }
  if (o.reduction != Reduction::kMean) return total;
  if (plan.den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return total / plan.den;
}

// Checks every argument before anything is written; returns the mean's denominator (the
// counted rows' class weights) and the number of counted rows.
template <class TH, class TW>
std::pair<double, std::size_t> check_args(Rows<const TH> hidden, Rows<const TW> weight,
                                          std::span<const std::int64_t> target,
                                          const CrossEntropyOptions& o,
                                          const LinearCrossEntropyOutputs& out) {
  internal::check_rows(kFn, "hidden", hidden);
  internal::check_rows(kFn, "weight", weight);
  const std::size_t N = hidden.rows, D = hidden.cols, V = weight.rows;
  if (weight.cols != D) {
    internal::fail(kFn, "weight has D = " + std::to_string(weight.cols) +
                            " columns but hidden has D = " + std::to_string(D));
  }
  if (target.size() != N) {
    internal::fail(kFn, "target has " + std::to_string(target.size()) + " entries but hidden has N = " +
                            std::to_string(N) + " rows");
  }
  check_options(o, V);
  double den = 0.0;
  std::size_t counted = 0;
  for (std::size_t r = 0; r < N; ++r) {
    const std::int64_t t = target[r];
    if (t == o.ignore_index) continue;
    if (t < 0 || static_cast<std::uint64_t>(t) >= V) {
      internal::fail(kFn, "target at row " + std::to_string(r) + " is " + std::to_string(t) +
                              ", outside [0, V = " + std::to_string(V) + ") and not ignore_index (" +
                              std::to_string(o.ignore_index) + ")");
    }
    den += o.weight.empty() ? 1.0 : o.weight[static_cast<std::size_t>(t)];
    ++counted;
  }
  const bool want_gh = out.grad_hidden.data != nullptr;
  const bool want_gw = out.grad_weight.data != nullptr;
  if (want_gh) {
    internal::check_rows(kFn, "grad_hidden", out.grad_hidden);
    internal::check_same_shape(kFn, "hidden", hidden, "grad_hidden", out.grad_hidden);
    check_not_input("grad_hidden", out.grad_hidden.data, hidden, weight);
  }
  if (want_gw) {
    internal::check_rows(kFn, "grad_weight", out.grad_weight);
    internal::check_same_shape(kFn, "weight", weight, "grad_weight", out.grad_weight);
    check_not_input("grad_weight", out.grad_weight.data, hidden, weight);
    if (want_gh && out.grad_weight.data == out.grad_hidden.data && N != 0 && V != 0 && D != 0) {
      internal::fail(kFn, "grad_weight and grad_hidden must not overlap");
    }
  }
  if (!out.row_loss.empty() && out.row_loss.size() != N) {
    internal::fail(kFn, "row_loss has " + std::to_string(out.row_loss.size()) +
                            " entries but hidden has N = " + std::to_string(N) + " rows");
  }
  if (!out.lse.empty() && out.lse.size() != N) {
    internal::fail(kFn, "lse has " + std::to_string(out.lse.size()) + " entries but hidden has N = " +
                            std::to_string(N) + " rows");
  }

  return {den, counted};
}

// The row mode (the whole vocabulary at once): for each chunk of n rows, the logits H_c W^T,
// cross_entropy() on them (G in place, or beside with a soft cap), and the two gradient products.
// Arguments already validated by run().
template <class TH, class TW>
double run_rows(Rows<const TH> hidden, Rows<const TW> weight,
                std::span<const std::int64_t> target, const LinearCrossEntropyOptions& options,
                const LinearCrossEntropyOutputs& out, const Plan& plan,
                const CrossEntropyOptions& co) {
  const CrossEntropyOptions& o = options.ce;
  const std::size_t N = hidden.rows, D = hidden.cols, V = weight.rows;
  const std::size_t n = plan.n;
  const bool own = options.own_matmul;
  const int threads = o.threads;
  const bool softcap = o.softcap != 0.0;
  const bool want_gh = out.grad_hidden.data != nullptr;
  const bool want_gw = out.grad_weight.data != nullptr;
  const bool need_grad = plan.need_grad;
  const float alpha = plan.alpha;
  std::vector<float> logits(n * V), grad_buf(softcap && (want_gh || want_gw) ? n * V : 0);
  // f32 views of the operands: the inputs themselves when f32, converted blocks when bf16.
  constexpr bool kHiddenF32 = std::is_same_v<TH, float>;
  constexpr bool kWeightF32 = std::is_same_v<TW, float>;
  std::vector<float> hbuf(kHiddenF32 ? 0 : n * D);
  const std::size_t wblock = kWeightF32 ? V : std::min(V, kWeightBlock);
  std::vector<float> wbuf(kWeightF32 ? 0 : wblock * D);

  double total = 0.0;
  for (std::size_t r0 = 0; r0 < N; r0 += n) {
    const std::size_t m = std::min(n, N - r0);
    // The chunk's hidden rows as an f32 operand.
    Operand hc{nullptr, D, false};
    if constexpr (kHiddenF32) {
      hc.p = hidden.row(r0);
      hc.ld = m > 1 ? hidden.row_stride : D;
    } else {
      to_f32(hidden, r0, m, hbuf.data(), threads);
      hc.p = hbuf.data();
    }
    // Forward: logits (m x V) = H_c W^T.
    if constexpr (kWeightF32) {
      gemm(own, threads, m, V, D, 1.0f, hc,
           Operand{weight.data, V > 1 ? weight.row_stride : D, true}, 0.0f, logits.data(), V);
    } else {
      for (std::size_t v0 = 0; v0 < V; v0 += wblock) {
        const std::size_t vb = std::min(wblock, V - v0);
        to_f32(weight, v0, vb, wbuf.data(), threads);
        gemm(own, threads, m, vb, D, 1.0f, hc, Operand{wbuf.data(), D, true}, 0.0f,
             logits.data() + v0, V);
      }
    }
    // Cross-entropy of the chunk (sum form); G written in place (or beside, with softcap).
    float* g = softcap ? grad_buf.data() : logits.data();
    LossOutputs<float> lo;
    if (need_grad) lo.grad = Rows<float>{g, m, V, V};
    if (!out.row_loss.empty()) lo.row_loss = out.row_loss.subspan(r0, m);
    if (!out.lse.empty()) lo.lse = out.lse.subspan(r0, m);
    total += cross_entropy(Rows<const float>{logits.data(), m, V, V}, target.subspan(r0, m), co, lo);
    if (!need_grad) continue;
    if (plan.fill_counted_nan || plan.zero_counted) {
      empty_mean_rows(g, m, V, V, target.data() + r0, o.ignore_index, plan.fill_counted_nan);
    }
    // grad_weight (+)= alpha G^T H_c.
    if (want_gw) {
      gemm(own, threads, V, D, m, alpha, Operand{g, V, true}, hc, 1.0f, out.grad_weight.data,
           V > 1 ? out.grad_weight.row_stride : D);
    }
    // grad_hidden rows = alpha G W.
    if (want_gh) {
      float* dh = out.grad_hidden.row(r0);
      const std::size_t lddh = m > 1 ? out.grad_hidden.row_stride : D;
      if constexpr (kWeightF32) {
        gemm(own, threads, m, D, V, alpha, Operand{g, V, false},
             Operand{weight.data, V > 1 ? weight.row_stride : D, false}, 0.0f, dh, lddh);
      } else {
        if (V == 0) gemm(own, threads, m, D, 0, alpha, Operand{g, V, false},
                         Operand{wbuf.data(), D, false}, 0.0f, dh, lddh);
        for (std::size_t v0 = 0; v0 < V; v0 += wblock) {
          const std::size_t vb = std::min(wblock, V - v0);
          to_f32(weight, v0, vb, wbuf.data(), threads);
          gemm(own, threads, m, D, vb, alpha, Operand{g + v0, V, false},
               Operand{wbuf.data(), D, false}, v0 == 0 ? 0.0f : 1.0f, dh, lddh);
        }
      }
    }
  }
  if (o.reduction != Reduction::kMean) return total;
  if (plan.den == 0.0) return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  return total / plan.den;
}

template <class TH, class TW>
double run(Rows<const TH> hidden, Rows<const TW> weight, std::span<const std::int64_t> target,
           const LinearCrossEntropyOptions& options, const LinearCrossEntropyOutputs& out) {
  const CrossEntropyOptions& o = options.ce;
  const auto [den, counted] = check_args(hidden, weight, target, o, out);
  const std::size_t N = hidden.rows, D = hidden.cols, V = weight.rows;
  const bool want_gh = out.grad_hidden.data != nullptr;
  const bool want_gw = out.grad_weight.data != nullptr;

  // ---- set-up ----
  const bool mean = o.reduction == Reduction::kMean;
  // The factor of G relative to the sum's gradient: 1/den for kMean. An empty mean (den == 0)
  // gives what cross_entropy() gives: NaN or 0 in every counted row's gradient.
  float alpha = 1.0f;
  bool fill_counted_nan = false, zero_counted = false;
  if (mean) {
    if (den == 0.0) {
      if (o.empty_mean == EmptyMean::kNaN) {
        fill_counted_nan = counted > 0;
      } else {
        zero_counted = true;
      }
    } else {
      alpha = static_cast<float>(1.0 / den);
    }
  }
  if (want_gw && !options.accumulate_grad_weight) {
    for (std::size_t j = 0; j < V; ++j) {
      std::fill(out.grad_weight.row(j), out.grad_weight.row(j) + D, 0.0f);
    }
  }
  if (N == 0) {
    if (!mean) return 0.0;
    return o.empty_mean == EmptyMean::kNaN ? kNaN : 0.0;
  }

  // The vocabulary chunk: chunk_vocab >= V (or 0) is the row mode.
  const std::size_t cv = options.chunk_vocab == 0 ? V : std::min(options.chunk_vocab, V);
  std::size_t n = options.chunk_rows;
  if (n == 0) {
    n = std::clamp<std::size_t>(kAutoChunkFloats / std::max<std::size_t>(cv, 1), kMinAutoRows,
                                kMaxAutoRows);
  }
  n = std::min(n, N);

  CrossEntropyOptions co = o;
  co.reduction = Reduction::kSum;
  co.empty_mean = EmptyMean::kZero;
  const bool need_grad = want_gh || want_gw;
  const Plan plan{n, cv, alpha, den, fill_counted_nan, zero_counted, need_grad};
  if (cv < V) return run_vocab(hidden, weight, target, options, out, plan, co);
  return run_rows(hidden, weight, target, options, out, plan, co);
}

}  // namespace

double linear_cross_entropy(Rows<const float> hidden, Rows<const float> weight,
                            std::span<const std::int64_t> target,
                            const LinearCrossEntropyOptions& options,
                            const LinearCrossEntropyOutputs& out) {
  return run<float, float>(hidden, weight, target, options, out);
}
double linear_cross_entropy(Rows<const bfloat16> hidden, Rows<const bfloat16> weight,
                            std::span<const std::int64_t> target,
                            const LinearCrossEntropyOptions& options,
                            const LinearCrossEntropyOutputs& out) {
  return run<bfloat16, bfloat16>(hidden, weight, target, options, out);
}
double linear_cross_entropy(Rows<const bfloat16> hidden, Rows<const float> weight,
                            std::span<const std::int64_t> target,
                            const LinearCrossEntropyOptions& options,
                            const LinearCrossEntropyOutputs& out) {
  return run<bfloat16, float>(hidden, weight, target, options, out);
}
double linear_cross_entropy(Rows<const float> hidden, Rows<const bfloat16> weight,
                            std::span<const std::int64_t> target,
                            const LinearCrossEntropyOptions& options,
                            const LinearCrossEntropyOutputs& out) {
  return run<float, bfloat16>(hidden, weight, target, options, out);
}

}  // namespace logitkit
