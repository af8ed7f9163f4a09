// SPDX-License-Identifier: Apache-2.0
// `logitkit sample`: tokens drawn with the library's sampler. Three stages:
//   1. SamplerConfig: the options as typed -> logitkit::SamplingParams (and the storage its spans
//      point into); every range check is the library's.
//   2. the rows: each row r (0-based) gets draws d = 0, 1, ... from stream r, step d, so a row's
//      tokens do not depend on the other rows or on the thread count;
//   3. the output: one output row of tokens per input row (text, CSV, JSON, JSON Lines, .npy;
//      written as rows arrive from a pipe), or, for one row and -n > 1, a histogram of the draws
//      beside the distribution they come from.
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>

#include "commands.h"
#include "logitkit/sampling.h"
#include "table.h"

namespace lkcli {
namespace {

// Stage 1: the sampler's parameters, with the vectors their spans point into.
struct SamplerConfig {
  logitkit::SamplingParams params;
  std::vector<std::int32_t> history;
  std::vector<logitkit::TokenBias> bias;
  long long draws = 1;
  int threads = 0;
};

std::int32_t parse_token(const std::string& text, const std::string& flag) {
  return static_cast<std::int32_t>(
      parse_flag_integer(text, flag.c_str(), 0, std::numeric_limits<std::int32_t>::max()));
}

SamplerConfig make_config(const SampleArgs& a) {
  SamplerConfig c;
  logitkit::SamplingParams& p = c.params;
  p.temperature = parse_temperature(a.temperature);
  p.top_k = static_cast<int>(parse_flag_integer(a.top_k, "--top-k", 0, 1 << 30));
  p.top_p = parse_flag_number(a.top_p, "--top-p", "top_p");
  p.min_p = parse_flag_number(a.min_p, "--min-p", "min_p");
  p.min_tokens_to_keep =
      static_cast<int>(parse_flag_integer(a.min_tokens_to_keep, "--min-tokens-to-keep", 1, 1 << 30));
  p.repetition_penalty = parse_flag_number(a.repetition_penalty, "--repetition-penalty", "repetition_penalty");
  p.presence_penalty = parse_flag_number(a.presence_penalty, "--presence-penalty", "presence_penalty");
  p.frequency_penalty = parse_flag_number(a.frequency_penalty, "--frequency-penalty", "frequency_penalty");
  p.seed = static_cast<std::uint64_t>(
      parse_flag_integer(a.seed, "--seed", 0, std::numeric_limits<long long>::max()));
  for (std::size_t i = 0; i < a.history.size(); ++i) {
    c.history.push_back(parse_token(a.history[i], "--history entry " + std::to_string(i + 1)));
  }
  for (std::size_t i = 0; i < a.logit_bias.size(); ++i) {
    const std::string& e = a.logit_bias[i];
    const std::string flag = "--logit-bias entry " + std::to_string(i + 1);
    const auto colon = e.find(':');
    if (colon == std::string::npos) {
      throw UsageError(flag + ": expected TOKEN:BIAS, got '" + show_token(e) + "'");
    }
    const std::int32_t token = parse_token(e.substr(0, colon), flag + " (token)");
    const std::string bias_text = e.substr(colon + 1);
    float bias;
    const Parsed st = parse_number(bias_text, bias);
    if (st != Parsed::kOk) throw UsageError(flag + " (bias): " + number_problem(st, bias_text, "float32"));
    c.bias.push_back({token, bias});
  }
  p.history = c.history;
  p.logit_bias = c.bias;
  c.draws = parse_flag_integer(a.draws, "-n", 1, 1000000000);
  c.threads = static_cast<int>(parse_flag_integer(a.threads, "--threads", 0, 1024));
  return c;
}

// Stage 2 and 3 for a batch of rows: each row's draws, written as one output row of tokens.
void sample_rows(logitkit::Rows<const float> x, std::size_t first_row, const SamplerConfig& c,
                 Writer& w, Progress& progress) {
  std::vector<double> tokens(x.rows * static_cast<std::size_t>(c.draws));
  std::vector<std::uint64_t> streams(x.rows), steps(1);
  std::vector<logitkit::SampleResult> out(x.rows);
  for (std::size_t r = 0; r < x.rows; ++r) streams[r] = first_row + r;
  for (long long d = 0; d < c.draws; ++d) {
    steps[0] = static_cast<std::uint64_t>(d);
    logitkit::sample(x, std::span<const logitkit::SamplingParams>(&c.params, 1), streams, steps,
                     out, c.threads);
    for (std::size_t r = 0; r < x.rows; ++r) tokens[r * c.draws + d] = out[r].token;
    progress.update(static_cast<double>(d + 1) / c.draws);
  }
  w.rows(logitkit::Rows<const double>{tokens.data(), x.rows, static_cast<std::size_t>(c.draws),
                                      static_cast<std::size_t>(c.draws)});
}

// Stage 3 for one row and -n > 1: the histogram.
int histogram(const std::vector<float>& x, const SamplerConfig& c, const SampleArgs& a,
              Progress& progress) {
  std::vector<float> probs(x.size());
  logitkit::sampling_distribution(x, c.params, probs);
  std::vector<long long> counts(x.size(), 0);
  for (long long i = 0; i < c.draws; ++i) {
    const logitkit::SampleResult r = logitkit::sample(x, c.params, 0, static_cast<std::uint64_t>(i));
    ++counts[static_cast<std::size_t>(r.token)];
    if ((i & 0xffff) == 0) progress.update(static_cast<double>(i) / c.draws);
  }
  progress.done();
  Table t{{"token", "logit", "p", "drawn", "share", ""}, {}, {5}};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double share = static_cast<double>(counts[i]) / c.draws;
    t.rows.push_back({std::to_string(i), num(x[i], 6), num(probs[i], 4), std::to_string(counts[i]),
                      num(share, 4), bar(share, 30)});
  }
  std::printf("%lld draws (seed %llu, τ = %s)\n", c.draws,
              static_cast<unsigned long long>(c.params.seed), show_token(a.temperature).c_str());
  std::fputs(t.render(Style(use_color())).c_str(), stdout);
  return 0;
}

}  // namespace

int run_sample(SampleArgs& a) {
  if (!a.chain.empty()) return run_sample_chain(a);
  const SamplerConfig c = make_config(a);
  Input in(a.input);
  // With -n > 1 the first row is held until a second one arrives: one row alone gives the
  // histogram, or with --tokens its tokens one per line.
  const bool hold_first = c.draws > 1;
  Writer w(a.output, in);
  Progress progress("sample");
  std::vector<float> first;  // the first row, held while a histogram is still possible
  std::size_t rows = 0;
  in.on_wait([&] { w.flush_now(); });
  in.read<float>([&](logitkit::Rows<const float> block, std::size_t first_row, const std::string&) {
    if (hold_first && rows == 0 && block.rows == 1) {
      first.assign(block.data, block.data + block.cols);
      rows = 1;
      return;
    }
    if (!first.empty()) {
      sample_rows(logitkit::one_row<const float>(first.data(), first.size()), 0, c, w, progress);
      first.clear();
    }
    sample_rows(block, first_row, c, w, progress);
    rows += block.rows;
  });
  if (rows == 1 && !first.empty()) {
    if (!a.tokens) return histogram(first, c, a, progress);
    std::vector<double> tokens(static_cast<std::size_t>(c.draws));
    for (long long d = 0; d < c.draws; ++d) {
      tokens[d] = logitkit::sample(first, c.params, 0, static_cast<std::uint64_t>(d)).token;
      if ((d & 0xffff) == 0) progress.update(static_cast<double>(d) / c.draws);
    }
    w.values(std::span<const double>(tokens));
  }
  progress.done();
  w.commit(in, {});
  return 0;
}

}  // namespace lkcli
