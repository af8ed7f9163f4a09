// SPDX-License-Identifier: Apache-2.0
// The sampler's driver: validation, effective logits, the filter chain, and the inverse-CDF draw.
// All passes over the vocabulary run in the per-target kernels (sampling_kernels.h); the driver
// only handles candidate lists and block sums, in a fixed order, so tokens are reproducible.

#include <algorithm>
#include <functional>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "logitkit/sampling.h"
#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/parallel/parallel.h"
#include "src/sampling/sampling_kernels.h"
#include "src/sampling/top_k.h"
#include "src/softmax/kernels.h"

namespace logitkit {
namespace {

using internal::kCompressSlack;
using internal::kSampleBlock;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMaxF = std::numeric_limits<float>::max();
// top-p keeps the shortest prefix with mass >= (top_p - kTopPSlack) * total: a prefix whose exact
// mass equals top_p is not extended by one token because of rounding in the logits or the sums.
constexpr double kTopPSlack = 1e-6;
// The nucleus select sorts its candidates once this few remain.
constexpr std::size_t kNucleusSort = 48;
// A min-p set up to this size is handled as a candidate list, a larger one as a cut of the row.
constexpr std::size_t kListMax = 16384;

using internal::before;
using internal::Cand;

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

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

template <class V>
void grow(V& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

[[noreturn]] void fail_at(const char* fn, long row, const std::string& what) {
  internal::fail(fn, row < 0 ? what : "row " + std::to_string(row) + ": " + what);
}

void check_params(const char* fn, long row, const SamplingParams& p) {
  const std::string problem = shard::sampling_params_problem(p);
  if (!problem.empty()) fail_at(fn, row, problem);
}

// Applies logit bias and penalties (in double, rounded once); returns the effective logits.
const float* effective_logits(const char* fn, long row, const float* x, std::size_t n,
                              const SamplingParams& p, Scratch& s) {
  const bool penalties = !p.history.empty() && (p.repetition_penalty != 1.0 ||
                                                p.presence_penalty != 0.0 ||
                                                p.frequency_penalty != 0.0);
  if (!penalties && p.logit_bias.empty()) return x;
  std::vector<TokenBias> bias(p.logit_bias.begin(), p.logit_bias.end());
  for (std::size_t j = 0; j < bias.size(); ++j) {
    if (bias[j].token < 0 || static_cast<std::size_t>(bias[j].token) >= n) {
      fail_at(fn, row, "params.logit_bias[" + std::to_string(j) + "].token (" +
                           std::to_string(bias[j].token) + ") is outside [0, " +
                           std::to_string(n) + ")");
    }
    if (std::isnan(bias[j].bias)) {
      fail_at(fn, row, "params.logit_bias[" + std::to_string(j) + "].bias is NaN");
    }
  }
  std::vector<std::int32_t> hist;
  if (penalties) {
    hist.assign(p.history.begin(), p.history.end());
    for (std::size_t j = 0; j < hist.size(); ++j) {
      if (hist[j] < 0 || static_cast<std::size_t>(hist[j]) >= n) {
        fail_at(fn, row, "params.history[" + std::to_string(j) + "] (" +
                             std::to_string(hist[j]) + ") is outside [0, " + std::to_string(n) +
                             ")");
      }
    }
    std::sort(hist.begin(), hist.end());
  }
  std::stable_sort(bias.begin(), bias.end(),
                   [](const TokenBias& a, const TokenBias& b) { return a.token < b.token; });
  grow(s.x, n);
  std::copy(x, x + n, s.x.begin());
  std::size_t bi = 0, hi = 0;
  while (bi < bias.size() || hi < hist.size()) {
    const std::int32_t t = std::min(bi < bias.size() ? bias[bi].token : INT32_MAX,
                                    hi < hist.size() ? hist[hi] : INT32_MAX);
    double v = x[t];
    for (; bi < bias.size() && bias[bi].token == t; ++bi) v += bias[bi].bias;
    std::size_t count = 0;
    for (; hi < hist.size() && hist[hi] == t; ++hi) ++count;
    if (count > 0) {
      if (p.repetition_penalty != 1.0) {
        v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      }
      v -= p.presence_penalty + p.frequency_penalty * static_cast<double>(count);
    }
    if (std::isnan(v) && !std::isnan(x[t])) {
      fail_at(fn, row, "the effective logit of token " + std::to_string(t) +
                           " is NaN (logits[" + std::to_string(t) +
                           "] plus params.logit_bias is -inf + inf)");
    }
    s.x[t] = static_cast<float>(v);
  }
  return s.x.data();
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

  SampleResult run(const float* x_in, std::size_t n, std::uint64_t stream, std::uint64_t step,
                   float* probs) {
    prepare(x_in, n);
    need_e_ = probs != nullptr;
    const bool k_on = p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < n_;
    const bool fusable = !greedy_ && mode_ != internal::kExpDouble && !k_on && p_.min_p <= 0.0;
    if (!fusable || !fused_pass(p_.top_p < 1.0 || need_e_)) prepare_max();
    SampleResult r{};
    if (greedy_) {
      std::size_t b = 0;
      while (!(s_.bmax[b] == m_)) ++b;
      const std::size_t begin = b * kSampleBlock;
      const std::size_t tok =
          begin + k_.find_first_eq(x_ + begin, std::min(kSampleBlock, n_ - begin), m_);
      r.token = static_cast<std::int32_t>(tok);
      r.logprob = 0.0f;
      if (p_.top_logprobs > 0) r.top.push_back({r.token, 0.0f});
      if (probs) {
        std::fill(probs, probs + n_, 0.0f);
        probs[tok] = 1.0f;
      }
      return r;
    }
    select();
    const double u = philox_uniform(p_.seed, stream, step);
    std::size_t tok;
    double total;
    if (list_) {
      total = 0;
      for (float v : s_.le) total += v;
      tok = draw_list(u * total);
    } else {
      total = cut_sums();
      tok = draw_cut(u * total);
    }
    const double log_total = std::log(total);
    r.token = static_cast<std::int32_t>(tok);
    r.logprob = static_cast<float>(log_p(x_[tok], log_total));
    if (p_.top_logprobs > 0) top_logprobs(log_total, r.top);
    if (probs) write_probs(total, probs);
    return r;
  }

 private:
  void prepare(const float* x_in, std::size_t n) {
    if (n == 0) fail_at(fn_, row_, "logits is empty");
    if (n > static_cast<std::size_t>(INT32_MAX)) {
      fail_at(fn_, row_, "logits has more than 2^31 - 1 entries");
    }
    check_params(fn_, row_, p_);
    n_ = n;
    x_ = effective_logits(fn_, row_, x_in, n, p_, s_);
    const double tau = p_.temperature;
    inv_tau_ = std::isinf(tau) ? 0.0 : 1.0 / tau;
    greedy_ = tau == 0.0 || std::isinf(inv_tau_) || p_.top_p == 0.0 || p_.top_k == 1;
    // The float exp for every tau in [1e-30, 1e30]: there (x - m) * itf cannot overflow to a
    // wrong 0 (|x - m| <= 2 FLT_MAX) nor 1/tau overflow a float; the double exp elsewhere.
    const bool float_ok = inv_tau_ >= 1e-30 && inv_tau_ <= 1e30;
    const internal::ExpMode mode = !float_ok ? internal::kExpDouble
                                   : p_.precision == Precision::kAccurate ? internal::kExpComp
                                                                          : internal::kExpPlain;
    if (mode != internal::kExpPlain) k_ = internal::sampling_kernels(mode);
    mode_ = mode;
    // c = log2(e) / tau as a float pair (the product rounded in double: 2^-53, far below float).
    const double c = 1.4426950408889634 * inv_tau_;
    args_.c_hi = float_ok ? static_cast<float>(c) : 0.0f;
    args_.c_lo = float_ok ? static_cast<float>(c - static_cast<double>(args_.c_hi)) : 0.0f;
    args_.inv_tau = inv_tau_;
  }

  void check_max(bool has_nan) {
    if (has_nan) {
      fail_at(fn_, row_, "logits[" + std::to_string(internal::find_nan(x_, n_)) + "] is NaN");
    }
    if (m_ == -kInf) {
      fail_at(fn_, row_,
              "every logit is -inf (after logit_bias and penalties): there is nothing to sample");
    }
  }

  // The max pass (every path but the fused one).
  void prepare_max() {
    // Per 1024-entry block (the same pass): greedy then searches one block for the first max.
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    grow(s_.bmax, blocks);
    bool has_nan = false;
    m_ = k_.max(x_, n_, s_.bmax.data(), &has_nan);
    check_max(has_nan);
    if (m_ == kInf) {  // the limit: only the +inf entries remain, with equal weight
      grow(s_.x, n_);
      for (std::size_t i = 0; i < n_; ++i) s_.x[i] = x_[i] == kInf ? 0.0f : -kInf;
      x_ = s_.x.data();
      m_ = 0.0f;
      for (std::size_t b = 0; b < blocks; ++b) s_.bmax[b] = s_.bmax[b] == kInf ? 0.0f : -kInf;
    }
    args_.m = m_;
  }

  // The fused pass for temperature alone and top-p alone: block maxima, e relative to each
  // block's max (stored when top-p or the distribution needs them) and block sums; then the
  // blocks' scales exp((m_b - max) * inv_tau). Returns false (nothing done) on a +inf logit.
  bool fused_pass(bool store) {
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    grow(s_.sums, blocks);
    grow(s_.bmax, blocks);
    grow(s_.cbf, blocks);
    grow(s_.cb, blocks);
    if (store) grow(s_.e, n_);
    bool has_nan = false;
    k_.exp_fused(x_, n_, args_, store ? s_.e.data() : nullptr, s_.sums.data(), s_.bmax.data(),
                 &has_nan);
    m_ = -kInf;
    for (std::size_t b = 0; b < blocks; ++b) m_ = std::max(m_, s_.bmax[b]);
    if (has_nan) check_max(true);
    if (m_ == kInf) return false;
    check_max(false);
    args_.m = m_;
    k_.exp_blocks(s_.bmax.data(), blocks, args_, s_.cbf.data(), nullptr);
    for (std::size_t b = 0; b < blocks; ++b) {
      s_.cb[b] = s_.cbf[b];
      s_.sums[b] *= s_.cb[b];
    }
    fused_ = true;
    e_stored_ = store;
    return true;
  }

  // e_i as the draw and the sums see it.
  double e_at(const float* e, std::size_t i) const {
    return fused_ ? static_cast<double>(e[i]) * s_.cb[i / kSampleBlock] : e[i];
  }

  // Fallback from the fused representation to plain e (relative to the row's max).
  void unfuse() {
    if (!fused_) return;
    for (std::size_t i = 0; i < n_; ++i) s_.e[i] = static_cast<float>(e_at(s_.e.data(), i));
    fused_ = false;
  }

  double log_p(float x, double log_total) const {
    const double z = inv_tau_ == 0.0 ? 0.0 : (static_cast<double>(x) - m_) * inv_tau_;
    return z - log_total;
  }

  // The smallest float v with (v - max)/tau >= log(min_p).
  float min_p_threshold() const {
    if (inv_tau_ == 0.0) return -kMaxF;
    const double lg = std::log(p_.min_p);
    auto ok = [&](float v) { return (static_cast<double>(v) - m_) * inv_tau_ >= lg; };
    const double guess = m_ + lg / inv_tau_;
    float t = guess < -kMaxF ? -kMaxF : static_cast<float>(guess);
    while (!ok(t)) t = std::nextafter(t, kInf);
    while (t > -kMaxF && ok(std::nextafter(t, -kInf))) t = std::nextafter(t, -kInf);
    return t;
  }

  // The first min(k, finite entries) entries of the ranking, sorted (top_k.h).
  void top_k(std::size_t k, std::vector<Cand>& out) {
    internal::top_k_filter(k_, x_, n_, k, out, s_.idx);
  }

  // e for the candidate list s_.cand into s_.le (the same kernel, hence the same bits, as the
  // row pass).
  void list_exp() {
    const std::size_t L = s_.cand.size();
    s_.lx.resize(L);
    s_.le.resize(L);
    for (std::size_t j = 0; j < L; ++j) s_.lx[j] = s_.cand[j].x;
    if (L) k_.exp_blocks(s_.lx.data(), L, args_, s_.le.data(), nullptr);
  }

  // e over the whole row and its block sums; returns the total.
  double row_exp() {
    grow(s_.e, n_);
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    grow(s_.sums, blocks);
    k_.exp_blocks(x_, n_, args_, s_.e.data(), s_.sums.data());
    e_stored_ = true;
    double t = 0;
    for (std::size_t b = 0; b < blocks; ++b) t += s_.sums[b];
    return t;
  }

  // The shortest prefix of the ranking, over candidates (x, e, index; ic null: positions) in
  // index order, whose mass reaches t > 0: a mass-weighted quickselect with two pivots taken
  // from a strided sample around the estimated boundary. total_mass only guides the pivots.
  Cut nucleus(const float* x, const float* e, const std::int32_t* ic, std::size_t n,
              double total_mass, double t, double above0 = 0, std::size_t count0 = 0) {
    const std::size_t cap = n + kCompressSlack;
    for (int b = 0; b < 2; ++b) {
      grow(s_.xc[b], cap);
      grow(s_.ec[b], cap);
      grow(s_.ic[b], cap);
    }
    double above = above0;
    std::size_t count_above = count0;
    double mass = total_mass;
    int buf = 0;
    bool narrow = false;
    auto index = [&](std::size_t j) -> std::int64_t { return ic ? ic[j] : std::int64_t(j); };
    for (;;) {
      if (n <= kNucleusSort) {
        struct CE {
          float x;
          float e;
          std::int64_t i;
        };
        CE v[kNucleusSort];
        for (std::size_t j = 0; j < n; ++j) v[j] = {x[j], e[j], index(j)};
        std::sort(v, v + n, [](const CE& a, const CE& b) {
          return a.x > b.x || (a.x == b.x && a.i < b.i);
        });
        double cum = above;
        for (std::size_t j = 0; j < n; ++j) {
          cum += v[j].e;
          if (cum >= t) return Cut{v[j].x, v[j].i, count_above + j + 1, true};
        }
        if (n == 0) return Cut{-kInf, -1, count_above, false};
        return Cut{v[n - 1].x, v[n - 1].i, count_above + n, false};
      }
      constexpr std::size_t kS = 64, kMargin = 3;
      Cand smp[kS];
      double smp_e[kS];
      for (std::size_t j = 0; j < kS; ++j) {
        const std::size_t at = (2 * j + 1) * n / (2 * kS);
        smp[j] = {x[at], static_cast<std::int32_t>(at)};
      }
      std::sort(smp, smp + kS, before);
      double smp_total = 0;
      for (std::size_t j = 0; j < kS; ++j) smp_total += smp_e[j] = e[smp[j].i];
      const double frac = mass > 0 ? std::min(1.0, (t - above) / mass) : 1.0;
      std::size_t pos = 0;
      for (double cum = 0; pos + 1 < kS; ++pos) {
        cum += smp_e[pos];
        if (cum >= frac * smp_total) break;
      }
      float hi = smp[pos > kMargin ? pos - kMargin : 0].x;
      float lo = smp[std::min(pos + kMargin, kS - 1)].x;
      if (narrow) hi = lo = smp[pos].x;
      narrow = false;
      const internal::PartitionStats ps = k_.partition(x, e, n, hi, lo);
      float keep_lo, keep_hi;
      bool ties = false;
      if (above + ps.mass_gt_hi >= t) {
        keep_lo = std::nextafter(hi, kInf);
        keep_hi = kMaxF;
        mass = ps.mass_gt_hi;
      } else if (above + ps.mass_ge_lo >= t) {
        above += ps.mass_gt_hi;
        count_above += ps.count_gt_hi;
        keep_lo = lo;
        keep_hi = hi;
        mass = ps.mass_ge_lo - ps.mass_gt_hi;
        ties = lo == hi;
      } else {
        above += ps.mass_ge_lo;
        count_above += ps.count_ge_lo;
        if (ps.count_ge_lo == n) {  // the sums fell short of t: keep everything
          return Cut{lo, INT32_MAX, count_above, false};
        }
        keep_lo = -kMaxF;
        keep_hi = std::nextafter(lo, -kInf);
        mass = std::max(mass - ps.mass_ge_lo, 0.0);
      }
      float* xo = s_.xc[buf].data();
      float* eo = s_.ec[buf].data();
      std::int32_t* io = s_.ic[buf].data();
      const std::size_t kept = k_.compact(x, e, ic, n, keep_lo, keep_hi, xo, eo, io);
      narrow = kept == n && !ties;  // no progress (a bracket holding everything): one pivot
      n = kept;
      x = xo;
      e = eo;
      ic = io;
      buf ^= 1;
      if (ties) {  // every candidate is tied at hi: take them in index order
        double cum = above;
        for (std::size_t j = 0; j < n; ++j) {
          cum += e[j];
          if (cum >= t) return Cut{hi, ic[j], count_above + j + 1, true};
        }
        return Cut{hi, INT32_MAX, count_above + n, false};
      }
    }
  }

  // The top-p cut of the whole row (e stored, total = their sum, target t): a strided sample of
  // the row estimates where the tail mass total - t ends, in eighth-nat buckets of
  // (x - max)/tau; one pass over the row sums the mass above the estimated bracket per block and
  // gathers the bracket's entries; the nucleus select runs on those only. A wrong estimate costs
  // one more pass (the bracket moves to everything above, or below); the result is the same
  // whichever bracket is used. Leaves the kept cut's block sums in s_.sums (sums_ready_).
  Cut nucleus_row(double total, double t) {
    if (n_ < 8192 || inv_tau_ == 0.0) {
      unfuse();
      sums_ready_ = false;
      return nucleus(x_, s_.e.data(), nullptr, n_, total, t);
    }
    constexpr std::size_t kS = 512, kBuckets = 256;
    constexpr double kPerNat = 8;  // buckets per nat of (max - x)/tau
    double hist[kBuckets] = {};
    for (std::size_t j = 0; j < kS; ++j) {
      const std::size_t at = (2 * j + 1) * n_ / (2 * kS);
      const double ei = e_at(s_.e.data(), at);
      if (ei == 0.0) continue;
      const double tq = (static_cast<double>(m_) - x_[at]) * inv_tau_ * kPerNat;  // >= 0
      const std::size_t b = tq >= kBuckets - 1 ? kBuckets - 1 : static_cast<std::size_t>(tq);
      hist[b] += ei;
    }
    const double scale = static_cast<double>(n_) / kS;
    const double outside = total - t;
    std::size_t b_star = 0;
    double cum = 0;
    for (std::size_t b = kBuckets; b-- > 0;) {
      cum += hist[b] * scale;
      if (cum >= outside) {
        b_star = b;
        break;
      }
    }
    // The bracket: buckets b_star - 1 .. b_star + 1 of (max - x)/tau.
    const double tau = 1.0 / inv_tau_;
    float hi = b_star <= 1 ? kInf : static_cast<float>(m_ - (b_star - 1) / kPerNat * tau);
    float lo = b_star + 2 >= kBuckets - 1 ? -kMaxF
                                          : static_cast<float>(m_ - (b_star + 2) / kPerNat * tau);
    if (!(lo <= hi)) lo = hi;
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    grow(s_.bi, n_ + kCompressSlack);
    grow(s_.bx, n_ + kCompressSlack);
    grow(s_.be, n_ + kCompressSlack);
    double above = 0, bracket = 0;
    std::size_t count_above = 0, c = 0;
    // The bracket's x and e (as e_at gives them, rounded to float) and their sum are gathered
    // by the pass, block by block; blocks whose max (s_.bmax, from the max or fused pass) is
    // below the bracket are skipped.
    auto pass = [&](float h, float l) {
      c = k_.above_bracket(x_, s_.e.data(), n_, h, l, s_.sums.data(), &count_above,
                           s_.bi.data(), fused_ ? s_.cb.data() : nullptr, s_.bx.data(),
                           s_.be.data(), &bracket, s_.bmax.data());
      above = 0;
      for (std::size_t b = 0; b < blocks; ++b) {
        if (fused_) s_.sums[b] *= s_.cb[b];
        above += s_.sums[b];
      }
    };
    pass(hi, lo);
    if (above >= t && hi != kInf) {  // the boundary is above hi: the bracket is x > hi
      pass(kInf, std::nextafter(hi, kInf));
    } else if (above + bracket < t && lo != -kMaxF) {
      // Below lo: widen the bracket downwards, 1, 4 and 16 nats below lo and then to the
      // bottom, until it reaches t. Each pass reads only the blocks whose max reaches its
      // bracket: a row whose mass sits in a few tokens the sample missed (a peaked row) reads a
      // few blocks instead of gathering and selecting over the whole row.
      constexpr double kWiden[] = {1, 4, 16};
      float top = lo;
      for (std::size_t k = 0; k <= 3 && above + bracket < t && top != -kMaxF; ++k) {
        float l = -kMaxF;
        if (k < 3) {
          const double v = m_ - ((b_star + 2) / kPerNat + kWiden[k]) * tau;
          if (v > -kMaxF) l = static_cast<float>(v);
          if (!(l < top)) continue;
        }
        pass(std::nextafter(top, -kInf), l);
        top = l;
      }
    }
    if (above >= t || !(c > 0 || above + bracket >= t)) {  // the sums disagree: the plain select
      unfuse();
      sums_ready_ = false;
      return nucleus(x_, s_.e.data(), nullptr, n_, total, t);
    }
    const Cut cut = nucleus(s_.bx.data(), s_.be.data(), s_.bi.data(), c, bracket, t, above,
                            count_above);
    // The kept cut's block sums: the mass above the bracket, plus the kept bracket entries.
    // In index order, hence block by block: each block's sum in a register, and the entries
    // outside the cut add +0 (no branch: about half of them are kept, at random). The same
    // additions in the same order as adding the kept entries one by one.
    for (std::size_t j = 0; j < c;) {
      const std::size_t b = static_cast<std::size_t>(s_.bi[j]) / kSampleBlock;
      const std::int32_t end = static_cast<std::int32_t>(std::min((b + 1) * kSampleBlock, n_));
      double acc = s_.sums[b];
      for (; j < c && s_.bi[j] < end; ++j) {
        acc += in_cut(cut, s_.bx[j], s_.bi[j]) ? static_cast<double>(s_.be[j]) : 0.0;
      }
      s_.sums[b] = acc;
    }
    sums_ready_ = true;
    return cut;
  }

  // Sorts the candidate list by index and returns the nucleus over it.
  Cut nucleus_of_list(double t) {
    std::sort(s_.cand.begin(), s_.cand.end(), [](const Cand& a, const Cand& b) { return a.i < b.i; });
    const std::size_t L = s_.cand.size();
    s_.lx.resize(L);
    s_.le.resize(L);
    std::vector<std::int32_t> ids(L);
    double mass = 0;
    for (std::size_t j = 0; j < L; ++j) {
      s_.lx[j] = s_.cand[j].x;
      s_.le[j] = s_.e[s_.cand[j].i];
      ids[j] = s_.cand[j].i;
      mass += s_.le[j];
    }
    return nucleus(s_.lx.data(), s_.le.data(), ids.data(), L, mass, t);
  }

  void use_list() {
    list_ = true;
    list_exp();
  }
  void use_cut(const Cut& c) {
    list_ = false;
    cut_ = c;
  }
  // The top-min(keep, finite) prefix as the kept list.
  void keep_top(std::size_t keep) {
    top_k(keep, s_.cand);
    use_list();
  }

  // Runs the filter chain; leaves either a kept list (s_.cand, s_.le) or a cut of the row.
  void select() {
    const bool k_on = p_.top_k > 0 && static_cast<std::size_t>(p_.top_k) < n_;
    const bool p_on = p_.top_p < 1.0;
    const bool mp_on = p_.min_p > 0.0;
    const std::size_t keep = static_cast<std::size_t>(p_.min_tokens_to_keep);
    const double p_frac = std::max(p_.top_p - kTopPSlack, 0.0);
    if (k_on) {  // everything on the k candidates, ranked
      top_k(static_cast<std::size_t>(p_.top_k), s_.cand);
      list_exp();
      std::size_t L = s_.cand.size();
      if (p_on) {
        double total = 0;
        for (float v : s_.le) total += v;
        const double t = p_frac * total;
        std::size_t lp = 1;
        if (t > 0) {
          double cum = 0;
          for (lp = 0; lp < L;) {
            cum += s_.le[lp++];
            if (cum >= t) break;
          }
        }
        L = std::min(L, std::max(lp, std::min(keep, L)));
      }
      if (mp_on) {
        const float th = min_p_threshold();
        std::size_t lm = 0;
        while (lm < L && s_.cand[lm].x >= th) ++lm;
        L = std::min(L, std::max(lm, std::min(keep, L)));
      }
      s_.cand.resize(L);
      s_.le.resize(L);
      list_ = true;
      return;
    }
    if (mp_on) {
      const float th = min_p_threshold();
      grow(s_.idx, n_ + kCompressSlack);
      const std::size_t cm = k_.select_indices(x_, n_, th, false, 0, s_.idx.data());
      bool list = true;
      if (cm < keep) {
        top_k(keep, s_.cand);
      } else if (cm <= kListMax) {
        s_.cand.resize(cm);
        for (std::size_t j = 0; j < cm; ++j) s_.cand[j] = {x_[s_.idx[j]], s_.idx[j]};
      } else {
        list = false;
      }
      const Cut cut_m{th, INT32_MAX, cm, true};
      if (!p_on) {
        if (list) return use_list();
        row_exp();
        return use_cut(cut_m);
      }
      const double t = p_frac * row_exp();
      if (t <= 0) return keep_top(keep);
      if (list) {
        const Cut cp = nucleus_of_list(t);
        if (!cp.reached) return use_list();
        if (cp.count < keep) return keep_top(keep);
        std::erase_if(s_.cand, [&](const Cand& c) { return !in_cut(cp, c.x, c.i); });
        return use_list();
      }
      const Cut cp = nucleus(x_, s_.e.data(), nullptr, n_, t / p_frac, t);
      if (cp.count < keep) return keep_top(keep);
      return use_cut(cp.count <= cm ? cp : cut_m);
    }
    if (p_on) {
      double total = 0;
      if (fused_) {
        for (std::size_t b = 0; b < (n_ + kSampleBlock - 1) / kSampleBlock; ++b) total += s_.sums[b];
      } else {
        total = row_exp();
      }
      const double t = p_frac * total;
      if (t <= 0) return keep_top(keep);
      const Cut cp = nucleus_row(total, t);
      if (cp.count < keep) {
        sums_ready_ = false;
        return keep_top(keep);
      }
      return use_cut(cp);
    }
    // Temperature alone: the fused pass stored nothing but the block sums (unless the
    // distribution is asked for); the draw recomputes the e of its block.
    if (!fused_) row_exp();
    use_cut(Cut{-kInf, -1, n_, true});  // every finite entry
  }

  // Block sums of the kept cut (the exp pass's sums when everything is kept); returns the total.
  double cut_sums() {
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    if (cut_.theta != -kInf && !sums_ready_) {
      k_.cut_block_sums(x_, s_.e.data(), n_, cut_.theta, cut_.last, s_.sums.data());
      if (fused_) {
        for (std::size_t b = 0; b < blocks; ++b) s_.sums[b] *= s_.cb[b];
      }
    }
    double t = 0;
    for (std::size_t b = 0; b < blocks; ++b) t += s_.sums[b];
    return t;
  }

  // Inverse CDF over the kept list, in its order: the first entry whose running sum exceeds target.
  std::size_t draw_list(double target) const {
    double cum = 0;
    std::size_t last = 0;
    for (std::size_t j = 0; j < s_.cand.size(); ++j) {
      if (s_.le[j] > 0) last = j;
      cum += s_.le[j];
      if (cum > target && s_.le[j] > 0) return static_cast<std::size_t>(s_.cand[j].i);
    }
    return static_cast<std::size_t>(s_.cand[last].i);  // target rounded up to the total
  }

  // Inverse CDF over the cut: find the block by its sum, then the entry inside it.
  std::size_t draw_cut(double target) const {
    const std::size_t blocks = (n_ + kSampleBlock - 1) / kSampleBlock;
    double cum = 0;
    std::size_t b = 0, last_block = 0;
    for (; b < blocks; ++b) {
      if (s_.sums[b] > 0) last_block = b;
      if (cum + s_.sums[b] > target && s_.sums[b] > 0) break;
      cum += s_.sums[b];
    }
    if (b == blocks) {
      b = last_block;
      cum = target;  // rounding: take the last kept entry of the last block with mass
    }
    const std::size_t begin = b * kSampleBlock, end = std::min(begin + kSampleBlock, n_);
    const float* e = s_.e.data() + begin;
    if (!e_stored_) {  // the same kernel on the block: the same e as the pass that summed them
      double sum;
      float mb;
      bool nan;
      k_.exp_fused(x_ + begin, end - begin, args_, s_.block_e, &sum, &mb, &nan);
      e = s_.block_e;
    }
    const double scale = fused_ ? s_.cb[b] : 1.0;
    std::size_t last = begin;
    for (std::size_t i = begin; i < end; ++i) {
      const float ei = e[i - begin];
      if (ei > 0 && in_cut(cut_, x_[i], static_cast<std::int64_t>(i))) {
        last = i;
        cum += ei * scale;
        if (cum > target) return i;
      }
    }
    return last;
  }

  void top_logprobs(double log_total, std::vector<TokenLogprob>& out) {
    const std::size_t want = static_cast<std::size_t>(p_.top_logprobs);
    if (list_) {
      s_.top = s_.cand;
      const std::size_t k = std::min(want, s_.top.size());
      std::partial_sort(s_.top.begin(), s_.top.begin() + k, s_.top.end(), before);
      s_.top.resize(k);
    } else {
      top_k(std::min(want, cut_.count), s_.top);  // the cut is a prefix of the ranking
    }
    for (const Cand& c : s_.top) out.push_back({c.i, static_cast<float>(log_p(c.x, log_total))});
  }

  void write_probs(double total, float* probs) const {
    const double inv = 1.0 / total;
    if (list_) {
      std::fill(probs, probs + n_, 0.0f);
      for (std::size_t j = 0; j < s_.cand.size(); ++j) {
        probs[s_.cand[j].i] = static_cast<float>(s_.le[j] * inv);
      }
      return;
    }
    for (std::size_t i = 0; i < n_; ++i) {
      probs[i] = in_cut(cut_, x_[i], static_cast<std::int64_t>(i))
                     ? static_cast<float>(e_at(s_.e.data(), i) * inv)
                     : 0.0f;
    }
  }

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

SampleResult sample_row(const char* fn, long row, const float* x, std::size_t n,
                        const SamplingParams& p, std::uint64_t stream, std::uint64_t step,
                        float* probs) {
  return RowSampler(fn, row, p, scratch()).run(x, n, stream, step, probs);
}

}  // namespace

SampleResult sample(std::span<const float> logits, const SamplingParams& params,
                    std::uint64_t stream, std::uint64_t step) {
  return sample_row("sample", -1, logits.data(), logits.size(), params, stream, step, nullptr);
}

SampleResult sample(std::span<const bfloat16> logits, const SamplingParams& params,
                    std::uint64_t stream, std::uint64_t step) {
  Scratch& s = scratch();
  grow(s.conv, logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) s.conv[i] = logits[i].to_float();
  return sample_row("sample", -1, s.conv.data(), logits.size(), params, stream, step, nullptr);
}

void sample(Rows<const float> logits, std::span<const SamplingParams> params,
            std::span<const std::uint64_t> streams, std::span<const std::uint64_t> steps,
            std::span<SampleResult> out, int threads) {
  const char* fn = "sample";
  internal::check_rows(fn, "logits", logits);
  const std::size_t rows = logits.rows;
  auto check_size = [&](const char* name, std::size_t size, bool broadcast) {
    if (size != rows && !(broadcast && size == 1)) {
      internal::fail(fn, std::string(name) + ".size() is " + std::to_string(size) +
                             " but logits has " + std::to_string(rows) + " rows" +
                             (broadcast ? " (1 is also accepted)" : ""));
    }
  };
  check_size("params", params.size(), true);
  check_size("streams", streams.size(), true);
  check_size("steps", steps.size(), true);
  check_size("out", out.size(), false);
  if (rows == 0) return;
  std::mutex mutex;
  std::size_t bad_row = rows;
  std::string message;
  const int nt = internal::threads_for(threads, rows * std::max<std::size_t>(logits.cols, 1));
  internal::parallel_for(rows, nt, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      try {
        out[r] = sample_row(fn, static_cast<long>(r), logits.row(r), logits.cols,
                            params[params.size() == 1 ? 0 : r],
                            streams[streams.size() == 1 ? 0 : r], steps[steps.size() == 1 ? 0 : r],
                            nullptr);
      } catch (const std::invalid_argument& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (r < bad_row) {
          bad_row = r;
          message = e.what();
        }
      }
    }
  });
  if (bad_row < rows) throw std::invalid_argument(message);
}

void sampling_distribution(std::span<const float> logits, const SamplingParams& params,
                           std::span<float> probs) {
  if (probs.size() != logits.size()) {
    internal::fail("sampling_distribution", "probs.size() (" + std::to_string(probs.size()) +
                                                ") differs from logits.size() (" +
                                                std::to_string(logits.size()) + ")");
  }
  sample_row("sampling_distribution", -1, logits.data(), logits.size(), params, 0, 0,
             probs.data());
}

namespace shard {

std::string sampling_params_problem(const SamplingParams& p) {
  auto bad = [](const char* name, const char* rule, double v) {
    std::ostringstream got;
    got << v;
    return std::string("params.") + name + " must be " + rule + ", got " + got.str();
  };
  if (std::isnan(p.temperature) || p.temperature < 0) {
    return bad("temperature", ">= 0", p.temperature);
  }
  if (!(p.top_p >= 0 && p.top_p <= 1)) return bad("top_p", "in [0, 1]", p.top_p);
  if (!(p.min_p >= 0 && p.min_p <= 1)) return bad("min_p", "in [0, 1]", p.min_p);
  if (p.min_tokens_to_keep < 1) return bad("min_tokens_to_keep", ">= 1", p.min_tokens_to_keep);
  if (!(p.repetition_penalty > 0 && std::isfinite(p.repetition_penalty))) {
    return bad("repetition_penalty", "> 0 and finite", p.repetition_penalty);
  }
  if (!std::isfinite(p.presence_penalty)) {
    return bad("presence_penalty", "finite", p.presence_penalty);
  }
  if (!std::isfinite(p.frequency_penalty)) {
    return bad("frequency_penalty", "finite", p.frequency_penalty);
  }
  if (p.top_logprobs < 0) return bad("top_logprobs", ">= 0", p.top_logprobs);
  return {};
}

}  // namespace shard
}  // namespace logitkit
