// SPDX-License-Identifier: Apache-2.0
// `logitkit sample --chain SPEC [--history IDS]`: tokens drawn from one row of logits through a
// SamplerChain (stages in the spec's order), with a histogram beside the chain's distribution.
// The library's std::invalid_argument (unknown stage, bad value, token id outside the row) is
// the error the user sees (exit 2).
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "logitkit/sampler_chain.h"
#include "tools/logitkit/commands.h"
#include "tools/logitkit/table.h"

namespace lkcli {
namespace {

// "5,9,5" -> {5, 9, 5}; every item an integer that fits int32 (range against the row: library).
std::vector<std::int32_t> parse_history(const std::string& text) {
  std::vector<std::int32_t> out;
  if (text.empty()) return out;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    char* stop = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &stop, 10);
    if (item.empty() || stop != item.c_str() + item.size() || errno == ERANGE ||
        v < INT32_MIN || v > INT32_MAX) {
      throw UsageError("--history: '" + item + "' is not a token id (comma-separated integers)");
    }
    out.push_back(static_cast<std::int32_t>(v));
    if (end == text.size()) break;
    pos = end + 1;
  }
  return out;
}

}  // namespace

int run_sample_chain(SampleArgs& a) {
  if (a.chain.empty()) throw UsageError("--history needs --chain");
  if (a.temperature != "1" || a.top_k != 0 || a.top_p != 1.0 || a.min_p != 0.0) {
    throw UsageError("--chain replaces -t, -k, -p and --min-p: put temp, top_k, top_p, min_p "
                     "in the chain");
  }
  if (a.draws < 1 || a.draws > 100000000) throw UsageError("-n must be in [1, 100000000]");
  const logitkit::SamplerChain chain(a.chain);
  const std::vector<std::int32_t> history = parse_history(a.history);
  Input in(a.input);
  std::vector<float> x;
  std::size_t rows = 0;
  in.read<float>([&](logitkit::Rows<const float> block, std::size_t, const std::string& where) {
    rows += block.rows;
    if (rows > 1)
      throw UsageError("sample takes one row of logits, but " + where + " starts another");
    x.assign(block.data, block.data + block.cols);
  });
  logitkit::ChainContext ctx;
  ctx.history = history;
  ctx.seed = a.seed;
  std::vector<float> probs(x.size());
  chain.distribution(x, ctx, probs);
  std::vector<long long> counts(x.size(), 0);
  std::string tokens;
  logitkit::MirostatState state;  // carried from draw to draw (step i)
  for (long long i = 0; i < a.draws; ++i) {
    const logitkit::SampleResult r =
        chain.sample(x, ctx, 0, static_cast<std::uint64_t>(i), &state);
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
  std::printf("%lld draws (seed %llu, chain %s)\n", a.draws, a.seed, chain.spec().c_str());
  std::fputs(t.render(Style(use_color())).c_str(), stdout);
  return 0;
}

}  // namespace lkcli
