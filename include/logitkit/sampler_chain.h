// SPDX-License-Identifier: Apache-2.0
// Sampler chains: the stages an inference engine composes (llama.cpp's sampler chain, Hugging
// Face's logits processors), in any order, each seeing the survivors of the one before.
// Definitions follow llama.cpp's src/llama-sampling.cpp (penalties, dry, top_k, typical, top_p,
// min_p, xtc, top_n_sigma, temp, dynatemp, mirostat, mirostat_v2) and Hugging Face
// transformers' src/transformers/generation/logits_process.py (epsilon, eta, and the
// min_tokens_to_keep of top_k); docs/sampling.md gives each formula and every deliberate
// difference.
#ifndef LOGITKIT_SAMPLER_CHAIN_H_
#define LOGITKIT_SAMPLER_CHAIN_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logitkit/export.h"
#include "logitkit/rows.h"
#include "logitkit/sampling.h"

namespace logitkit {

// One stage of a chain: its name and its named parameters (a missing parameter takes the default
// below). Names, parameters in positional order (the spec's `name=a:b:...`), defaults:
//   penalties    last_n=64 repeat=1 frequency=0 presence=0   over the last last_n tokens of the
//                history (-1: all, 0: off): x_t = x_t <= 0 ? x_t*repeat : x_t/repeat, then
//                x_t -= c_t*frequency + [c_t > 0]*presence, c_t the count of t (llama.cpp).
//   dry          multiplier=0 base=1.75 allowed_length=2 last_n=-1   (0 multiplier: off);
//                sequence breakers in ChainStage::sequence_breakers.
//   top_k        k=40 min_keep=1       keeps the max(k, min_keep) highest logits; k <= 0: off.
//   typical      p=1 min_keep=1        locally typical sampling; p >= 1: off.
//   top_p        p=0.95 min_keep=1     shortest prefix with mass >= p - 1e-6; p >= 1: off.
//   min_p        p=0.05 min_keep=1     x_i >= max + log(p); p <= 0: off.
//   xtc          probability=0 threshold=0.1 min_keep=1   threshold > 0.5 or probability 0: off.
//   top_n_sigma  n=-1                  x_i >= max - n*sigma over the finite logits; n <= 0: off.
//   epsilon      epsilon=0.0003 min_keep=1   p_i >= epsilon (Hewitt et al. 2022); 0: off.
//   eta          epsilon=0.002 min_keep=1    p_i >= min(eps, sqrt(eps)*exp(-H)); 0: off.
//   temp         t=0.8                 x_i /= t; t = 0: only the first maximal logit remains.
//   dynatemp     t=0.8 delta=0 exponent=1    entropy-scaled temperature in [t-delta, t+delta].
//   mirostat     tau=5 eta=0.1 m=100   Mirostat 1.0 (Basu et al. 2021): the last stage.
//   mirostat_v2  tau=5 eta=0.1         Mirostat 2.0: the last stage.
struct ChainStage {
  std::string name;
  std::vector<std::pair<std::string, double>> params;
  // dry only: token sequences that end a repetition (llama.cpp's tokenized breakers); each
  // non-empty, token ids in [0, vocabulary).
  std::vector<std::vector<std::int32_t>> sequence_breakers;
};

// Per-row inputs of a chain call. The spans are not owned: they must stay valid during the call.
struct ChainContext {
  std::span<const std::int32_t> history;  // earlier tokens, oldest first; ids in [0, V)
  std::span<const TokenBias> logit_bias;  // applied before the first stage; ids in [0, V)
  std::uint64_t seed = 0;
};

// Mirostat's running surprise target mu, carried between steps by the caller. NaN (the default)
// starts at 2 * tau, as llama.cpp does.
struct MirostatState {
  double mu = std::numeric_limits<double>::quiet_NaN();
};

// A chain of stages. Build once, call from any number of threads (const methods are reentrant).
//
// Semantics (docs/sampling.md): the candidates start as every token whose logit (after
// logit_bias) is finite, in index order; each stage transforms or filters the candidates the
// previous stage left, and a stage that needs probabilities computes the softmax over those
// candidates (it renormalises where llama.cpp does). Logits, probabilities and sums are in
// double; stages that rank use logit descending, the lower index first among ties. The final
// draw is an inverse-CDF scan of the survivors' renormalised probabilities, in their final order,
// with u = philox_uniform(seed, stream, step); XTC's coin uses the other 64 bits of the same
// Philox block. +inf logits: only the +inf entries remain, with equal logits 0. Same tokens on
// every SIMD target, thread count and batch composition.
// Accuracy: each weight exp(x_i - max) in double (libm's exp, within 1 ULP of double), sums in
// double in list order: the final probabilities are within 1e-14 relative of the exact softmax of
// the survivors before their rounding to float (distribution()); logprob within 1e-6 absolute.
// A survivor set decided by a comparison (top_p's mass, min_p's logit test, typical's score)
// is exact but for values within that rounding of the boundary.
// Cost: top_k on the full row is the SIMD rising-threshold filter (no sort of the vocabulary);
// top_p and typical on a long list sort growing prefixes (256, 2048, ...) until the mass is
// reached; xtc and mirostat_v2 filter without sorting; mirostat sorts its first m, then k.
// Without a leading top_k a stage works on every finite token in double (docs/performance.md).
class LOGITKIT_API SamplerChain {
 public:
  // From a spec: comma-separated stages, each `name`, `name=value` or `name=a:b[:c...]`
  // (positional parameters in the order above), e.g.
  // "penalties=64:1.1,dry=0.8,top_k=40,typical=0.95,top_p=0.95,min_p=0.05,xtc=0.1:0.5,temp=0.8".
  // Errors (std::invalid_argument naming the stage, its position and the value as written):
  // unknown stage, a number that does not parse, too many values, out-of-range parameters,
  // a repeated stage (only temp may repeat), mirostat/mirostat_v2 anywhere but last.
  explicit SamplerChain(std::string_view spec);
  // From stages (the same checks; unknown parameter names are errors too).
  explicit SamplerChain(std::vector<ChainStage> stages);

  const std::vector<ChainStage>& stages() const { return stages_; }
  // The canonical spec: every stage with all its parameters, e.g. "top_k=40:1,temp=0.8".
  std::string spec() const;
  // Whether the last stage is mirostat or mirostat_v2, and its initial mu (2 * tau; else NaN).
  bool has_mirostat() const;
  double initial_mu() const;

  // Draws one token. logits: one row of V >= 1 entries, no NaN, at least one > -inf after
  // logit_bias. state: mirostat's mu, read (NaN: 2 tau) and updated; nullptr: 2 tau, not kept.
  // result.logprob = log of the token's final probability; result.top: the min(top_logprobs,
  // survivors) most likely survivors. Errors name the argument (history[j], logit_bias[j],
  // logits[i], dry's sequence_breakers) and its value.
  SampleResult sample(std::span<const float> logits, const ChainContext& ctx,
                      std::uint64_t stream, std::uint64_t step, MirostatState* state = nullptr,
                      int top_logprobs = 0) const;

  // The distribution sample() draws from with the same arguments: probs[i] over the whole
  // vocabulary, 0 for removed tokens, the survivors summing to 1 within 1e-12 (double sums,
  // rounded to float). stream and step matter only for xtc's coin; state is only read.
  void distribution(std::span<const float> logits, const ChainContext& ctx, std::span<float> probs,
                    std::uint64_t stream = 0, std::uint64_t step = 0,
                    const MirostatState* state = nullptr) const;

 private:
  std::vector<ChainStage> stages_;
};

// Batch: out[r] = chains[r].sample(row r, contexts[r], streams[r], steps[r], &states[r]).
// chains, contexts and steps hold logits.rows entries or exactly 1 (used for every row);
// streams holds logits.rows entries, exactly 1, or none: then row r draws from stream r, so
// identical rows do not return the same token. states: none (nullptr per row) or logits.rows
// (each row's mirostat state, updated). Rows run on `threads` threads (0: library default);
// each result is bitwise the single-row call's, whatever the thread count and the batch.
// On invalid input std::invalid_argument names the lowest failing row; states are then unchanged.
LOGITKIT_API void sample_chain(Rows<const float> logits, std::span<const SamplerChain> chains,
                               std::span<const ChainContext> contexts,
                               std::span<const std::uint64_t> streams,
                               std::span<const std::uint64_t> steps, std::span<SampleResult> out,
                               std::span<MirostatState> states = {}, int threads = 0);

}  // namespace logitkit

#endif  // LOGITKIT_SAMPLER_CHAIN_H_
