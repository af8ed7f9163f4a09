// SPDX-License-Identifier: Apache-2.0
// The subcommands: each parses nothing itself (main.cc fills the option structs) and returns
// the exit status, throwing UsageError for bad input. Numbers given to options arrive as the text
// the user typed and are read with parse_number, so that messages show them as typed; ranges are
// checked by the library (its std::invalid_argument is the error).
#ifndef LOGITKIT_TOOLS_COMMANDS_H_
#define LOGITKIT_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

#include "common.h"
#include "io.h"

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

// The loss subcommands' shared flags.
struct LossFlags {
  std::string temperature = "1";
  std::string reduction;  // empty: the loss's default
  std::string precision = "accurate";
  std::string threads = "0";
  bool grad = false, per_row = false;
};

struct CrossEntropyArgs {
  InputSpec input;
  OutputSpec output;
  LossFlags loss;
  std::vector<std::string> targets;  // one class index per row
  std::string target_probs;          // a file of probability targets, the logits' shape
  std::vector<std::string> weights;  // one weight per class
  std::string label_smoothing = "0";
  std::string ignore_index = "-100";
};
int run_cross_entropy(CrossEntropyArgs& args);

struct DistillArgs {
  InputSpec input;  // the student's logits
  OutputSpec output;
  LossFlags loss;
  std::string teacher;               // file of teacher rows, the student's shape
  std::string divergence = "forward-kl";
  std::string js_beta = "0.5";
  bool no_tau_squared = false;
  bool teacher_log_probs = false;
  std::string alpha = "0";
  std::vector<std::string> targets;  // hard labels, needed when alpha > 0
  std::string ignore_index = "-100";
};
int run_distill(DistillArgs& args);

struct ContrastiveArgs {
  std::vector<std::string> files;  // image and text embeddings, [B, D] each
  std::string format = "auto", dtype = "auto";
  OutputSpec output;
  std::string log_scale;  // empty: CLIP's initial log(1/0.07)
  std::string max_scale = "100";
  bool no_normalize = false;
  std::string grad;  // empty, image, text or log-scale
  std::string threads = "0";
};
int run_contrastive(ContrastiveArgs& args);

// `sample`: the sampler's parameters as typed, turned into logitkit::SamplingParams by one
// function (sample_cmd.cc), then one pass over the rows.
struct SampleArgs {
  InputSpec input;
  OutputSpec output;
  std::string temperature = "1";
  std::string top_k = "0";
  std::string top_p = "1", min_p = "0";
  std::string min_tokens_to_keep = "1";
  std::string repetition_penalty = "1", presence_penalty = "0", frequency_penalty = "0";
  std::vector<std::string> history;     // token ids already generated
  std::vector<std::string> logit_bias;  // TOKEN:BIAS entries
  std::string top_logprobs = "0";
  std::string seed = "0";
  std::string draws = "1";
  std::string threads = "0";
  bool tokens = false;
  std::string chain;  // --chain: a SamplerChain spec (replaces -t, -k, -p, --min-p, penalties)
};
int run_sample(SampleArgs& args);
int run_sample_chain(SampleArgs& args);  // chain_cmd.cc

int run_targets();

struct BenchArgs {
  std::string rows = "64", cols = "32000";
  std::string seconds = "0.3";
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
  std::string width = "800", height = "500";
  std::string view = "auto";  // auto|lines|heat
};
int run_plot(const PlotArgs& args);

struct TourArgs {
  std::string plot_output = "logitkit-tour";
  bool no_plot = false;
};
int run_tour(const TourArgs& args);

// A progress line on stderr ("\r[####    ]  40% label") for work that runs past about 2 s, drawn
// only when stderr is a terminal; cleared by done() or the destructor.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // fraction in [0, 1]; negative: unknown (a count of `units` is shown instead).
  void update(double fraction, double units = 0, const char* unit = "");
  void done();

 private:
  std::string label_;
  double start_;
  bool enabled_, shown_ = false;
  double last_ = 0;
};

// The size in bytes of `count` elements of `elem` bytes, as text ("1.5 GiB"), for messages.
std::string size_text(double bytes);

// Runs `f`, turning std::bad_alloc into UsageError naming what was being allocated and its size.
template <class F>
auto with_memory(const std::string& what, double bytes, F&& f);

}  // namespace lkcli

#include <new>

namespace lkcli {
template <class F>
auto with_memory(const std::string& what, double bytes, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    throw UsageError("out of memory: " + what + " needs " + size_text(bytes));
  }
}
}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_COMMANDS_H_
