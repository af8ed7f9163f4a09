// SPDX-License-Identifier: Apache-2.0
// The sampler chain's stages over a candidate list (chain.cc runs them in the chain's order).
// Each follows its reference's definition: llama.cpp's src/llama-sampling.cpp (penalties, DRY,
// top-k, typical, top-p, min-p, XTC, top-n-sigma, temperature, dynamic temperature, mirostat
// v1/v2) and Hugging Face transformers' src/transformers/generation/logits_process.py (epsilon,
// eta, top-k's min_tokens_to_keep); docs/sampling.md states the formulas and differences.
#ifndef LOGITKIT_SRC_SAMPLING_CHAIN_STAGES_H_
#define LOGITKIT_SRC_SAMPLING_CHAIN_STAGES_H_

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "src/sampling/chain_spec.h"

namespace logitkit::internal {

// A candidate: its logit (in double once on the list), its probability where a stage computed
// one, its token id.
struct Tok {
  double logit;
  double p;
  std::int32_t id;
};

// Larger logit first, lower id first among equal logits.
inline constexpr auto tok_before = [](const Tok& a, const Tok& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
};

struct ChainList {
  std::vector<Tok> toks;
  bool sorted = false;  // toks in tok_before order
};

// -inf logits leave the list; if any logit is +inf, only those remain, with logits 0.
void normalize_infinities(ChainList& l);

// penalties: (token, count in the last last_n of history); dry: (token, penalty to subtract).
// Sorted by token; empty when the stage is off.
void history_adjustments(const ResolvedStage& st, std::span<const std::int32_t> history,
                         std::vector<std::pair<std::int32_t, double>>& out);
// The logit after the stage's adjustment a (penalties: a = count; dry: a = penalty).
double adjusted(const ResolvedStage& st, double logit, double a);
void apply_adjustments(ChainList& l, const ResolvedStage& st,
                       const std::vector<std::pair<std::int32_t, double>>& adj);

void top_k_list(ChainList& l, const ResolvedStage& st);
void typical(ChainList& l, const ResolvedStage& st);
void top_p(ChainList& l, const ResolvedStage& st);
void min_p(ChainList& l, const ResolvedStage& st);
void xtc(ChainList& l, const ResolvedStage& st, double coin);
void top_n_sigma(ChainList& l, const ResolvedStage& st);
void epsilon(ChainList& l, const ResolvedStage& st);
void eta(ChainList& l, const ResolvedStage& st);
void temperature(ChainList& l, double t);
void dynatemp(ChainList& l, const ResolvedStage& st);
// Mirostat draws: returns the token and updates *mu; the list keeps the truncated set.
std::int32_t mirostat(ChainList& l, const ResolvedStage& st, double n_vocab, double u, double* mu);
std::int32_t mirostat_v2(ChainList& l, const ResolvedStage& st, double u, double* mu);

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SAMPLING_CHAIN_STAGES_H_
