// SPDX-License-Identifier: Apache-2.0
// Next-token sampling: penalties, temperature, top-k, top-p, min-p, and a counter-based RNG.
#ifndef LOGITKIT_SAMPLING_H_
#define LOGITKIT_SAMPLING_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "logitkit/export.h"
#include "logitkit/rows.h"
#include "logitkit/softmax.h"

namespace logitkit {

// Adds `bias` to the logit of `token` (OpenAI's logit_bias). -inf bans the token; +inf forces it.
struct TokenBias {
  std::int32_t token;
  float bias;
};

// What to sample, applied in this order (docs/sampling.md):
//   1. logit bias:          x_t += bias for each entry of logit_bias (duplicates add up)
//   2. repetition penalty:  for each distinct token t of history: x_t = x_t > 0 ? x_t / r : x_t * r
//   3. presence, frequency: x_t -= presence_penalty * [c_t > 0] + frequency_penalty * c_t, where c_t
//                           counts t in history
//      (steps 1-3 are computed in double and rounded once to float, the "effective logits")
//   4. temperature:         p_i = exp((x_i - max)/tau) / sum_j exp((x_j - max)/tau)
//   5. top-k, 6. top-p, 7. min-p (below), each on the renormalised survivors of the previous one
//   8. one draw by inverse CDF with a uniform from philox_uniform(seed, stream, step).
// Candidates are ranked by effective logit, descending, the lower index first among equal logits
// (for every tau > 0 this is the order of probability). Every filter keeps a prefix of that order:
//   top-k: the first k (k <= 0: off; k >= the number of finite logits: everything).
//   top-p: the shortest prefix whose probability mass reaches top_p, compared as
//          mass >= (top_p - 1e-6) * total so that rounding cannot add a token (top_p >= 1: off).
//   min-p: the tokens with p_i >= min_p * p_max, i.e. (x_i - max)/tau >= log(min_p), which needs
//          no softmax (min_p <= 0: off; min_p = 1 keeps the tied maxima).
//   top-p and min-p keep at least min(min_tokens_to_keep, survivors so far) tokens; top-k keeps
//   exactly k.
// Greedy: tau = 0, top_p = 0 or top_k = 1 pick the lowest index among the maximal effective
// logits, whatever the other filters (log-probability 0).
// tau = +inf: uniform over the survivors (the filters still rank by logit).
// +inf effective logits: the limit; only the +inf entries remain, with equal probability.
// The span members are not owned: they must stay valid during the call.
struct SamplingParams {
  double temperature = 1.0;  // tau >= 0, not NaN
  int top_k = 0;             // <= 0: off
  double top_p = 1.0;        // in [0, 1]; 1: off; 0: greedy
  double min_p = 0.0;        // in [0, 1]; 0: off
  int min_tokens_to_keep = 1;     // >= 1
  double repetition_penalty = 1.0;  // > 0 and finite; 1: off
  double presence_penalty = 0.0;    // finite
  double frequency_penalty = 0.0;   // finite
  std::span<const std::int32_t> history;   // token ids in [0, vocabulary)
  std::span<const TokenBias> logit_bias;   // token ids in [0, vocabulary), bias not NaN
  std::uint64_t seed = 0;
  int top_logprobs = 0;  // >= 0: return this many of the most likely survivors with the result
  // The weights e_i = exp((x_i - max)/tau) are computed by a float exp (for tau in [1e-30, 1e30];
  // in double outside), their sums in double (docs/sampling.md):
  // kAccurate (the default, as everywhere in logitkit): the shift carried as a float pair: each
  //   weight within 3 float ULP (4e-7); about 1.4x the time of kFast when every token is kept.
  // kFast: the shift (x_i - max)/tau rounded in float: relative error
  //   <= (3 |t_i| + 6) * 2^-24 per weight, t_i = (x_i - max)/tau; since the mean of |t| under
  //   the kept distribution is at most its entropy (<= ln V), the sampling distribution is within
  //   total variation 2^-23 * (3 ln V + 6) of the exact one (5.2e-6 at V = 256000; some 1e11
  //   draws would be needed to see it).
  // Weights below FLT_MIN are subnormal floats (rounded twice), 0 below 2^-150.
  // Both give the same token on every target, thread count and batch (each its own sequence).
  Precision precision = Precision::kAccurate;
};

struct TokenLogprob {
  std::int32_t token;
  float logprob;
};

struct SampleResult {
  std::int32_t token;
  // log p(token) under the final (filtered, renormalised) distribution; 0 for greedy.
  float logprob;
  // The min(top_logprobs, survivors) most likely survivors, most likely first (lower index first
  // among ties), with their log-probabilities under the final distribution. Greedy: the token.
  std::vector<TokenLogprob> top;
};

// ---------------------------------------------------------------------------------------------
// Draws one token from `logits` (one row of n >= 1 entries) under `params`, with the uniform
// philox_uniform(params.seed, stream, step): the same (logits, params, stream, step) give the same
// token on every SIMD target, thread count, batch composition and operating system.
// Preconditions (else std::invalid_argument naming the argument): logits non-empty, no NaN, at
// least one effective logit > -inf; params as documented in SamplingParams.
// Accuracy: the weights as documented at SamplingParams::precision, summed in double (float
// trees of 256, relative error <= 4 * 2^-24); logprob = (x - max)/tau - log(sum of the kept
// weights), within 4e-6 absolute (kAccurate: 1e-6) of the exact value for the kept set. The kept
// set is exact except within the top-p tolerance above and where the rounding of the weights
// (above) moves a top-p boundary.
// The uniform has 53 bits: a token of probability q is drawn with probability q +- 2^-53.
// Cost: no full sort. Greedy: one SIMD pass for max and NaN, then a search for the first maximum.
// top-k: the max pass, a SIMD filter above a rising threshold, then k log k on the survivors.
// min-p: the max pass and one SIMD compress pass. Temperature alone: one fused pass (each
// 1024-entry block's max, then its exps from L1) that stores nothing but block sums; the draw
// recomputes one block. top-p alone: the same pass storing the weights, one pass that sums the
// mass above a bracket estimated from a 512-entry sample of the row and gathers the bracket,
// a mass-weighted select on the bracket only, and a scan of one block. Memory: per-thread scratch
// of a few times n floats, reused across calls. See docs/sampling.md for measured times.
// Example:
//   SamplingParams p{.temperature = 0.8, .top_k = 40, .top_p = 0.95, .seed = 7};
//   SampleResult r = sample(logits, p, /*stream=*/request_id, /*step=*/position);
LOGITKIT_API SampleResult sample(std::span<const float> logits, const SamplingParams& params,
                                 std::uint64_t stream, std::uint64_t step);
// bfloat16 logits: converted exactly to float, then the f32 contract holds (same tokens as the
// f32 call on the converted values).
LOGITKIT_API SampleResult sample(std::span<const bfloat16> logits, const SamplingParams& params,
                                 std::uint64_t stream, std::uint64_t step);

// Batch: out[r] = sample(row r of logits, params[r], streams[r], steps[r]). params, streams and
// steps hold either logits.rows entries or exactly 1 (used for every row); streams may also be
// empty: row r then draws from stream r (identical rows do not all return the same token); out
// holds logits.rows. Per-row params carry per-row histories (SamplingParams::history).
// Rows are split across `threads` threads (0: library default); each result is bitwise the one
// the single-row call gives, whatever the thread count and the order of rows in the batch.
// On invalid input nothing is guaranteed about `out` and std::invalid_argument names the row.
LOGITKIT_API void sample(Rows<const float> logits, std::span<const SamplingParams> params,
                         std::span<const std::uint64_t> streams,
                         std::span<const std::uint64_t> steps, std::span<SampleResult> out,
                         int threads = 0);

// The final distribution that sample() draws from: probs[i] = p_i for the kept tokens (summing to
// 1 within 1e-6), exactly 0 for the others (greedy: 1 at the chosen token). probs.size() must
// equal logits.size(). Same preconditions and errors as sample().
LOGITKIT_API void sampling_distribution(std::span<const float> logits,
                                        const SamplingParams& params, std::span<float> probs);

// ---------------------------------------------------------------------------------------------
// Philox4x32-10 (Salmon et al., SC'11), bit-compatible with Random123's philox4x32 (named apart from its macro): ten rounds
// on a 128-bit counter under a 64-bit key.
LOGITKIT_API std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                                      std::array<std::uint32_t, 2> key);
// The uniform double in [0, 1) with 53 random bits that sample() uses:
//   w = philox4x32_10({lo(step), hi(step), lo(stream), hi(stream)}, {lo(seed), hi(seed)}),
//   u = ((uint64(w[0]) << 32 | w[1]) >> 11) * 2^-53.
LOGITKIT_API double philox_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t step);

}  // namespace logitkit

#endif  // LOGITKIT_SAMPLING_H_
