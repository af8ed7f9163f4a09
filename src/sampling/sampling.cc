// SPDX-License-Identifier: Apache-2.0
// The sampler's driver: validation, effective logits, the filter chain, and the inverse-CDF draw.
// All passes over the vocabulary run in the per-target kernels (sampling_kernels.h); the driver
// only handles candidate lists and block sums, in a fixed order, so tokens are reproducible.

#include <algorithm>
#include <functional>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "logitkit/sampling.h"
#include "logitkit/shard.h"
#include "src/internal/check.h"
#include "src/internal/temperature.h"
#include "src/parallel/parallel.h"
#include "src/sampling/sampling_kernels.h"
#include "src/sampling/row_sampler.h"
#include "src/sampling/top_k.h"
#include "src/softmax/softmax_kernels.h"

namespace logitkit {
namespace internal {

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

namespace {

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

}  // namespace

SampleResult RowSampler::run(const float* x_in, std::size_t n, std::uint64_t stream,
                             std::uint64_t step, float* probs) {
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

void RowSampler::prepare(const float* x_in, std::size_t n) {
  if (n == 0) fail_at(fn_, row_, "logits is empty");
  if (n > static_cast<std::size_t>(INT32_MAX)) {
    fail_at(fn_, row_, "logits has more than 2^31 - 1 entries");
  }
  check_params(fn_, row_, p_);
  n_ = n;
  x_ = effective_logits(fn_, row_, x_in, n, p_, s_);
  // The temperature rule (src/internal/temperature.h) and the sampler's exp (sampler_shared.h).
  const internal::Temperature tau = internal::decode_temperature(p_.temperature);
  inv_tau_ = tau.inv_tau;
  greedy_ = tau.mode == internal::TauMode::kArgmax || p_.top_p == 0.0 || p_.top_k == 1;
  const internal::SamplerExp ex = internal::sampler_exp(inv_tau_, p_.precision);
  if (ex.mode != internal::kExpPlain) k_ = internal::sampling_kernels(ex.mode);
  mode_ = ex.mode;
  args_.c_hi = ex.args.c_hi;
  args_.c_lo = ex.args.c_lo;
  args_.inv_tau = ex.args.inv_tau;
}

void RowSampler::check_max(bool has_nan) {
  if (has_nan) {
    fail_at(fn_, row_, "logits[" + std::to_string(internal::find_nan(x_, n_)) + "] is NaN");
  }
  if (m_ == -kInf) {
    fail_at(fn_, row_,
            "every logit is -inf (after logit_bias and penalties): there is nothing to sample");
  }
}

void RowSampler::prepare_max() {
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

}  // namespace internal

namespace {

using internal::fail_at;
using internal::grow;
using internal::RowSampler;
using internal::Scratch;
using internal::scratch;

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
  if (!streams.empty()) check_size("streams", streams.size(), true);  // empty: row r, stream r
  check_size("steps", steps.size(), true);
  check_size("out", out.size(), false);
  if (rows == 0) return;
  internal::for_each_row_first_error(rows, logits.cols, threads, [&](std::size_t r) {
    out[r] = sample_row(fn, static_cast<long>(r), logits.row(r), logits.cols,
                        params[params.size() == 1 ? 0 : r],
                        streams.empty() ? r : streams[streams.size() == 1 ? 0 : r],
                        steps[steps.size() == 1 ? 0 : r], nullptr);
  });
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
  const std::string tau = internal::temperature_problem(p.temperature, internal::TauRange::kLimits,
                                                       "params.temperature");
  if (!tau.empty()) return tau;
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
