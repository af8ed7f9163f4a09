// SPDX-License-Identifier: Apache-2.0
// The sampler chain's list stages. References (read for their exact definitions):
//   llama.cpp, src/llama-sampling.cpp: llama_sampler_{penalties, dry, top_k, typical, top_p,
//     min_p, xtc, top_n_sigma, temp, temp_ext, mirostat, mirostat_v2}_apply;
//   Hugging Face transformers, src/transformers/generation/logits_process.py: EpsilonLogitsWarper,
//     EtaLogitsWarper, TopKLogitsWarper (min_tokens_to_keep).
// Everything is in double; sums run in list order, so the result is a function of the list.
#include "src/sampling/chain_stages.h"
#include "src/sampling/sampler_shared.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace logitkit::internal {
namespace {

constexpr double kInfD = std::numeric_limits<double>::infinity();
// top_p compares the running mass with p - kTopPSlack (sampler_shared.h, as SamplingParams does),
// so that a prefix whose exact mass is p is not extended by rounding.

std::size_t min_keep(double v) { return static_cast<std::size_t>(v); }

// Per-thread buffers of the stages that need one per candidate, reused across calls (a fresh
// allocation of a vocabulary's worth costs more than the stage).
struct StageScratch {
  std::vector<double> values;
  std::vector<std::size_t> order;
  std::vector<Tok> kept;
};

StageScratch& stage_scratch() {
  thread_local StageScratch s;
  return s;
}

// p_j = exp(logit_j - max) / sum, the sum in list order.
void softmax(ChainList& l) {
  double m = -kInfD;
  for (const Tok& t : l.toks) m = std::max(m, t.logit);
  double total = 0;
  for (Tok& t : l.toks) {
    t.p = std::exp(t.logit - m);
    total += t.p;
  }
  for (Tok& t : l.toks) t.p /= total;
}

void sort_list(ChainList& l) {
  if (!l.sorted) std::sort(l.toks.begin(), l.toks.end(), tok_before);
  l.sorted = true;
}

double entropy(const ChainList& l) {
  double h = 0;
  for (const Tok& t : l.toks) {
    if (t.p > 0) h -= t.p * std::log(t.p);
  }
  return h;
}

// The min(keep, size)-th largest logit (-inf when keep is 0): HF's floor for min_tokens_to_keep.
double keep_floor(const ChainList& l, std::size_t keep) {
  if (keep == 0 || l.toks.empty()) return kInfD;
  std::vector<double>& v = stage_scratch().values;
  v.resize(l.toks.size());
  for (std::size_t j = 0; j < v.size(); ++j) v[j] = l.toks[j].logit;
  const std::size_t k = std::min(keep, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + k, v.end(), std::greater<double>());
  return v[k];
}

// Inverse CDF over the list's p in list order.
std::size_t draw_index(const ChainList& l, double u) {
  double total = 0;
  for (const Tok& t : l.toks) total += t.p;
  const double target = u * total;
  double cum = 0;
  std::size_t last = 0;
  for (std::size_t j = 0; j < l.toks.size(); ++j) {
    if (l.toks[j].p > 0) last = j;
    cum += l.toks[j].p;
    if (cum > target && l.toks[j].p > 0) return j;
  }
  return last;
}

// The DRY penalties (llama.cpp's llama_sampler_dry_apply, ported from koboldcpp): for each token
// that would extend a repeat of length >= allowed_length of the history's suffix, multiplier *
// base^(length - allowed_length) (exponent capped where the power would overflow a float).
void dry_penalties(const ResolvedStage& st, std::span<const std::int32_t> history,
                   std::vector<std::pair<std::int32_t, double>>& out) {
  const double mult = st.v[0], base = st.v[1];
  const int allowed = static_cast<int>(st.v[2]), last_n = static_cast<int>(st.v[3]);
  if (mult == 0.0 || last_n == 0) return;
  const int h = static_cast<int>(history.size());
  const int w = last_n < 0 ? h : std::min(h, last_n);
  if (w <= allowed) return;
  // rat(i): the i-th token from the end of the window.
  auto rat = [&](int i) { return history[static_cast<std::size_t>(h - 1 - i)]; };
  const std::vector<std::vector<std::int32_t>>& breakers = *st.breakers;
  // Step 1: the nearest sequence breaker from the end limits the repeat length.
  int rep_limit = w;
  for (int i = 0; i < w; ++i) {
    int longest = -1;
    for (const auto& b : breakers) {
      if (b[0] != rat(i)) continue;
      const int tail = static_cast<int>(b.size()) - 1;
      if (tail > longest && tail <= i) {
        bool match = true;
        for (int o = 0; o < tail && match; ++o) match = b[1 + o] == rat(i - o - 1);
        if (match) longest = tail;
      }
    }
    if (longest >= 0) {
      rep_limit = i - longest;
      break;
    }
  }
  if (rep_limit < allowed) return;
  // Step 2: reverse Z-algorithm: repeat[w-1-k] = length of the common suffix of the window and
  // the window without its last k tokens, capped at rep_limit.
  std::vector<int> repeat(static_cast<std::size_t>(w), 0);
  {
    const int last = w - 1;
    int rt = 0, lt = 0;
    for (int k = 1; k < w; ++k) {
      if (k > rt) {
        int n = 0;
        while (n + k < w && rat(n) == rat(n + k)) ++n;
        repeat[last - k] = std::min(n, rep_limit);
        if (n > 0) {
          lt = k;
          rt = k + n - 1;
        }
      } else {
        const int p = k - lt;
        const int right = rt - k + 1;
        if (repeat[last - p] < right) {
          repeat[last - k] = std::min(repeat[last - p], rep_limit);
        } else {
          int i = rt + 1;
          while (i < w && rat(i) == rat(i - k)) ++i;
          repeat[last - k] = std::min(i - k, rep_limit);
          lt = k;
          rt = i - 1;
        }
      }
    }
  }
  // Step 3: the longest repeat each next token would extend.
  std::vector<std::pair<std::int32_t, int>> longest;
  for (int i = 0; i < w - 1; ++i) {
    if (repeat[i] >= allowed) longest.push_back({rat(w - 2 - i), repeat[i]});
  }
  std::sort(longest.begin(), longest.end());
  // Step 4: the penalties, skipping single-token breakers.
  int max_exp = 0;
  if (base > 1.000001) max_exp = static_cast<int>(88.7228391 / std::log(base));
  for (std::size_t j = 0; j < longest.size(); ++j) {
    if (j + 1 < longest.size() && longest[j + 1].first == longest[j].first) continue;  // max
    const std::int32_t tok = longest[j].first;
    bool single = false;
    for (const auto& b : breakers) single |= b.size() == 1 && b[0] == tok;
    if (single) continue;
    int e = longest[j].second - allowed;
    if (max_exp > 0 && e > max_exp) e = max_exp;
    out.push_back({tok, mult * std::pow(base, e)});
  }
}

}  // namespace

// -inf logits leave the list; +inf ones (an overflowing temperature) are the limit: only they
// remain, with equal logits.
void normalize_infinities(ChainList& l) {
  bool pos = false;
  for (const Tok& t : l.toks) pos |= t.logit == kInfD;
  if (pos) {
    std::erase_if(l.toks, [](const Tok& t) { return t.logit != kInfD; });
    for (Tok& t : l.toks) t.logit = 0;
  } else {
    std::erase_if(l.toks, [](const Tok& t) { return t.logit == -kInfD; });
  }
}

void history_adjustments(const ResolvedStage& st, std::span<const std::int32_t> history,
                         std::vector<std::pair<std::int32_t, double>>& out) {
  out.clear();
  if (st.kind == StageKind::kDry) return dry_penalties(st, history, out);
  const double last_n = st.v[0];
  if (last_n == 0 || (st.v[1] == 1.0 && st.v[2] == 0.0 && st.v[3] == 0.0)) return;
  const std::size_t w =
      last_n < 0 ? history.size() : std::min(history.size(), static_cast<std::size_t>(last_n));
  std::vector<std::int32_t> win(history.end() - static_cast<std::ptrdiff_t>(w), history.end());
  std::sort(win.begin(), win.end());
  for (std::size_t j = 0; j < win.size();) {
    std::size_t e = j;
    while (e < win.size() && win[e] == win[j]) ++e;
    out.push_back({win[j], static_cast<double>(e - j)});
    j = e;
  }
}

double adjusted(const ResolvedStage& st, double logit, double a) {
  if (st.kind == StageKind::kDry) return logit - a;
  double v = logit <= 0 ? logit * st.v[1] : logit / st.v[1];
  return v - (a * st.v[2] + (a > 0 ? st.v[3] : 0.0));
}

void apply_adjustments(ChainList& l, const ResolvedStage& st,
                       const std::vector<std::pair<std::int32_t, double>>& adj) {
  if (adj.empty()) return;
  for (Tok& t : l.toks) {
    const std::pair<std::int32_t, double> key{t.id, -kInfD};
    auto it = std::lower_bound(adj.begin(), adj.end(), key);
    if (it != adj.end() && it->first == t.id) t.logit = adjusted(st, t.logit, it->second);
  }
  l.sorted = false;
  normalize_infinities(l);
}

void top_k_list(ChainList& l, const ResolvedStage& st) {
  const double k = st.v[0];
  if (k <= 0) return;
  const std::size_t keep = std::max(static_cast<std::size_t>(k), min_keep(st.v[1]));
  if (keep >= l.toks.size()) return;
  if (!l.sorted) {
    std::partial_sort(l.toks.begin(), l.toks.begin() + static_cast<std::ptrdiff_t>(keep),
                      l.toks.end(), tok_before);
  }
  l.toks.resize(keep);
  l.sorted = true;
}

void top_p(ChainList& l, const ResolvedStage& st) {
  const double p = st.v[0];
  const std::size_t mk = min_keep(st.v[1]);
  if (p >= 1.0) return;
  softmax(l);
  const double threshold = p - kTopPSlack;
  const std::size_t n = l.toks.size();
  // The sorted prefix grows until it holds the mass: no sort of a long list's tail.
  std::size_t m = l.sorted ? n : std::min<std::size_t>(n, 256);
  for (;;) {
    if (!l.sorted) {
      std::partial_sort(l.toks.begin(), l.toks.begin() + static_cast<std::ptrdiff_t>(m),
                        l.toks.end(), tok_before);
    }
    double cum = 0;
    for (std::size_t i = 0; i < m; ++i) {
      cum += l.toks[i].p;
      if (cum >= threshold && i + 1 >= mk) {
        l.toks.resize(i + 1);
        l.sorted = true;
        return;
      }
    }
    if (m == n) {
      l.sorted = true;
      return;
    }
    m = std::min(n, m * 8);
  }
}

void min_p(ChainList& l, const ResolvedStage& st) {
  const double p = st.v[0];
  const std::size_t mk = min_keep(st.v[1]);
  if (p <= 0 || l.toks.empty()) return;
  const double lp = std::log(p);
  if (!l.sorted) {
    double m = -kInfD;
    for (const Tok& t : l.toks) m = std::max(m, t.logit);
    const double min_logit = m + lp;
    std::size_t count = 0;
    for (const Tok& t : l.toks) count += t.logit >= min_logit;
    if (count >= mk) {
      std::erase_if(l.toks, [&](const Tok& t) { return t.logit < min_logit; });
      return;
    }
  }
  sort_list(l);
  const double min_logit = l.toks[0].logit + lp;
  std::size_t i = 1;
  for (; i < l.toks.size(); ++i) {
    if (l.toks[i].logit < min_logit && i >= mk) break;
  }
  l.toks.resize(i);
}

void typical(ChainList& l, const ResolvedStage& st) {
  const double p = st.v[0];
  const std::size_t mk = std::max<std::size_t>(min_keep(st.v[1]), 1);
  if (p >= 1.0) return;
  softmax(l);
  const double h = entropy(l);
  const std::size_t n = l.toks.size();
  StageScratch& ss = stage_scratch();
  std::vector<double>& shifted = ss.values;
  shifted.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    shifted[j] = l.toks[j].p > 0 ? std::fabs(-std::log(l.toks[j].p) - h) : kInfD;
  }
  std::vector<std::size_t>& order = ss.order;
  order.resize(n);
  std::iota(order.begin(), order.end(), 0);
  auto by_score = [&](std::size_t a, std::size_t b) {
    if (shifted[a] != shifted[b]) return shifted[a] < shifted[b];
    return tok_before(l.toks[a], l.toks[b]);
  };
  // The first i where the mass reaches p (and at least min_keep tokens), then every token
  // whose score ties with it (Meister et al.'s TypicalLogitsWarper). The order by score is
  // sorted on a growing prefix (256, 2048, ...) until the cut and its ties lie inside it.
  std::size_t last = n;
  for (std::size_t m = std::min<std::size_t>(n, 256);; m = std::min(n, m * 8)) {
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(m), order.end(),
                      by_score);
    double cum = 0;
    std::size_t cut = 0;
    for (std::size_t i = 0; i < m; ++i) {
      cum += l.toks[order[i]].p;
      if (cum >= p && i + 1 >= mk) {
        cut = i + 1;
        break;
      }
    }
    if (cut > 0) {
      while (cut < m && shifted[order[cut]] == shifted[order[cut - 1]]) ++cut;
      if (cut < m || m == n) {
        last = cut;
        break;
      }
    } else if (m == n) {
      break;
    }
  }
  std::vector<Tok>& kept = ss.kept;
  kept.clear();
  for (std::size_t i = 0; i < last; ++i) kept.push_back(l.toks[order[i]]);
  l.toks.assign(kept.begin(), kept.end());  // keeps the list's capacity for the next call
  l.sorted = false;
}

void xtc(ChainList& l, const ResolvedStage& st, double coin) {
  const double probability = st.v[0], threshold = st.v[1];
  const std::size_t mk = min_keep(st.v[2]);
  if (probability <= 0 || threshold > 0.5 || l.toks.size() < 2) return;
  if (coin > probability) return;
  softmax(l);
  // The leading run of the ranking with p >= threshold is the set of such tokens (p falls with
  // the rank): no sort. All of them but the last in the ranking go, if min_keep tokens remain.
  std::size_t above = 0;
  const Tok* last = nullptr;
  for (const Tok& t : l.toks) {
    if (t.p >= threshold) {
      ++above;
      if (!last || tok_before(*last, t)) last = &t;
    }
  }
  if (above < 2 || l.toks.size() - (above - 1) < mk) return;
  const std::int32_t keep_id = last->id;
  std::erase_if(l.toks, [&](const Tok& t) { return t.p >= threshold && t.id != keep_id; });
}

void top_n_sigma(ChainList& l, const ResolvedStage& st) {
  const double n = st.v[0];
  if (n <= 0 || l.toks.size() <= 1) return;
  double m = -kInfD, sum = 0;
  for (const Tok& t : l.toks) {
    m = std::max(m, t.logit);
    sum += t.logit;
  }
  const double mean = sum / static_cast<double>(l.toks.size());
  double acc = 0;
  for (const Tok& t : l.toks) acc += (t.logit - mean) * (t.logit - mean);
  const double sigma = std::sqrt(acc / static_cast<double>(l.toks.size()));
  const double floor = m - n * sigma;
  std::erase_if(l.toks, [&](const Tok& t) { return t.logit < floor; });
}

void epsilon(ChainList& l, const ResolvedStage& st) {
  const double eps = st.v[0];
  if (eps <= 0) return;
  softmax(l);
  const double floor = keep_floor(l, min_keep(st.v[1]));
  std::erase_if(l.toks, [&](const Tok& t) { return t.p < eps && t.logit < floor; });
}

void eta(ChainList& l, const ResolvedStage& st) {
  const double eps = st.v[0];
  if (eps <= 0) return;
  softmax(l);
  const double cut = std::min(eps, std::sqrt(eps) * std::exp(-entropy(l)));
  const double floor = keep_floor(l, min_keep(st.v[1]));
  std::erase_if(l.toks, [&](const Tok& t) { return t.p < cut && t.logit < floor; });
}

void temperature(ChainList& l, double t) {
  if (l.toks.empty()) return;
  if (t == 0.0) {  // only the first maximum remains (llama.cpp's temp <= 0)
    const Tok best = *std::min_element(l.toks.begin(), l.toks.end(), tok_before);
    l.toks.assign(1, best);
    l.sorted = true;
    return;
  }
  for (Tok& x : l.toks) x.logit /= t;
  l.sorted = false;
  normalize_infinities(l);
}

void dynatemp(ChainList& l, const ResolvedStage& st) {
  const double t = st.v[0], delta = st.v[1], exponent = st.v[2];
  if (!(delta > 0)) return temperature(l, t);
  if (l.toks.size() <= 1) return;
  const double min_t = std::max(0.0, t - delta), max_t = t + delta;
  const double max_entropy = std::log(static_cast<double>(l.toks.size()));
  softmax(l);
  const double normalized = entropy(l) / max_entropy;
  temperature(l, min_t + (max_t - min_t) * std::pow(normalized, exponent));
}

std::int32_t mirostat(ChainList& l, const ResolvedStage& st, double n_vocab, double u, double* mu) {
  const double tau = st.v[0], eta_rate = st.v[1];
  const std::size_t m = static_cast<std::size_t>(st.v[2]);
  // Only the first m (then the first k) of the ranking need to be in order.
  const std::size_t head = std::min(m, l.toks.size());
  if (!l.sorted) {
    std::partial_sort(l.toks.begin(), l.toks.begin() + static_cast<std::ptrdiff_t>(head),
                      l.toks.end(), tok_before);
  }
  softmax(l);
  // Zipf exponent s from the m most likely tokens (least squares on log-rank / log-ratio).
  double sum_tb = 0, sum_tt = 0;
  for (std::size_t i = 0; i + 1 < m && i + 1 < l.toks.size(); ++i) {
    const double ti = std::log(static_cast<double>(i + 2) / static_cast<double>(i + 1));
    const double bi = std::log(l.toks[i].p / l.toks[i + 1].p);
    sum_tb += ti * bi;
    sum_tt += ti * ti;
  }
  const double s_hat = sum_tb / sum_tt;
  const double eps_hat = s_hat - 1;
  const double k =
      std::pow((eps_hat * std::pow(2.0, *mu)) / (1 - std::pow(n_vocab, -eps_hat)), 1 / s_hat);
  std::size_t keep = l.toks.size();
  if (l.toks.size() == 1) {
    keep = 1;
  } else if (k < 1) {
    keep = 1;
  } else if (k < static_cast<double>(l.toks.size())) {
    keep = static_cast<std::size_t>(k);
  }  // NaN or beyond the list: every candidate
  if (!l.sorted && keep > head) {
    std::partial_sort(l.toks.begin() + static_cast<std::ptrdiff_t>(head),
                      l.toks.begin() + static_cast<std::ptrdiff_t>(keep), l.toks.end(),
                      tok_before);
  }
  l.sorted = true;
  l.toks.resize(keep);
  softmax(l);
  const std::size_t j = draw_index(l, u);
  *mu -= eta_rate * (-std::log2(l.toks[j].p) - tau);
  return l.toks[j].id;
}

std::int32_t mirostat_v2(ChainList& l, const ResolvedStage& st, double u, double* mu) {
  const double tau = st.v[0], eta_rate = st.v[1];
  softmax(l);
  // The ranking's prefix with -log2 p <= mu is the set of such tokens (p falls with the rank):
  // filter, then sort the few kept.
  const auto it = std::min_element(l.toks.begin(), l.toks.end(), tok_before);
  const Tok best = *it;
  std::erase_if(l.toks, [&](const Tok& t) { return -std::log2(t.p) > *mu; });
  if (l.toks.empty()) l.toks.assign(1, best);
  std::sort(l.toks.begin(), l.toks.end(), tok_before);
  l.sorted = true;
  softmax(l);
  const std::size_t j = draw_index(l, u);
  *mu -= eta_rate * (-std::log2(l.toks[j].p) - tau);
  return l.toks[j].id;
}

}  // namespace logitkit::internal
