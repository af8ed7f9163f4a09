// SPDX-License-Identifier: Apache-2.0
// The subcommands: each parses nothing itself (main.cc fills the option structs) and returns
// the exit status, throwing UsageError for bad input.
#ifndef LOGITKIT_TOOLS_COMMANDS_H_
#define LOGITKIT_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/logitkit/common.h"
#include "tools/logitkit/io.h"

namespace lkcli {

enum class RowOp { kSoftmax, kLogSoftmax, kLogsumexp };

struct RowOpArgs {
  CommonFlags common;
  InputSpec input;
  OutputSpec output;
  bool explain = false;
  bool temperature_given = false;
};
int run_row_op(RowOp op, RowOpArgs& args);

// --explain: the step-by-step table for one row (explain.cc).
int run_explain(RowOpArgs& args);

struct CrossEntropyArgs {
  InputSpec input;
  OutputSpec output;
  std::vector<std::string> targets;  // one class index per row
  std::string temperature = "1";
  std::string reduction = "mean";  // mean|sum
  double label_smoothing = 0.0;
  long long ignore_index = -100;
  std::string precision = "accurate";
  int threads = 0;
  bool grad = false, per_row = false;
};
int run_cross_entropy(CrossEntropyArgs& args);

struct SampleArgs {
  InputSpec input;
  std::string temperature = "1";
  int top_k = 0;
  double top_p = 1.0, min_p = 0.0;
  unsigned long long seed = 0;
  long long draws = 1;
  bool tokens = false;
  std::string chain;    // --chain: a SamplerChain spec (replaces -t, -k, -p, --min-p)
  std::string history;  // --history: earlier token ids, comma-separated (for --chain)
};
int run_sample(SampleArgs& args);
int run_sample_chain(SampleArgs& args);  // chain_cmd.cc

int run_targets();

struct BenchArgs {
  std::size_t rows = 64, cols = 32000;
  double seconds = 0.3;
  std::string op = "all";
  CommonFlags common;
};
int run_bench(const BenchArgs& args);

struct PlotArgs {
  std::vector<std::string> logits;
  std::vector<std::string> classes;
  std::vector<std::string> temperatures;
  std::string title = "Softmax at different temperatures";
  std::string output = "softmax-temperature";
  int width = 800, height = 500;
};
int run_plot(const PlotArgs& args);

struct TourArgs {
  std::string plot_output = "logitkit-tour";
  bool no_plot = false;
};
int run_tour(const TourArgs& args);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_COMMANDS_H_
