// SPDX-License-Identifier: Apache-2.0
// The `logitkit` command: argument parsing (CLI11) and dispatch to the subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "logitkit/targets.h"
#include "logitkit/version.h"
#include "tools/logitkit/commands.h"

namespace lkcli {
namespace {

// CLI11 takes "-inf" for a cluster of short flags: spell it as a number it accepts.
std::vector<std::string> normalize_arguments(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string lower;
    for (char c : a) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "-inf" || lower == "-infinity")
      a = "-1e999";
    else if (lower == "-nan")
      a = "nan";
    out.push_back(a);
  }
  std::reverse(out.begin(), out.end());  // CLI11 parses a reversed vector
  return out;
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
      ->check(CLI::NonNegativeNumber)
      ->default_str("0");
  sub->add_option("--precision", f.precision, "accurate (default) or fast")
      ->check(CLI::IsMember({"accurate", "fast"}))
      ->default_str("accurate");
}

void add_io(CLI::App* sub, InputSpec& in, OutputSpec& out) {
  sub->add_option("logits", in.values,
                  "logits of one row (inf, -inf, nan accepted), or one input file name");
  sub->add_option("-i,--input", in.path, "input file ('-' or none: stdin)");
  sub->add_option("-f,--format", in.format, "input format")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "npy"}))
      ->default_str("auto");
  sub->add_option("--dtype", in.dtype, "element type (auto: float32, or the .npy dtype)")
      ->check(CLI::IsMember({"auto", "float32", "float64"}))
      ->default_str("auto");
  sub->add_option("-o,--output", out.path, "output file (default stdout)");
  sub->add_option("-F,--output-format", out.format, "output format (auto: like the input)")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "npy"}))
      ->default_str("auto");
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
  CLI::App* c = app.add_subcommand("cross-entropy", "loss, per-row losses or gradient p − y");
  add_io(c, ce.input, ce.output);
  c->add_option("-y,--targets", ce.targets, "class index per row, comma-separated")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->required();
  c->add_option("-t,--temperature", ce.temperature, "temperature τ > 0")->default_str("1");
  c->add_option("--reduction", ce.reduction, "mean or sum over the rows")
      ->check(CLI::IsMember({"mean", "sum"}))
      ->default_str("mean");
  c->add_option("--label-smoothing", ce.label_smoothing, "ε in [0, 1] (PyTorch's ε/C)")
      ->default_str("0");
  c->add_option("--ignore-index", ce.ignore_index, "rows with this target are skipped")
      ->default_str("-100");
  c->add_option("--threads", ce.threads, "threads (0: one per hardware thread)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--precision", ce.precision, "accurate (default) or fast")
      ->check(CLI::IsMember({"accurate", "fast"}));
  c->add_flag("--grad", ce.grad, "print the gradient d loss / d logits (p − y, scaled)");
  c->add_flag("--per-row", ce.per_row, "print each row's loss");
  c->callback([&] { action = [&] { return run_cross_entropy(ce); }; });

  SampleArgs sm;
  CLI::App* s = app.add_subcommand("sample", "draw tokens from one row of logits");
  s->add_option("logits", sm.input.values, "logits of one row, or one input file name");
  s->add_option("-i,--input", sm.input.path, "input file ('-' or none: stdin)");
  s->add_option("-f,--format", sm.input.format, "input format")
      ->check(CLI::IsMember({"auto", "text", "csv", "json", "npy"}));
  s->add_option("-t,--temperature", sm.temperature, "temperature τ >= 0 (0: greedy)")
      ->default_str("1");
  s->add_option("-k,--top-k", sm.top_k, "keep the k most likely (0: off)")->default_str("0");
  s->add_option("-p,--top-p", sm.top_p, "nucleus: smallest set with mass >= p (1: off)")
      ->default_str("1");
  s->add_option("--min-p", sm.min_p, "keep p_i >= min_p · p_max (0: off)")->default_str("0");
  s->add_option("--seed", sm.seed, "random seed")->default_str("0");
  s->add_option("-n,--draws", sm.draws, "number of draws (> 1: a histogram)")->default_str("1");
  s->add_flag("--tokens", sm.tokens, "print every drawn token instead of the histogram");
  s->add_option("--chain", sm.chain,
                "sampler chain, e.g. penalties,dry,top_k=40,top_p=0.95,min_p=0.05,temp=0.8");
  s->add_option("--history", sm.history, "earlier token ids for --chain, e.g. 5,9,5");
  s->callback([&] { action = [&] { return run_sample(sm); }; });

  PlotArgs plot;
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
  pl->callback([&] { action = [&] { return run_plot(plot); }; });

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

  try {
    app.parse(normalize_arguments(argc, argv));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "logitkit: error: %s (see --help)\n", e.what());
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
    std::fprintf(stderr, "logitkit: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "logitkit: error: %s\n", e.what());
    return 1;
  }
}
