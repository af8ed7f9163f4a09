// SPDX-License-Identifier: Apache-2.0
// The sampler chain's driver: the row stage (logit bias, penalties, DRY, temperature and top-k
// on the float row, with the SIMD kernels), the list stages (chain_stages.cc) and the draw.
// Stage definitions: llama.cpp's src/llama-sampling.cpp and Hugging Face transformers'
// src/transformers/generation/logits_process.py (docs/sampling.md).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "logitkit/sampler_chain.h"
#include "src/internal/check.h"
#include "src/parallel/parallel.h"
#include "src/sampling/chain_spec.h"
#include "src/sampling/chain_stages.h"
#include "src/sampling/sampling_kernels.h"
#include "src/sampling/top_k.h"
#include "src/softmax/softmax_kernels.h"

namespace logitkit {
namespace {

using internal::ChainList;
using internal::ResolvedStage;
using internal::StageKind;
using internal::Tok;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct ChainScratch {
  std::vector<float> row;  // the row once a row stage changed it
  std::vector<float> bmax;
  std::vector<std::int32_t> idx;
  std::vector<internal::Cand> cand;
  ChainList list;
  std::vector<std::pair<std::int32_t, double>> adjust;  // penalties / dry per token
};

ChainScratch& chain_scratch() {
  thread_local ChainScratch s;
  return s;
}

[[noreturn]] void fail_row(long row, const std::string& what) {
  internal::fail("SamplerChain", row < 0 ? what : "row " + std::to_string(row) + ": " + what);
}

// The second uniform of the draw's Philox block: XTC's coin, independent of the draw's u.
double xtc_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t step) {
  const auto w = philox4x32_10(
      {static_cast<std::uint32_t>(step), static_cast<std::uint32_t>(step >> 32),
       static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)},
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
  const std::uint64_t bits = (static_cast<std::uint64_t>(w[2]) << 32 | w[3]) >> 11;
  return static_cast<double>(bits) * 0x1p-53;
}

void check_ids(long row, const char* what, std::span<const std::int32_t> ids, std::size_t n) {
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (ids[j] < 0 || static_cast<std::size_t>(ids[j]) >= n) {
      fail_row(row, std::string(what) + "[" + std::to_string(j) + "] (" + std::to_string(ids[j]) +
                        ") is outside [0, " + std::to_string(n) + ")");
    }
  }
}

// One call of the chain on one row.
class ChainRun {
 public:
  ChainRun(const std::vector<ResolvedStage>& stages, long row, const ChainContext& ctx,
           ChainScratch& s)
      : stages_(stages), row_(row), ctx_(ctx), s_(s),
        k_(internal::sampling_kernels(internal::kExpPlain)) {}

  // Runs every stage; mirostat (last) draws with u and updates *mu. Leaves the survivors in
  // s_.list. Returns the drawn token for mirostat, else -1.
  std::int32_t run(const float* x, std::size_t n, double u, double u_xtc, double* mu) {
    prepare(x, n);
    for (std::size_t si = 0; si < stages_.size(); ++si) {
      const ResolvedStage& st = stages_[si];
      if (!list_ && row_stage(st)) continue;
      to_list();
      const std::int32_t tok = list_stage(st, u, u_xtc, mu);
      if (tok >= 0) return tok;
    }
    to_list();
    return -1;
  }

 private:
  void prepare(const float* x, std::size_t n) {
    if (n == 0) fail_row(row_, "logits is empty");
    if (n > static_cast<std::size_t>(INT32_MAX)) {
      fail_row(row_, "logits has more than 2^31 - 1 entries");
    }
    n_ = n;
    x_ = x;
    check_ids(row_, "history", ctx_.history, n);
    for (std::size_t j = 0; j < ctx_.logit_bias.size(); ++j) {
      const TokenBias& b = ctx_.logit_bias[j];
      if (b.token < 0 || static_cast<std::size_t>(b.token) >= n) {
        fail_row(row_, "logit_bias[" + std::to_string(j) + "].token (" + std::to_string(b.token) +
                           ") is outside [0, " + std::to_string(n) + ")");
      }
      if (std::isnan(b.bias)) fail_row(row_, "logit_bias[" + std::to_string(j) + "].bias is NaN");
    }
    for (const ResolvedStage& st : stages_) {
      if (st.kind != StageKind::kDry) continue;
      for (std::size_t j = 0; j < st.breakers->size(); ++j) {
        const std::string name = "dry's sequence_breakers[" + std::to_string(j) + "]";
        check_ids(row_, name.c_str(), (*st.breakers)[j], n);
      }
    }
    if (!ctx_.logit_bias.empty()) {
      writable();
      for (const TokenBias& b : ctx_.logit_bias) {
        const double v = static_cast<double>(s_.row[b.token]) + b.bias;
        if (std::isnan(v)) {
          fail_row(row_, "the logit of token " + std::to_string(b.token) +
                             " is NaN after logit_bias (logits[" + std::to_string(b.token) +
                             "] plus its bias is -inf + inf)");
        }
        s_.row[b.token] = static_cast<float>(v);
      }
    }
    const std::size_t blocks = (n_ + internal::kSampleBlock - 1) / internal::kSampleBlock;
    if (s_.bmax.size() < blocks) s_.bmax.resize(blocks);
    bool has_nan = false;
    const float m = k_.max(x_, n_, s_.bmax.data(), &has_nan);
    if (has_nan) {
      fail_row(row_, "logits[" + std::to_string(internal::find_nan(x_, n_)) + "] is NaN");
    }
    if (m == -kInf) {
      fail_row(row_, "every logit is -inf (after logit_bias): there is nothing to sample");
    }
    if (m == kInf) {  // the limit: only the +inf entries remain, with equal logits
      writable();
      for (std::size_t i = 0; i < n_; ++i) s_.row[i] = x_[i] == kInf ? 0.0f : -kInf;
    }
  }

  // The row becomes a copy the row stages may change.
  void writable() {
    if (x_ == s_.row.data()) return;
    if (s_.row.size() < n_) s_.row.resize(n_);
    std::copy(x_, x_ + n_, s_.row.begin());
    x_ = s_.row.data();
  }

  // Stages that run on the float row while no list exists: penalties and dry (a few entries),
  // temperature (deferred: the list divides by it), top-k (the SIMD filter, which makes the
  // list). Returns false where the stage needs the list.
  bool row_stage(const ResolvedStage& st) {
    switch (st.kind) {
      case StageKind::kPenalties:
      case StageKind::kDry: {
        if (!temps_.empty()) return false;  // the stage acts on tempered logits: on the list
        internal::history_adjustments(st, ctx_.history, s_.adjust);
        if (s_.adjust.empty()) return true;
        writable();
        for (const auto& [t, a] : s_.adjust) {
          s_.row[t] = static_cast<float>(internal::adjusted(st, s_.row[t], a));
        }
        return true;
      }
      case StageKind::kTemp:
        if (st.v[0] == 0.0) return false;  // greedy: the list of the first maximum
        temps_.push_back(st.v[0]);
        return true;
      case StageKind::kTopK: {
        const long k = static_cast<long>(st.v[0]);
        if (k <= 0) return true;
        const std::size_t keep = std::max<std::size_t>(static_cast<std::size_t>(k),
                                                       static_cast<std::size_t>(st.v[1]));
        if (keep >= n_) return true;
        internal::top_k_filter(k_, x_, n_, keep, s_.cand, s_.idx);
        ChainList& l = s_.list;
        l.toks.clear();
        for (const internal::Cand& c : s_.cand) l.toks.push_back({tempered(c.x), 0.0, c.i});
        l.sorted = true;
        internal::normalize_infinities(l);  // a penalty that overflowed to +inf
        list_ = true;
        return true;
      }
      default:
        return false;
    }
  }

  double tempered(float x) const {
    double v = x;
    for (double t : temps_) v /= t;
    return v;
  }

  // Every finite entry of the row, in index order.
  void to_list() {
    if (list_) return;
    ChainList& l = s_.list;
    l.toks.clear();
    l.toks.reserve(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      if (x_[i] != -kInf) l.toks.push_back({tempered(x_[i]), 0.0, static_cast<std::int32_t>(i)});
    }
    l.sorted = false;
    internal::normalize_infinities(l);  // a penalty that overflowed to +inf
    list_ = true;
  }

  std::int32_t list_stage(const ResolvedStage& st, double u, double u_xtc, double* mu) {
    ChainList& l = s_.list;
    switch (st.kind) {
      case StageKind::kPenalties:
      case StageKind::kDry:
        internal::history_adjustments(st, ctx_.history, s_.adjust);
        internal::apply_adjustments(l, st, s_.adjust);
        return -1;
      case StageKind::kTopK: internal::top_k_list(l, st); return -1;
      case StageKind::kTypical: internal::typical(l, st); return -1;
      case StageKind::kTopP: internal::top_p(l, st); return -1;
      case StageKind::kMinP: internal::min_p(l, st); return -1;
      case StageKind::kXtc: internal::xtc(l, st, u_xtc); return -1;
      case StageKind::kTopNSigma: internal::top_n_sigma(l, st); return -1;
      case StageKind::kEpsilon: internal::epsilon(l, st); return -1;
      case StageKind::kEta: internal::eta(l, st); return -1;
      case StageKind::kTemp: internal::temperature(l, st.v[0]); return -1;
      case StageKind::kDynatemp: internal::dynatemp(l, st); return -1;
      case StageKind::kMirostat:
        return internal::mirostat(l, st, static_cast<double>(n_), u, mu);
      case StageKind::kMirostatV2: return internal::mirostat_v2(l, st, u, mu);
    }
    return -1;
  }

  const std::vector<ResolvedStage>& stages_;
  long row_;
  const ChainContext& ctx_;
  ChainScratch& s_;
  internal::SamplingKernels k_;
  const float* x_ = nullptr;
  std::size_t n_ = 0;
  bool list_ = false;
  std::vector<double> temps_;
};

// The survivors' weights e_j = exp(logit_j - max) in list order, their sum, and max.
struct Final {
  double max;
  double total;
};

Final final_weights(ChainList& l) {
  double m = -std::numeric_limits<double>::infinity();
  for (const Tok& t : l.toks) m = std::max(m, t.logit);
  double total = 0;
  for (Tok& t : l.toks) {
    t.p = std::exp(t.logit - m);
    total += t.p;
  }
  return {m, total};
}

SampleResult run_chain(const std::vector<ResolvedStage>& stages, long row, const float* x,
                       std::size_t n, const ChainContext& ctx, std::uint64_t stream,
                       std::uint64_t step, MirostatState* state, double mu0, int top_logprobs,
                       float* probs) {
  ChainScratch& s = chain_scratch();
  const double u = philox_uniform(ctx.seed, stream, step);
  const double u_xtc = xtc_uniform(ctx.seed, stream, step);
  double mu = state && !std::isnan(state->mu) ? state->mu : mu0;
  ChainRun run(stages, row, ctx, s);
  std::int32_t tok = run.run(x, n, u, u_xtc, &mu);
  ChainList& l = s.list;
  if (l.toks.empty()) fail_row(row, "no token survived the chain");
  const Final f = final_weights(l);
  if (tok < 0) {
    // Inverse CDF over the survivors in their final order.
    const double target = u * f.total;
    double cum = 0;
    std::size_t last = 0;
    std::size_t j = 0;
    for (; j < l.toks.size(); ++j) {
      if (l.toks[j].p > 0) last = j;
      cum += l.toks[j].p;
      if (cum > target && l.toks[j].p > 0) break;
    }
    tok = l.toks[j == l.toks.size() ? last : j].id;
  } else if (state) {
    state->mu = mu;
  }
  SampleResult r{};
  r.token = tok;
  const double log_total = std::log(f.total);
  for (const Tok& t : l.toks) {
    if (t.id == tok) r.logprob = static_cast<float>((t.logit - f.max) - log_total);
  }
  if (l.toks.size() == 1) r.logprob = 0.0f;
  if (top_logprobs > 0) {
    std::vector<Tok> top(l.toks.begin(), l.toks.end());
    const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(top_logprobs), top.size());
    std::partial_sort(top.begin(), top.begin() + k, top.end(), internal::tok_before);
    for (std::size_t j = 0; j < k; ++j) {
      r.top.push_back({top[j].id, static_cast<float>((top[j].logit - f.max) - log_total)});
    }
  }
  if (probs) {
    std::fill(probs, probs + n, 0.0f);
    for (const Tok& t : l.toks) probs[t.id] = static_cast<float>(t.p / f.total);
  }
  return r;
}

}  // namespace

SamplerChain::SamplerChain(std::string_view spec) : stages_(internal::parse_chain_spec(spec)) {
  internal::validate_chain(stages_);
}

SamplerChain::SamplerChain(std::vector<ChainStage> stages) : stages_(std::move(stages)) {
  internal::validate_chain(stages_);
}

std::string SamplerChain::spec() const { return internal::chain_spec_string(stages_); }

bool SamplerChain::has_mirostat() const {
  return stages_.back().name == "mirostat" || stages_.back().name == "mirostat_v2";
}

double SamplerChain::initial_mu() const {
  return has_mirostat() ? 2.0 * stages_.back().params[0].second
                        : std::numeric_limits<double>::quiet_NaN();
}

SampleResult SamplerChain::sample(std::span<const float> logits, const ChainContext& ctx,
                                  std::uint64_t stream, std::uint64_t step, MirostatState* state,
                                  int top_logprobs) const {
  if (top_logprobs < 0) {
    internal::fail("SamplerChain",
                   "top_logprobs must be >= 0, got " + std::to_string(top_logprobs));
  }
  return run_chain(internal::resolve_chain(stages_), -1, logits.data(), logits.size(), ctx, stream,
                   step, state, initial_mu(), top_logprobs, nullptr);
}

void SamplerChain::distribution(std::span<const float> logits, const ChainContext& ctx,
                                std::span<float> probs, std::uint64_t stream, std::uint64_t step,
                                const MirostatState* state) const {
  if (probs.size() != logits.size()) {
    internal::fail("SamplerChain", "probs.size() (" + std::to_string(probs.size()) +
                                       ") differs from logits.size() (" +
                                       std::to_string(logits.size()) + ")");
  }
  MirostatState copy = state ? *state : MirostatState{};
  run_chain(internal::resolve_chain(stages_), -1, logits.data(), logits.size(), ctx, stream, step,
            &copy, initial_mu(), 0, probs.data());
}

void sample_chain(Rows<const float> logits, std::span<const SamplerChain> chains,
                  std::span<const ChainContext> contexts, std::span<const std::uint64_t> streams,
                  std::span<const std::uint64_t> steps, std::span<SampleResult> out,
                  std::span<MirostatState> states, int threads) {
  const char* fn = "sample_chain";
  internal::check_rows(fn, "logits", logits);
  const std::size_t rows = logits.rows;
  auto check_size = [&](const char* name, std::size_t size, bool broadcast, bool none) {
    if (size == rows || (broadcast && size == 1) || (none && size == 0)) return;
    std::string also;
    if (broadcast && none) also = " (1 or 0 are also accepted)";
    if (broadcast && !none) also = " (1 is also accepted)";
    if (!broadcast && none) also = " (0 is also accepted)";
    internal::fail(fn, std::string(name) + ".size() is " + std::to_string(size) +
                           " but logits has " + std::to_string(rows) + " rows" + also);
  };
  check_size("chains", chains.size(), true, false);
  check_size("contexts", contexts.size(), true, false);
  check_size("streams", streams.size(), true, true);
  check_size("steps", steps.size(), true, false);
  check_size("out", out.size(), false, false);
  check_size("states", states.size(), false, true);
  if (rows == 0) return;
  std::vector<std::vector<ResolvedStage>> resolved;
  for (const SamplerChain& c : chains) resolved.push_back(internal::resolve_chain(c.stages()));
  std::vector<MirostatState> new_states(states.begin(), states.end());
  internal::for_each_row_first_error(rows, logits.cols, threads, [&](std::size_t r) {
    const std::size_t c = chains.size() == 1 ? 0 : r;
    const std::uint64_t stream = streams.empty() ? r : streams[streams.size() == 1 ? 0 : r];
    out[r] = run_chain(resolved[c], static_cast<long>(r), logits.row(r), logits.cols,
                       contexts[contexts.size() == 1 ? 0 : r], stream,
                       steps[steps.size() == 1 ? 0 : r],
                       new_states.empty() ? nullptr : &new_states[r], chains[c].initial_mu(), 0,
                       nullptr);
  });
  std::copy(new_states.begin(), new_states.end(), states.begin());
}

}  // namespace logitkit
