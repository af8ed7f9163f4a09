// SPDX-License-Identifier: Apache-2.0
// `logitkit sample --chain SPEC [--history IDS]`: tokens drawn from one row of logits through a
// SamplerChain (stages in the spec's order), with a histogram beside the chain's distribution.
// The library's std::invalid_argument (unknown stage, bad value, token id outside the row) is
// the error the user sees (exit 2).
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "commands.h"
#include "logitkit/sampler_chain.h"
#include "table.h"

namespace lkcli {

int run_sample_chain(SampleArgs& a) {
  if (a.temperature != "1" || a.top_k != "0" || a.top_p != "1" || a.min_p != "0" ||
      a.min_tokens_to_keep != "1") {
    throw UsageError("--chain replaces -t, -k, -p, --min-p and --min-tokens-to-keep: put temp, "
                     "top_k, top_p and min_p in the chain");
  }
  if (a.repetition_penalty != "1" || a.presence_penalty != "0" || a.frequency_penalty != "0" ||
      !a.logit_bias.empty()) {
    throw UsageError("--chain replaces the penalty options and --logit-bias: put a penalties "
                     "stage in the chain");
  }
  const long long draws = parse_flag_integer(a.draws, "-n", 1, 1000000000);
  const auto seed = static_cast<std::uint64_t>(
      parse_flag_integer(a.seed, "--seed", 0, std::numeric_limits<long long>::max()));
  std::vector<std::int32_t> history;
  for (std::size_t i = 0; i < a.history.size(); ++i) {
    const std::string flag = "--history entry " + std::to_string(i + 1);
    history.push_back(static_cast<std::int32_t>(parse_flag_integer(
        a.history[i], flag.c_str(), 0, std::numeric_limits<std::int32_t>::max())));
  }
  const logitkit::SamplerChain chain(a.chain);
  Input in(a.input);
  std::vector<float> x;
  std::size_t rows = 0;
  in.read<float>([&](logitkit::Rows<const float> block, std::size_t, const std::string& where) {
    rows += block.rows;
    if (rows > 1) {
      throw UsageError("sample --chain takes one row of logits, but " + where + " starts another");
    }
    x.assign(block.data, block.data + block.cols);
  });
  logitkit::ChainContext ctx;
  ctx.history = history;
  ctx.seed = seed;
  std::vector<float> probs(x.size());
  chain.distribution(x, ctx, probs);
  std::vector<long long> counts(x.size(), 0);
  std::string tokens;
  logitkit::MirostatState state;  // carried from draw to draw (step i)
  for (long long i = 0; i < draws; ++i) {
    const logitkit::SampleResult r = chain.sample(x, ctx, 0, static_cast<std::uint64_t>(i), &state);
    ++counts[static_cast<std::size_t>(r.token)];
    if (a.tokens || draws == 1) tokens += std::to_string(r.token) + "\n";
  }
  if (a.tokens || draws == 1) {
    std::fputs(tokens.c_str(), stdout);
    return 0;
  }
  Table t{{"token", "logit", "p", "drawn", "share", ""}, {}, {5}};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double share = static_cast<double>(counts[i]) / static_cast<double>(draws);
    t.rows.push_back({std::to_string(i), num(x[i], 6), num(probs[i], 4), std::to_string(counts[i]),
                      num(share, 4), bar(share, 30)});
  }
  std::printf("%lld draws (seed %llu, chain %s)\n", draws, static_cast<unsigned long long>(seed),
              chain.spec().c_str());
  std::fputs(t.render(Style(use_color())).c_str(), stdout);
  return 0;
}

}  // namespace lkcli
