// SPDX-License-Identifier: Apache-2.0
// The `logitkit` command: argument parsing (CLI11) and dispatch to the subcommands.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <new>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "logitkit/targets.h"
#include "logitkit/version.h"
#include "commands.h"

namespace lkcli {
namespace {

// CLI11 takes "-inf" for a cluster of short flags: kTypedMark in front makes it a value, which
// parse_number and show_token read as the text the user typed.
std::vector<std::string> normalize_arguments(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string lower;
    for (char c : a) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "-inf" || lower == "-infinity" || lower == "-nan") a = kTypedMark + a;
    out.push_back(a);
  }
  std::reverse(out.begin(), out.end());  // CLI11 parses a reversed vector
  return out;
}

// A value as typed: without the mark normalize_arguments put in front.
std::string unmark(const std::string& v) {
  return v.size() > 1 && v[0] == kTypedMark ? v.substr(1) : v;
}

void add_common(CLI::App* sub, CommonFlags& f) {
  sub->add_option("-t,--temperature", f.temperature,
                  "temperature τ >= 0 (0: argmax limit, inf: uniform)")
      ->default_str("1");
  sub->add_option("--empty-row", f.empty_row, "a row of all -inf gives zeros or nan")
      ->check(CLI::IsMember({"zeros", "nan"}))
      ->default_str("zeros");
  sub->add_flag("--strict", f.strict, "NaN in the input is an error");
  sub->add_option("--threads", f.threads, "threads (0: one per hardware thread)")
      ->default_str("0");
  sub->add_option("--precision", f.precision, "accurate (default) or fast")
      ->check(CLI::IsMember({"accurate", "fast"}))
      ->default_str("accurate");
}

void add_input(CLI::App* sub, InputSpec& in) {
  sub->add_option("-i,--input", in.path, "input file ('-' or none: stdin)");
  sub->add_option("-f,--format", in.format, "input format (auto: from the extension or content)")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "jsonl", "npy"}))
      ->default_str("auto");
  sub->add_option("--dtype", in.dtype, "element type (auto: float32, or the .npy dtype)")
      ->check(CLI::IsMember({"auto", "float32", "float64"}))
      ->default_str("auto");
}

void add_output(CLI::App* sub, OutputSpec& out) {
  sub->add_option("-o,--output", out.path, "output file (default stdout)");
  sub->add_option("-F,--output-format", out.format, "output format (auto: like the input)")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "jsonl", "npy"}))
      ->default_str("auto");
  sub->add_flag("--line-buffered", out.line_buffered,
                "write and flush each row as soon as it is computed (default when the input "
                "is a pipe)");
}

void add_io(CLI::App* sub, InputSpec& in, OutputSpec& out) {
  sub->add_option("logits", in.values,
                  "logits of one row (inf, -inf, nan accepted), or one input file name ('-': "
                  "stdin)");
  add_input(sub, in);
  add_output(sub, out);
}

void add_loss(CLI::App* sub, LossFlags& f, const char* reductions_help) {
  sub->add_option("-t,--temperature", f.temperature, "temperature τ > 0")->default_str("1");
  sub->add_option("--reduction", f.reduction, reductions_help);
  sub->add_option("--threads", f.threads, "threads (0: one per hardware thread)")
      ->default_str("0");
  sub->add_option("--precision", f.precision, "accurate (default) or fast")
      ->check(CLI::IsMember({"accurate", "fast"}));
  sub->add_flag("--grad", f.grad, "print the gradient d loss / d logits");
  sub->add_flag("--per-row", f.per_row, "print each row's loss");
}

// Declares the cross-entropy subcommand; its callback sets `action`.
void add_cross_entropy_command(CLI::App& app, CrossEntropyArgs& ce, std::function<int()>& action) {
  CLI::App* c = app.add_subcommand(
      "cross-entropy", "loss, per-row losses or gradient p − y (class or probability targets)");
  add_io(c, ce.input, ce.output);
  add_loss(c, ce.loss, "mean (default) or sum over the rows, or none (per-row losses)");
  c->add_option("-y,--targets", ce.targets, "class index per row, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false);
  c->add_option("--target-probs", ce.target_probs,
                "file of probability targets, one row per logits row");
  c->add_option("-w,--weight", ce.weights, "class weights, comma-separated (one per class)")
      ->delimiter(',')
      ->allow_extra_args(false);
  c->add_option("--label-smoothing", ce.label_smoothing, "ε in [0, 1] (PyTorch's ε/C)")
      ->default_str("0");
  c->add_option("--ignore-index", ce.ignore_index, "rows with this target are skipped")
      ->default_str("-100");
  c->callback([act = &action, args = &ce] { *act = [args] { return run_cross_entropy(*args); }; });
}

// Declares the distill subcommand; its callback sets `action`.
void add_distill_command(CLI::App& app, DistillArgs& ds, std::function<int()>& action) {
  CLI::App* d = app.add_subcommand(
      "distill", "distillation loss of student rows against teacher rows (KL, reverse KL, JS)");
  d->add_option("logits", ds.input.values, "the student's logits: one row, or a file");
  add_input(d, ds.input);
  add_output(d, ds.output);
  add_loss(d, ds.loss, "batchmean (default), mean, sum, or none (per-row losses)");
  d->add_option("--teacher", ds.teacher, "file of teacher rows, the student's shape ('-': stdin)")
      ->required();
  d->add_option("--divergence", ds.divergence, "forward-kl, reverse-kl or js")
      ->check(CLI::IsMember({"forward-kl", "reverse-kl", "js"}))
      ->default_str("forward-kl");
  d->add_option("--js-beta", ds.js_beta, "β in (0, 1) for js")->default_str("0.5");
  d->add_flag("--no-tau-squared", ds.no_tau_squared, "do not multiply by τ² (Hinton's factor)");
  d->add_flag("--teacher-log-probs", ds.teacher_log_probs,
              "the teacher rows are log-probabilities at τ, not logits");
  d->add_option("--alpha", ds.alpha, "weight of the hard-label cross-entropy (0: off)")
      ->default_str("0");
  d->add_option("-y,--targets", ds.targets, "hard labels, one class index per row")
      ->delimiter(',')
      ->allow_extra_args(false);
  d->add_option("--ignore-index", ds.ignore_index, "hard labels equal to this are skipped")
      ->default_str("-100");
  d->callback([act = &action, args = &ds] { *act = [args] { return run_distill(*args); }; });
}

// Declares the contrastive subcommand; its callback sets `action`.
void add_contrastive_command(CLI::App& app, ContrastiveArgs& ct, std::function<int()>& action) {
  CLI::App* ctr = app.add_subcommand(
      "contrastive", "CLIP contrastive loss of image and text embeddings ([B, D] each)");
  ctr->add_option("files", ct.files, "the image and text embedding files")->expected(2);
  ctr->add_option("-f,--format", ct.format, "input format")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "jsonl", "npy"}));
  ctr->add_option("--dtype", ct.dtype, "element type")
      ->check(CLI::IsMember({"auto", "float32", "float64"}));
  add_output(ctr, ct.output);
  ctr->add_option("--log-scale", ct.log_scale, "t: scale = min(exp(t), max scale) (default log(1/0.07))");
  ctr->add_option("--max-scale", ct.max_scale, "the scale's cap")->default_str("100");
  ctr->add_flag("--no-normalize", ct.no_normalize, "use the embeddings as given (no L2 norm)");
  ctr->add_option("--grad", ct.grad, "print a gradient instead of the loss")
      ->check(CLI::IsMember({"image", "text", "log-scale"}));
  ctr->add_option("--threads", ct.threads, "threads (0: one per hardware thread)");
  ctr->callback([act = &action, args = &ct] { *act = [args] { return run_contrastive(*args); }; });
}

// Declares the sample subcommand; its callback sets `action`.
void add_sample_command(CLI::App& app, SampleArgs& sm, std::function<int()>& action) {
  CLI::App* s = app.add_subcommand(
      "sample", "draw tokens from rows of logits (one token per row, or a histogram of one row)");
  s->add_option("logits", sm.input.values, "logits of one row, or one input file name");
  add_input(s, sm.input);
  add_output(s, sm.output);
  s->add_option("-t,--temperature", sm.temperature, "temperature τ >= 0 (0: greedy)")
      ->default_str("1");
  s->add_option("-k,--top-k", sm.top_k, "keep the k most likely (0: off)")->default_str("0");
  s->add_option("-p,--top-p", sm.top_p, "nucleus: smallest set with mass >= p (1: off)")
      ->default_str("1");
  s->add_option("--min-p", sm.min_p, "keep p_i >= min_p · p_max (0: off)")->default_str("0");
  s->add_option("--min-tokens-to-keep", sm.min_tokens_to_keep, "the filters keep at least this many")
      ->default_str("1");
  s->add_option("--repetition-penalty", sm.repetition_penalty,
                "divide positive (multiply negative) logits of tokens in --history (1: off)")
      ->default_str("1");
  s->add_option("--presence-penalty", sm.presence_penalty,
                "subtract from the logits of tokens in --history")
      ->default_str("0");
  s->add_option("--frequency-penalty", sm.frequency_penalty,
                "subtract, times the count in --history")
      ->default_str("0");
  s->add_option("--history", sm.history,
                "token ids already generated, comma-separated (penalties; with --chain, its stages)")
      ->delimiter(',')
      ->allow_extra_args(false);
  s->add_option("--logit-bias", sm.logit_bias, "TOKEN:BIAS, comma-separated (-inf bans)")
      ->delimiter(',')
      ->allow_extra_args(false);
  s->add_option("--top-logprobs", sm.top_logprobs, "also print this many most likely tokens")
      ->default_str("0");
  s->add_option("--seed", sm.seed, "random seed")->default_str("0");
  s->add_option("-n,--draws", sm.draws, "draws per row (> 1 with one row: a histogram)")
      ->default_str("1");
  s->add_option("--threads", sm.threads, "threads for batch rows (0: one per hardware thread)");
  s->add_flag("--tokens", sm.tokens, "print every drawn token instead of the histogram");
  s->add_option("--chain", sm.chain,
                "sampler chain, e.g. penalties,dry,top_k=40,top_p=0.95,min_p=0.05,temp=0.8");
  s->callback([act = &action, args = &sm] { *act = [args] { return run_sample(*args); }; });
}

// Declares the plot subcommand; its callback sets `action`.
void add_plot_command(CLI::App& app, PlotArgs& plot, std::function<int()>& action) {
  CLI::App* pl = app.add_subcommand("plot", "the temperature chart as SVG and PNG");
  pl->add_option("logits", plot.logits, "logits (default: 2.0 1.0 0.5 -0.5 -1.0)");
  pl->add_option("-c,--classes", plot.classes, "class names, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false);
  pl->add_option("-T,--temperatures", plot.temperatures,
                 "temperatures, comma-separated (default: 0.2,0.5,1,2,5)")
      ->delimiter(',')
      ->allow_extra_args(false);
  pl->add_option("-o,--output", plot.output, "output base name: writes BASE.svg and BASE.png")
      ->default_str("softmax-temperature");
  pl->add_option("--title", plot.title, "chart title");
  pl->add_option("--width", plot.width, "image width in pixels")->default_str("800");
  pl->add_option("--height", plot.height, "image height in pixels")->default_str("500");
  pl->add_option("--view", plot.view,
                 "lines (one line per τ), heat (a row per τ, a column per class) or auto "
                 "(lines up to 40 classes)")
      ->check(CLI::IsMember({"auto", "lines", "heat"}))
      ->default_str("auto");
  pl->callback([act = &action, args = &plot] { *act = [args] { return run_plot(*args); }; });
}

int run(int argc, char** argv) {
  CLI::App app{"logitkit " LOGITKIT_VERSION_STRING
               ": logits to probabilities, fast and without numerical surprises.\n"
               "Start with `logitkit tour`."};
  app.name("logitkit");
  app.set_version_flag("--version", "logitkit " LOGITKIT_VERSION_STRING);
  app.require_subcommand(0, 1);
  app.fallthrough();
  std::string target;
  app.add_option("--target", target, "force one SIMD target (see `logitkit targets`)");

  std::function<int()> action;

  TourArgs tour;
  CLI::App* tr = app.add_subcommand(
      "tour", "the guided tour: softmax, temperature, stability, losses, sampling, quiz");
  tr->add_option("--plot-output", tour.plot_output, "base name of the chart it writes")
      ->default_str("logitkit-tour");
  tr->add_flag("--no-plot", tour.no_plot, "do not write the chart");
  tr->callback([&] { action = [&] { return run_tour(tour); }; });

  RowOpArgs row_args;
  struct RowCmd {
    const char* name;
    const char* help;
    RowOp op;
  };
  for (const RowCmd& c :
       {RowCmd{"softmax", "probabilities: exp((x_i - max)/τ) / sum", RowOp::kSoftmax},
        RowCmd{"log-softmax", "log-probabilities, stable", RowOp::kLogSoftmax},
        RowCmd{"logsumexp", "log(sum_i exp(x_i/τ)) per row", RowOp::kLogsumexp}}) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    add_common(sub, row_args.common);
    add_io(sub, row_args.input, row_args.output);
    sub->add_flag("--explain", row_args.explain,
                  "print the step-by-step table for one row (max, shift, exp, sum, p)");
    const RowOp op = c.op;
    sub->callback([&, sub, op] {
      row_args.temperature_given = sub->count("--temperature") > 0;
      action = [&, op] { return run_row_op(op, row_args); };
    });
  }

  CrossEntropyArgs ce;
  add_cross_entropy_command(app, ce, action);

  DistillArgs ds;
  add_distill_command(app, ds, action);

  ContrastiveArgs ct;
  add_contrastive_command(app, ct, action);

  SampleArgs sm;
  add_sample_command(app, sm, action);

  PlotArgs plot;
  add_plot_command(app, plot, action);

  CLI::App* targets = app.add_subcommand("targets", "SIMD targets: compiled, supported, chosen");
  targets->callback([&] { action = [] { return run_targets(); }; });

  BenchArgs bench;
  CLI::App* b = app.add_subcommand("bench", "a quick speed check of this machine");
  b->add_option("--rows", bench.rows, "rows")->default_str("64");
  b->add_option("--cols", bench.cols, "columns")->default_str("32000");
  b->add_option("--seconds", bench.seconds, "seconds per operation")->default_str("0.3");
  b->add_option("--op", bench.op, "operation")
      ->check(CLI::IsMember({"all", "softmax", "log-softmax", "logsumexp"}))
      ->default_str("all");
  add_common(b, bench.common);
  b->callback([&] { action = [&] { return run_bench(bench); }; });

  // Every option value and positional argument loses the mark normalize_arguments put in front.
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    for (CLI::Option* opt : sub->get_options()) opt->transform(unmark);
  }
  for (CLI::Option* opt : app.get_options()) opt->transform(unmark);
  try {
    app.parse(normalize_arguments(argc, argv));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string what = e.what();
    what.erase(std::remove(what.begin(), what.end(), kTypedMark), what.end());
    std::fprintf(stderr, "logitkit: error: %s (see --help)\n", what.c_str());
    return 2;
  }
  if (!action) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (!target.empty() && !logitkit::force_target(target)) {
    std::string supported;
    for (const auto& s : logitkit::targets().supported) supported += " " + s;
    throw UsageError("--target " + target + " is not a supported target (supported:" + supported +
                     ")");
  }
  return action();
}

}  // namespace
}  // namespace lkcli

int main(int argc, char** argv) {
  try {
    return lkcli::run(argc, argv);
  } catch (const lkcli::UsageError& e) {
    std::fprintf(stderr, "logitkit: error: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    // The library's precondition messages, which name the argument and the value; the flag
    // that set it and the value as typed go in front.
    std::fprintf(stderr, "logitkit: error: %s\n", lkcli::library_error(e.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "logitkit: error: out of memory (the input is larger than this machine "
                         "can hold)\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "logitkit: error: %s\n", e.what());
    return 1;
  }
}
