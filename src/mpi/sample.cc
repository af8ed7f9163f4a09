// SPDX-License-Identifier: Apache-2.0
// logitkit::mpi::sample: one row's vocabulary split over the ranks. The filter chain of
// sampling.h runs on the union of the per-shard candidates (a superset of every token a filter
// can keep), which every rank gathers and processes identically; the whole row never moves.
// Collectives: the descriptor (allgather), the shard summaries (allgather: max, first argmax,
// NaN, mass), the candidate counts (allgather) and the candidates (allgatherv); greedy stops after
// the summaries; temperature alone draws inside the owning shard and broadcasts the token.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "logitkit/mpi.h"
#include "logitkit/shard.h"
#include "src/internal/temperature.h"
#include "src/mpi/collective.h"
#include "src/sampling/sampler_shared.h"

namespace logitkit::mpi {
namespace {

using detail::Descriptor;
using detail::Layout;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMaxF = std::numeric_limits<float>::max();
constexpr char kFn[] = "sample";

// The sampler's candidate (here with its global token id), ranking and top-p slack.
using internal::before;
using internal::Cand;
using internal::kTopPSlack;

[[noreturn]] void fail(const std::string& what) { detail::fail(kFn, what); }

// The sampler's own rules and messages (shard.h).
void check_params(const SamplingParams& p) {
  const std::string problem = shard::sampling_params_problem(p);
  if (!problem.empty()) fail(problem);
}

std::uint64_t params_hash(const SamplingParams& p) {
  double s[] = {p.temperature, p.top_p, p.min_p, static_cast<double>(p.top_k),
                static_cast<double>(p.min_tokens_to_keep), p.repetition_penalty,
                p.presence_penalty, p.frequency_penalty, static_cast<double>(p.top_logprobs),
                static_cast<double>(p.precision)};
  std::uint64_t h = detail::hash_bytes(s, sizeof s);
  h = detail::hash_bytes(&p.seed, sizeof p.seed, h);
  h = detail::hash_bytes(p.history.data(), p.history.size_bytes(), h);
  for (const TokenBias& b : p.logit_bias) {
    h = detail::hash_bytes(&b.token, sizeof b.token, h);
    h = detail::hash_bytes(&b.bias, sizeof b.bias, h);
  }
  return h;
}

// Per-shard facts every rank needs (allgathered).
struct Summary {
  double max = -kInf;          // of the shard's effective logits (after the +inf limit: 0 / -inf)
  double mass = 0.0;           // sum of e relative to `max` (only when top-p needs the total)
  std::int64_t first_max = -1; // global id of the shard's first maximum
  std::int64_t nan_at = -1;    // global id of the first NaN effective logit
  std::int64_t bias_nan = -1;  // first token whose bias made the effective logit NaN
  std::int64_t pinf = 0;       // +inf entries
};

using internal::min_p_threshold;  // sampler_shared.h

// The first min(k, finite) entries of the shard's ranking, ranked.
std::vector<Cand> local_top(const std::vector<float>& x, std::size_t offset, std::size_t k) {
  std::vector<Cand> c;
  if (k == 0) return c;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i] != -kInf) c.push_back({x[i], static_cast<std::int32_t>(offset + i)});
  }
  if (c.size() > k) {
    std::nth_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k - 1), c.end(), before);
    c.resize(k);
  }
  std::sort(c.begin(), c.end(), before);
  return c;
}

void add_unique(std::vector<Cand>& to, const std::vector<Cand>& from) {
  for (const Cand& c : from) {
    if (std::none_of(to.begin(), to.end(), [&](const Cand& d) { return d.i == c.i; })) to.push_back(c);
  }
}

std::vector<float> weights(const std::vector<Cand>& c, float m, double inv_tau, Precision prec,
                           double* total) {
  std::vector<float> x(c.size()), e(c.size());
  for (std::size_t j = 0; j < c.size(); ++j) x[j] = c[j].x;
  shard::sampling_weights(x, m, inv_tau, e, prec);
  double t = 0;
  for (float v : e) t += v;
  if (total) *total = t;
  return e;
}

// The draw over a kept list in its order (sampling.cc's draw_list) and the result.
SampleResult draw(const std::vector<Cand>& kept, float m, double inv_tau, double u, int want,
                  Precision prec) {
  double total = 0;
  const std::vector<float> e = weights(kept, m, inv_tau, prec, &total);
  const double target = u * total;
  double cum = 0;
  std::size_t last = 0, pick = kept.size();
  for (std::size_t j = 0; j < kept.size(); ++j) {
    if (e[j] > 0) last = j;
    cum += e[j];
    if (cum > target && e[j] > 0) {
      pick = j;
      break;
    }
  }
  if (pick == kept.size()) pick = last;
  const double log_total = std::log(total);
  auto log_p = [&](float x) {
    const double z = inv_tau == 0.0 ? 0.0 : (static_cast<double>(x) - m) * inv_tau;
    return static_cast<float>(z - log_total);
  };
  SampleResult r{};
  r.token = kept[pick].i;
  r.logprob = log_p(kept[pick].x);
  if (want > 0) {
    std::vector<Cand> top = kept;
    const std::size_t k = std::min(static_cast<std::size_t>(want), top.size());
    std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(k), top.end(), before);
    top.resize(k);
    for (const Cand& c : top) r.top.push_back({c.i, log_p(c.x)});
  }
  return r;
}

std::vector<Cand> by_index(std::vector<Cand> v) {
  std::sort(v.begin(), v.end(), [](const Cand& a, const Cand& b) { return a.i < b.i; });
  return v;
}

// The token ids of logit_bias and history against the global vocabulary of n tokens (the same
// on every rank); returns whether the penalties apply.
bool check_token_ids(const SamplingParams& p, std::size_t n) {
  for (std::size_t j = 0; j < p.logit_bias.size(); ++j) {
    const std::int32_t t = p.logit_bias[j].token;
    if (t < 0 || static_cast<std::size_t>(t) >= n) {
      fail("params.logit_bias[" + std::to_string(j) + "].token (" + std::to_string(t) +
           ") is outside [0, " + std::to_string(n) + ")");
    }
    if (std::isnan(p.logit_bias[j].bias)) {
      fail("params.logit_bias[" + std::to_string(j) + "].bias is NaN");
    }
  }
  const bool penalties = !p.history.empty() && (p.repetition_penalty != 1.0 ||
                                                p.presence_penalty != 0.0 ||
                                                p.frequency_penalty != 0.0);
  if (penalties) {
    for (std::size_t j = 0; j < p.history.size(); ++j) {
      const std::int32_t t = p.history[j];
      if (t < 0 || static_cast<std::size_t>(t) >= n) {
        fail("params.history[" + std::to_string(j) + "] (" + std::to_string(t) +
             ") is outside [0, " + std::to_string(n) + ")");
      }
    }
  }
  return penalties;
}

// The effective logits of this shard (columns [off, off + logits.size())): bias and penalties
// in double, rounded once; *mine receives the shard's max, first max, NaN and +inf facts.
std::vector<float> effective_logits(std::span<const float> logits, const SamplingParams& p,
                                    std::size_t off, bool penalties, Summary* mine_out) {
  const std::size_t V = logits.size();
  std::vector<float> x(logits.begin(), logits.end());
  Summary& mine = *mine_out;
  {
    std::vector<TokenBias> bias;
    for (const TokenBias& b : p.logit_bias) {
      if (static_cast<std::size_t>(b.token) >= off && static_cast<std::size_t>(b.token) < off + V) {
        bias.push_back(b);
      }
    }
    std::stable_sort(bias.begin(), bias.end(),
                     [](const TokenBias& a, const TokenBias& b) { return a.token < b.token; });
    std::vector<std::int32_t> hist;
    if (penalties) {
      for (std::int32_t t : p.history) {
        if (static_cast<std::size_t>(t) >= off && static_cast<std::size_t>(t) < off + V) hist.push_back(t);
      }
      std::sort(hist.begin(), hist.end());
    }
    std::size_t bi = 0, hi = 0;
    while (bi < bias.size() || hi < hist.size()) {
      const std::int32_t t = std::min(bi < bias.size() ? bias[bi].token : INT32_MAX,
                                      hi < hist.size() ? hist[hi] : INT32_MAX);
      const std::size_t lt = static_cast<std::size_t>(t) - off;
      double v = logits[lt];
      for (; bi < bias.size() && bias[bi].token == t; ++bi) v += bias[bi].bias;
      std::size_t count = 0;
      for (; hi < hist.size() && hist[hi] == t; ++hi) ++count;
      if (count > 0) {
        if (p.repetition_penalty != 1.0) v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
        v -= p.presence_penalty + p.frequency_penalty * static_cast<double>(count);
      }
      if (std::isnan(v) && !std::isnan(logits[lt]) && mine.bias_nan < 0) mine.bias_nan = t;
      x[lt] = static_cast<float>(v);
    }
  }
  for (std::size_t i = 0; i < V; ++i) {
    if (std::isnan(x[i])) {
      if (mine.nan_at < 0) mine.nan_at = static_cast<std::int64_t>(off + i);
      continue;
    }
    mine.pinf += x[i] == kInf;
    if (x[i] > mine.max) {
      mine.max = x[i];
      mine.first_max = static_cast<std::int64_t>(off + i);
    }
  }
  return x;
}

// The filters' settings, the same on every rank once the summaries are known.
struct Filters {
  const SamplingParams& p;
  float m;          // the global max of the effective logits (0 under the +inf limit)
  double inv_tau;
  bool k_on, p_on, mp_on;
  std::size_t keep;  // min_tokens_to_keep
  double p_frac;     // top_p less the slack
  float th;          // the min-p threshold (-inf when min-p is off)
};

// The first error, in the single-process order, the same on every rank.
void raise_first_error(const std::vector<Summary>& all) {
  std::int64_t bn = -1, nn = -1;
  for (const Summary& s : all) {
    if (s.bias_nan >= 0 && (bn < 0 || s.bias_nan < bn)) bn = s.bias_nan;
    if (s.nan_at >= 0 && (nn < 0 || s.nan_at < nn)) nn = s.nan_at;
  }
  if (bn >= 0) {
    fail("the effective logit of token " + std::to_string(bn) + " is NaN (logits[" +
         std::to_string(bn) + "] plus params.logit_bias is -inf + inf)");
  }
  if (nn >= 0) fail("logits[" + std::to_string(nn) + "] is NaN");
}

// Greedy: the first maximum over every shard (the first +inf under the +inf limit).
SampleResult greedy_result(const std::vector<Summary>& all, double gmax, bool pinf,
                           const SamplingParams& p) {
  std::int64_t tok = -1;
  for (const Summary& s : all) {
    if (s.max == (pinf ? static_cast<double>(kInf) : gmax) && s.first_max >= 0 &&
        (tok < 0 || s.first_max < tok)) {
      tok = s.first_max;
    }
  }
  SampleResult r{};
  r.token = static_cast<std::int32_t>(tok);
  r.logprob = 0.0f;
  if (p.top_logprobs > 0) r.top.push_back({r.token, 0.0f});
  return r;
}

// This shard's candidates (ranked): a superset of its part of every set a filter can keep.
// e holds the shard's weights about the global max.
std::vector<Cand> shard_candidates(const std::vector<float>& x, std::size_t off,
                                   const std::vector<float>& e, const Filters& f,
                                   const std::vector<Summary>& all, double gmax,
                                   std::int64_t pinf) {
  const SamplingParams& p = f.p;
  if (f.k_on) return local_top(x, off, static_cast<std::size_t>(p.top_k));
  if (f.mp_on) {
    std::vector<Cand> cand = local_top(x, off, f.keep);
    std::vector<Cand> above;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i] >= f.th && x[i] != -kInf) above.push_back({x[i], static_cast<std::int32_t>(off + i)});
    }
    add_unique(cand, above);
    return cand;
  }
  if (!f.p_on) return local_top(x, off, static_cast<std::size_t>(p.top_logprobs));
  // Top-p: the global mass estimate from the summaries (each shard's mass about its own max),
  // then this shard's top entries until they alone reach the nucleus' mass.
  double z = 0.0;
  for (const Summary& s : all) {
    if (s.max == -kInf || s.mass == 0.0) continue;
    z += s.mass * (f.inv_tau == 0.0 ? 1.0 : std::exp((s.max - gmax) * f.inv_tau));
  }
  if (pinf > 0) z = static_cast<double>(pinf);
  const double t = f.p_frac * z * (1.0 + 1e-6);
  std::vector<Cand> cand;
  for (std::size_t c = std::max<std::size_t>(f.keep, 64);; c *= 4) {
    cand = local_top(x, off, c);
    double cum = 0;
    bool reached = false;
    for (const Cand& k : cand) {
      cum += e[static_cast<std::size_t>(k.i) - off];
      if (cum >= t) {
        reached = true;
        break;
      }
    }
    if (reached || cand.size() < c) return cand;
  }
}

// Every shard's candidates (ranked) and exact mass.
struct Gathered {
  std::vector<Cand> g;        // the union of the candidates, ranked
  std::vector<double> mass;   // per rank: its sum of weights about the global max
  double ztot = 0.0;          // their sum
};

Gathered gather_candidates(MPI_Comm comm, int rank, std::size_t ranks,
                           const std::vector<Cand>& cand, double zmine) {
  struct Count {
    double mass;
    std::int64_t n;
  } cm{zmine, static_cast<std::int64_t>(cand.size())};
  std::vector<Count> counts(ranks);
  MPI_Allgather(&cm, sizeof(Count), MPI_BYTE, counts.data(), sizeof(Count), MPI_BYTE, comm);
  std::vector<int> rc(ranks), displ(ranks);
  Gathered out;
  int at = 0;
  for (std::size_t r = 0; r < ranks; ++r) {
    rc[r] = static_cast<int>(counts[r].n * static_cast<std::int64_t>(sizeof(Cand)));
    displ[r] = at;
    at += rc[r];
    out.mass.push_back(counts[r].mass);
    out.ztot += counts[r].mass;
  }
  out.g.resize(static_cast<std::size_t>(at) / sizeof(Cand));
  MPI_Allgatherv(cand.data(), rc[static_cast<std::size_t>(rank)], MPI_BYTE, out.g.data(),
                 rc.data(), displ.data(), MPI_BYTE, comm);
  std::sort(out.g.begin(), out.g.end(), before);
  return out;
}

// Top-k, then top-p and min-p inside the top k (sampling.cc's order), on the gathered list.
SampleResult draw_top_k(const std::vector<Cand>& g, const Filters& f, double u) {
  const SamplingParams& p = f.p;
  std::vector<Cand> list(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                    static_cast<std::size_t>(p.top_k), g.size())));
  std::size_t L = list.size();
  if (f.p_on) {
    double total = 0;
    const std::vector<float> le = weights(list, f.m, f.inv_tau, p.precision, &total);
    const double t = f.p_frac * total;
    std::size_t lp = 1;
    if (t > 0) {
      double cum = 0;
      for (lp = 0; lp < L;) {
        cum += le[lp++];
        if (cum >= t) break;
      }
    }
    L = std::min(L, std::max(lp, std::min(f.keep, L)));
  }
  if (f.mp_on) {
    std::size_t lm = 0;
    while (lm < L && list[lm].x >= f.th) ++lm;
    L = std::min(L, std::max(lm, std::min(f.keep, L)));
  }
  list.resize(L);
  return draw(list, f.m, f.inv_tau, u, p.top_logprobs, p.precision);
}

// Min-p and/or top-p without top-k, on the gathered list (ztot: the exact total mass).
SampleResult draw_nucleus(const std::vector<Cand>& g, double ztot, const Filters& f, double u) {
  const SamplingParams& p = f.p;
  auto send = [&](const std::vector<Cand>& kept) {
    return draw(kept, f.m, f.inv_tau, u, p.top_logprobs, p.precision);
  };
  auto top_keep = [&] {
    return std::vector<Cand>(g.begin(),
                             g.begin() + static_cast<std::ptrdiff_t>(std::min(f.keep, g.size())));
  };
  // The nucleus over a ranked list: its length, and whether the mass t was reached.
  auto nucleus = [&](const std::vector<Cand>& ranked, double t, bool* reached) {
    const std::vector<float> le = weights(ranked, f.m, f.inv_tau, p.precision, nullptr);
    double cum = 0;
    for (std::size_t j = 0; j < ranked.size(); ++j) {
      cum += le[j];
      if (cum >= t) {
        *reached = true;
        return j + 1;
      }
    }
    *reached = false;
    return ranked.size();
  };
  const double t = f.p_frac * ztot;
  if (f.mp_on) {
    // sampling.cc: the min-p survivors, or the top min_tokens_to_keep (ranked) when fewer.
    std::vector<Cand> S;
    for (const Cand& c : g) if (c.x >= f.th) S.push_back(c);
    const bool few = S.size() < f.keep;
    if (few) S = top_keep();
    if (!f.p_on) return send(few ? S : by_index(S));
    if (t <= 0) return send(top_keep());
    bool reached = false;
    const std::size_t cnt = nucleus(S, t, &reached);
    if (!reached) return send(by_index(S));
    if (cnt < f.keep) return send(top_keep());
    S.resize(cnt);
    return send(by_index(S));
  }
  if (t <= 0) return send(top_keep());
  bool reached = false;
  const std::size_t cnt = nucleus(g, t, &reached);
  if (cnt < f.keep) return send(top_keep());
  return send(by_index(std::vector<Cand>(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(cnt))));
}

// Temperature alone: every finite entry is kept; the shard holding the target mass draws in
// index order and broadcasts the token. Candidates gathered: only the top_logprobs.
SampleResult draw_in_owner(MPI_Comm comm, int rank, const Gathered& gc,
                           const std::vector<float>& x, const std::vector<float>& e,
                           std::size_t off, const Filters& f, double u) {
  const double target = u * gc.ztot;
  int owner = -1;
  double before_owner = 0.0, cum = 0.0;
  for (std::size_t r = 0; r < gc.mass.size(); ++r) {
    if (gc.mass[r] > 0 && cum + gc.mass[r] > target) {
      owner = static_cast<int>(r);
      before_owner = cum;
      break;
    }
    cum += gc.mass[r];
  }
  if (owner < 0) {  // rounding: the last shard with mass
    for (std::size_t r = 0; r < gc.mass.size(); ++r) {
      if (gc.mass[r] > 0) owner = static_cast<int>(r);
    }
    before_owner = -std::numeric_limits<double>::infinity();
  }
  std::int32_t tok = 0;
  if (rank == owner) {
    double c = before_owner;
    std::size_t last = 0;
    bool found = false;
    for (std::size_t i = 0; i < e.size(); ++i) {
      if (e[i] > 0) {
        last = i;
        c += e[i];
        if (c > target) {
          tok = static_cast<std::int32_t>(off + i);
          found = true;
          break;
        }
      }
    }
    if (!found) tok = static_cast<std::int32_t>(off + last);
  }
  struct {
    std::int32_t tok;
    float x;
  } won{tok, rank == owner ? x[static_cast<std::size_t>(tok) - off] : 0.0f};
  MPI_Bcast(&won, sizeof won, MPI_BYTE, owner, comm);
  const double log_total = std::log(gc.ztot);
  auto log_p = [&](float v) {
    const double z = f.inv_tau == 0.0 ? 0.0 : (static_cast<double>(v) - f.m) * f.inv_tau;
    return static_cast<float>(z - log_total);
  };
  SampleResult r{};
  r.token = won.tok;
  r.logprob = log_p(won.x);
  const std::size_t k = std::min(static_cast<std::size_t>(f.p.top_logprobs), gc.g.size());
  for (std::size_t j = 0; j < k; ++j) r.top.push_back({gc.g[j].i, log_p(gc.g[j].x)});
  return r;
}

}  // namespace

SampleResult sample(MPI_Comm comm, std::span<const float> logits, const SamplingParams& p,
                    std::uint64_t stream, std::uint64_t step) {
  detail::check_comm(kFn, comm);
  Descriptor d;
  d.rows = 1;
  d.cols = logits.size();
  d.params[0] = static_cast<double>(stream);
  d.params[1] = static_cast<double>(step);
  d.hash = params_hash(p);
  detail::capture(d, [&] {
    if (!logits.empty() && logits.data() == nullptr) fail("logits.data() is null");
    check_params(p);
  });
  static const char* const kNames[] = {"stream", "step", nullptr};
  const Layout l = detail::exchange(kFn, comm, d, kNames);
  const std::size_t n = l.total, off = l.offset, V = logits.size();
  if (n == 0) fail("logits is empty");
  if (n > static_cast<std::size_t>(INT32_MAX)) fail("logits has more than 2^31 - 1 entries");
  const bool penalties = check_token_ids(p, n);
  Summary mine;
  std::vector<float> x = effective_logits(logits, p, off, penalties, &mine);
  const internal::Temperature tau = internal::decode_temperature(p.temperature);
  const double inv_tau = tau.inv_tau;
  const bool greedy = tau.mode == internal::TauMode::kArgmax || p.top_p == 0.0 || p.top_k == 1;
  const bool k_on = p.top_k > 0 && static_cast<std::size_t>(p.top_k) < n;
  const bool p_on = p.top_p < 1.0;
  const bool mp_on = p.min_p > 0.0;
  // The +inf limit (only the +inf entries remain, equally likely) is applied after the summaries
  // tell whether any rank has one; the summaries' max/first_max already rank +inf first.
  const bool need_mass = !greedy && !k_on && p_on;
  if (need_mass && mine.nan_at < 0 && mine.bias_nan < 0 && mine.pinf == 0 && mine.max != -kInf) {
    std::vector<float> e(V);
    mine.mass = shard::sampling_weights(x, static_cast<float>(mine.max), inv_tau, e, p.precision);
  }
  std::vector<Summary> all(static_cast<std::size_t>(l.size));
  MPI_Allgather(&mine, sizeof(Summary), MPI_BYTE, all.data(), sizeof(Summary), MPI_BYTE, comm);

  raise_first_error(all);
  double gmax = -kInf;
  std::int64_t pinf = 0;
  for (const Summary& s : all) gmax = std::max(gmax, s.max), pinf += s.pinf;
  if (gmax == -kInf) {
    fail("every logit is -inf (after logit_bias and penalties): there is nothing to sample");
  }
  if (pinf > 0) {  // the limit: only the +inf entries remain, with equal weight
    for (float& v : x) v = v == kInf ? 0.0f : -kInf;
    gmax = 0.0;
  }
  if (greedy) return greedy_result(all, gmax, pinf > 0, p);
  const float m = static_cast<float>(gmax);
  const Filters f{p,
                  m,
                  inv_tau,
                  k_on,
                  p_on,
                  mp_on,
                  static_cast<std::size_t>(p.min_tokens_to_keep),
                  std::max(p.top_p - kTopPSlack, 0.0),
                  mp_on ? min_p_threshold(m, inv_tau, p.min_p) : -kInf};
  std::vector<float> e(V);
  const double zmine = V ? shard::sampling_weights(x, m, inv_tau, e, p.precision) : 0.0;
  const std::vector<Cand> cand = shard_candidates(x, off, e, f, all, gmax, pinf);
  const Gathered gc = gather_candidates(comm, l.rank, all.size(), cand, zmine);
  const double u = philox_uniform(p.seed, stream, step);
  if (k_on) return draw_top_k(gc.g, f, u);
  if (mp_on || p_on) return draw_nucleus(gc.g, gc.ztot, f, u);
  return draw_in_owner(comm, l.rank, gc, x, e, off, f, u);
}

}  // namespace logitkit::mpi
