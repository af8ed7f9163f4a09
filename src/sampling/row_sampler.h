// SPDX-License-Identifier: Apache-2.0
// The fixed-order sampler's row state (RowSampler), shared by its stage files: the driver and the
// public entry points (sampling.cc), the exp passes (row_exp.cc), the top-k / min-p / list
// filters (row_filters.cc), the top-p nucleus (row_top_p.cc) and the draw (row_draw.cc).
#ifndef LOGITKIT_SRC_SAMPLING_ROW_SAMPLER_H_
#define LOGITKIT_SRC_SAMPLING_ROW_SAMPLER_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include "logitkit/sampling.h"
#include "src/internal/check.h"
#include "src/sampling/sampling_kernels.h"
#include "src/sampling/sampler_shared.h"
#include "src/sampling/top_k.h"

namespace logitkit::internal {


constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMaxF = std::numeric_limits<float>::max();
// top-p's slack, kTopPSlack, is sampler_shared.h's.
// The nucleus select sorts its candidates once this few remain.
constexpr std::size_t kNucleusSort = 48;
// A min-p set up to this size is handled as a candidate list, a larger one as a cut of the row.
constexpr std::size_t kListMax = 16384;


// 64-byte aligned storage: whole-vector stores into the row's e never split a cache line.
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t{64}); }
  friend bool operator==(const Aligned64&, const Aligned64&) { return true; }
};

// Per-thread buffers, grown on demand and reused across calls.
struct Scratch {
  std::vector<float> conv;  // bf16 converted to float
  std::vector<float> x;     // effective logits when they differ from the input
  std::vector<float, Aligned64<float>> e;  // exp over the row
  std::vector<double> sums;
  std::vector<float> xc[2], ec[2];
  std::vector<std::int32_t> ic[2];
  std::vector<std::int32_t> idx;
  std::vector<Cand> cand, top;
  std::vector<float> lx, le;
  std::vector<float> bx, be;        // the top-p bracket's candidates
  std::vector<std::int32_t> bi;
  float block_e[kSampleBlock];      // e of the drawn block when the row's e are not stored
  std::vector<float> bmax, cbf;     // the fused pass's block maxima, their scales as float
  std::vector<double> cb;           // ... as double
};

Scratch& scratch();

template <class V>
void grow(V& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

[[noreturn]] inline void fail_at(const char* fn, long row, const std::string& what) {
  internal::fail(fn, row < 0 ? what : "row " + std::to_string(row) + ": " + what);
}

// The kept set as a cut of the row: {x > theta} or {x == theta and index <= last}.
struct Cut {
  float theta;
  std::int64_t last;
  std::size_t count;
  bool reached;  // the target mass was reached inside the candidates (nucleus only)
};

inline bool in_cut(const Cut& c, float x, std::int64_t i) {
  return x > c.theta || (x == c.theta && i <= c.last);
}

class RowSampler {
 public:
  RowSampler(const char* fn, long row, const SamplingParams& p, Scratch& s)
      : fn_(fn), row_(row), p_(p), s_(s), k_(internal::sampling_kernels(internal::kExpPlain)) {}

  // Draws one token (probs non-null: also writes the final distribution).
  SampleResult run(const float* x_in, std::size_t n, std::uint64_t stream, std::uint64_t step,
                   float* probs);

 private:
  void prepare(const float* x_in, std::size_t n);

  void check_max(bool has_nan);

  // The max pass (every path but the fused one).
  void prepare_max();

  // The fused pass for temperature alone and top-p alone: block maxima, e relative to each
  // block's max (stored when top-p or the distribution needs them) and block sums; then the
  // blocks' scales exp((m_b - max) * inv_tau). Returns false (nothing done) on a +inf logit.
  bool fused_pass(bool store);

  // e_i as the draw and the sums see it.
  double e_at(const float* e, std::size_t i) const {
    return fused_ ? static_cast<double>(e[i]) * s_.cb[i / kSampleBlock] : e[i];
  }

  // Fallback from the fused representation to plain e (relative to the row's max).
  void unfuse();

  double log_p(float x, double log_total) const {
    const double z = inv_tau_ == 0.0 ? 0.0 : (static_cast<double>(x) - m_) * inv_tau_;
    return z - log_total;
  }

  // The smallest float v with (v - max)/tau >= log(min_p).
  float min_p_threshold() const;

  // The first min(k, finite entries) entries of the ranking, sorted (top_k.h).
  void top_k(std::size_t k, std::vector<Cand>& out);

  // e for the candidate list s_.cand into s_.le (the same kernel, hence the same bits, as the
  // row pass).
  void list_exp();

  // e over the whole row and its block sums; returns the total.
  double row_exp();

  // The shortest prefix of the ranking, over candidates (x, e, index; ic null: positions) in
  // index order, whose mass reaches t > 0: a mass-weighted quickselect with two pivots taken
  // from a strided sample around the estimated boundary. total_mass only guides the pivots.
  Cut nucleus(const float* x, const float* e, const std::int32_t* ic, std::size_t n,
              double total_mass, double t, double above0 = 0, std::size_t count0 = 0);

  // The top-p cut of the whole row (e stored, total = their sum, target t): a strided sample of
  // the row estimates where the tail mass total - t ends, in eighth-nat buckets of
  // (x - max)/tau; one pass over the row sums the mass above the estimated bracket per block and
  // gathers the bracket's entries; the nucleus select runs on those only. A wrong estimate costs
  // one more pass (the bracket moves to everything above, or below); the result is the same
  // whichever bracket is used. Leaves the kept cut's block sums in s_.sums (sums_ready_).
  Cut nucleus_row(double total, double t);

  // Sorts the candidate list by index and returns the nucleus over it.
  Cut nucleus_of_list(double t);

  void use_list();
  void use_cut(const Cut& c);
  // The top-min(keep, finite) prefix as the kept list.
  void keep_top(std::size_t keep);

  // Runs the filter chain; leaves either a kept list (s_.cand, s_.le) or a cut of the row.
  void select();

  // Block sums of the kept cut (the exp pass's sums when everything is kept); returns the total.
  double cut_sums();

  // Inverse CDF over the kept list, in its order: the first entry whose running sum exceeds target.
  std::size_t draw_list(double target) const;

  // Inverse CDF over the cut: find the block by its sum, then the entry inside it.
  std::size_t draw_cut(double target) const;

  void top_logprobs(double log_total, std::vector<TokenLogprob>& out);

  void write_probs(double total, float* probs) const;

  const char* fn_;
  long row_;
  const SamplingParams& p_;
  Scratch& s_;
  internal::SamplingKernels k_{};
  internal::ExpArgs args_{};
  internal::ExpMode mode_ = internal::kExpPlain;
  bool fused_ = false;      // s_.e and the block sums are relative to the block maxima, scale s_.cb
  bool need_e_ = false;     // sampling_distribution: the e of every kept entry are needed
  bool e_stored_ = false;   // s_.e holds the row's e
  bool sums_ready_ = false; // s_.sums already holds the kept cut's block sums
  const float* x_ = nullptr;
  std::size_t n_ = 0;
  float m_ = 0;
  double inv_tau_ = 1.0;
  bool greedy_ = false;
  bool list_ = false;
  Cut cut_{};
};

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_ROW_SAMPLER_H_
