// SPDX-License-Identifier: Apache-2.0
// `logitkit sample`: tokens drawn from one row of logits with the library's sampler, and a
// histogram of the draws beside the distribution they come from.
#include <cmath>
#include <cstdio>
#include <span>

#include "logitkit/sampling.h"
#include "tools/logitkit/commands.h"
#include "tools/logitkit/table.h"

namespace lkcli {

int run_sample(SampleArgs& a) {
  if (!a.chain.empty() || !a.history.empty()) return run_sample_chain(a);
  logitkit::SamplingParams params;
  params.temperature = parse_temperature(a.temperature);
  if (!(a.top_p >= 0 && a.top_p <= 1)) throw UsageError("--top-p must be in [0, 1]");
  if (!(a.min_p >= 0 && a.min_p <= 1)) throw UsageError("--min-p must be in [0, 1]");
  if (a.draws < 1 || a.draws > 100000000) throw UsageError("-n must be in [1, 100000000]");
  params.top_k = a.top_k;
  params.top_p = a.top_p;
  params.min_p = a.min_p;
  params.seed = a.seed;
  Input in(a.input);
  std::vector<float> x;
  std::size_t rows = 0;
  in.read<float>([&](logitkit::Rows<const float> block, std::size_t, const std::string& where) {
    rows += block.rows;
    if (rows > 1)
      throw UsageError("sample takes one row of logits, but " + where + " starts another");
    x.assign(block.data, block.data + block.cols);
  });
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) throw UsageError("sample: logit " + std::to_string(i + 1) + " is NaN");
  }
  std::vector<float> probs(x.size());
  logitkit::sampling_distribution(x, params, probs);
  std::vector<long long> counts(x.size(), 0);
  std::string tokens;
  for (long long i = 0; i < a.draws; ++i) {
    const logitkit::SampleResult r = logitkit::sample(x, params, 0, static_cast<std::uint64_t>(i));
    ++counts[static_cast<std::size_t>(r.token)];
    if (a.tokens || a.draws == 1) tokens += std::to_string(r.token) + "\n";
  }
  if (a.tokens || a.draws == 1) {
    std::fputs(tokens.c_str(), stdout);
    return 0;
  }
  Table t{{"token", "logit", "p", "drawn", "share", ""}, {}, {5}};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double share = static_cast<double>(counts[i]) / a.draws;
    t.rows.push_back({std::to_string(i), num(x[i], 6), num(probs[i], 4), std::to_string(counts[i]),
                      num(share, 4), bar(share, 30)});
  }
  std::printf("%lld draws (seed %llu, τ = %s)\n", a.draws, a.seed, a.temperature.c_str());
  std::fputs(t.render(Style(use_color())).c_str(), stdout);
  return 0;
}

}  // namespace lkcli
