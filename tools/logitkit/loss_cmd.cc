// SPDX-License-Identifier: Apache-2.0
// The loss subcommands: `cross-entropy` (class-index or probability targets, class weights),
// `distill` (student against teacher rows) and `contrastive` (CLIP loss of two embedding files).
// Each reads its rows, calls the library once, and writes the loss, the per-row losses or the
// gradient; the library checks the options (its std::invalid_argument is the error).
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>

#include "commands.h"
#include "logitkit/loss.h"

namespace lkcli {
namespace {

constexpr long long kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr long long kInt64Max = std::numeric_limits<std::int64_t>::max();

std::vector<std::int64_t> parse_indices(const std::vector<std::string>& texts, const char* flag) {
  std::vector<std::int64_t> out;
  std::string joined;
  for (const auto& t : texts) joined += (joined.empty() ? "" : ",") + t;
  if (!texts.empty()) note_flag("target", flag, joined);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string name = std::string(flag) + " entry " + std::to_string(i + 1);
    out.push_back(parse_flag_integer(texts[i], name.c_str(), kInt64Min, kInt64Max));
  }
  return out;
}

// A whole input read into one matrix (rows of equal length).
template <class T>
struct Matrix {
  std::vector<T> data;
  std::size_t rows = 0, cols = 0;
  logitkit::Rows<const T> view() const { return {data.data(), rows, cols, cols}; }
};

// `probabilities`: every entry must be finite and >= 0 (probability targets); the error names the
// file, row and entry.
template <class T>
Matrix<T> read_matrix(Input& in, bool probabilities = false) {
  Matrix<T> m;
  in.require_matrix(true);
  in.read<T>([&](logitkit::Rows<const T> block, std::size_t, const std::string& where) {
    for (std::size_t r = 0; probabilities && r < block.rows; ++r) {
      for (std::size_t c = 0; c < block.cols; ++c) {
        const T v = block.row(r)[c];
        if (!(v >= 0 && std::isfinite(v))) {
          throw UsageError(where + (block.rows > 1 ? " + " + std::to_string(r) + " rows" : "") +
                           ", entry " + std::to_string(c + 1) +
                           ": a probability target must be finite and >= 0, got " +
                           format_value(v));
        }
      }
    }
    for (std::size_t r = 0; r < block.rows; ++r)
      m.data.insert(m.data.end(), block.row(r), block.row(r) + block.cols);
    m.rows += block.rows;
    m.cols = block.cols;
  });
  return m;
}

// A second input file (teacher rows, probability targets) read like the first.
InputSpec second_input(const std::string& path, const Input& first) {
  InputSpec s;
  s.path = path;
  s.dtype = first.is_f64() ? "float64" : "float32";
  return s;
}

// Writes the gradient, the per-row losses or the loss, as asked.
template <class T>
void write_result(Writer& w, const LossFlags& f, const Matrix<T>& grad,
                  const std::vector<T>& row_loss, double loss) {
  if (f.grad) {
    w.rows(grad.view());
  } else if (f.per_row) {
    w.values(std::span<const T>(row_loss));
  } else {
    const T v = static_cast<T>(loss);
    w.values(std::span<const T>(&v, 1));
  }
}

logitkit::Reduction parse_reduction(const std::string& s, logitkit::Reduction fallback,
                                    bool allow_batchmean) {
  if (s.empty()) return fallback;
  if (s == "mean") return logitkit::Reduction::kMean;
  if (s == "sum") return logitkit::Reduction::kSum;
  if (s == "none") return logitkit::Reduction::kNone;
  if (s == "batchmean" && allow_batchmean) return logitkit::Reduction::kBatchMean;
  throw UsageError("--reduction: expected mean, sum, none" +
                   std::string(allow_batchmean ? " or batchmean" : "") + ", got '" +
                   show_token(s) + "'");
}

void check_flags(const LossFlags& f, const char* cmd) {
  if (f.grad && f.per_row) throw UsageError(std::string(cmd) + ": choose --grad or --per-row, not both");
}

template <class T>
void run_ce(Input& in, Writer& w, CrossEntropyArgs& a, logitkit::CrossEntropyOptions o,
            const std::vector<std::int64_t>& targets) {
  const Matrix<T> x = read_matrix<T>(in);
  Matrix<T> grad;
  std::vector<T> row_loss(a.loss.per_row || o.reduction == logitkit::Reduction::kNone ? x.rows : 0);
  logitkit::LossOutputs<T> out;
  if (a.loss.grad) {
    grad = {std::vector<T>(x.rows * x.cols), x.rows, x.cols};
    out.grad = {grad.data.data(), x.rows, x.cols, x.cols};
  }
  if (!row_loss.empty()) out.row_loss = std::span<T>(row_loss);
  double loss;
  if (!a.target_probs.empty()) {
    Input yin(second_input(a.target_probs, in));
    const Matrix<T> y = read_matrix<T>(yin, true);
    loss = logitkit::cross_entropy(x.view(), y.view(), o, out);
  } else {
    loss = logitkit::cross_entropy(x.view(), std::span<const std::int64_t>(targets), o, out);
  }
  LossFlags f = a.loss;
  if (o.reduction == logitkit::Reduction::kNone && !f.grad) f.per_row = true;
  write_result(w, f, grad, row_loss, loss);
}

template <class T>
void run_kd(Input& in, Writer& w, DistillArgs& a, const logitkit::DistillationOptions& o) {
  const Matrix<T> s = read_matrix<T>(in);
  Input tin(second_input(a.teacher, in));
  const Matrix<T> t = read_matrix<T>(tin);
  Matrix<T> grad;
  std::vector<T> row_loss(a.loss.per_row || o.reduction == logitkit::Reduction::kNone ? s.rows : 0);
  logitkit::LossOutputs<T> out;
  if (a.loss.grad) {
    grad = {std::vector<T>(s.rows * s.cols), s.rows, s.cols};
    out.grad = {grad.data.data(), s.rows, s.cols, s.cols};
  }
  if (!row_loss.empty()) out.row_loss = std::span<T>(row_loss);
  const double loss = logitkit::distillation_loss(s.view(), t.view(), o, out);
  LossFlags f = a.loss;
  if (o.reduction == logitkit::Reduction::kNone && !f.grad) f.per_row = true;
  write_result(w, f, grad, row_loss, loss);
}

template <class T>
void run_clip(Input& image_in, Input& text_in, Writer& w, const ContrastiveArgs& a,
              double log_scale, const logitkit::ContrastiveOptions& o) {
  const Matrix<T> image = read_matrix<T>(image_in);
  const Matrix<T> text = read_matrix<T>(text_in);
  Matrix<T> grad;
  logitkit::ContrastiveOutputs<T> out;
  double grad_t = 0;
  if (a.grad == "image" || a.grad == "text") {
    const Matrix<T>& like = a.grad == "image" ? image : text;
    grad = {std::vector<T>(like.rows * like.cols), like.rows, like.cols};
    const logitkit::Rows<T> g{grad.data.data(), like.rows, like.cols, like.cols};
    (a.grad == "image" ? out.grad_image : out.grad_text) = g;
  } else if (a.grad == "log-scale") {
    out.grad_log_scale = &grad_t;
  }
  const double loss = logitkit::contrastive_loss(image.view(), text.view(), log_scale, o, out);
  if (!grad.data.empty()) {
    w.rows(grad.view());
  } else {
    const T v = static_cast<T>(a.grad == "log-scale" ? grad_t : loss);
    w.values(std::span<const T>(&v, 1));
  }
}

}  // namespace

int run_cross_entropy(CrossEntropyArgs& a) {
  check_flags(a.loss, "cross-entropy");
  if (a.targets.empty() == a.target_probs.empty()) {
    throw UsageError(a.targets.empty()
                         ? "cross-entropy: give the targets: -y (class indices) or --target-probs FILE"
                         : "cross-entropy: give -y (class indices) or --target-probs FILE, not both");
  }
  logitkit::CrossEntropyOptions o;
  o.temperature = parse_temperature(a.loss.temperature);
  o.label_smoothing = parse_flag_number(a.label_smoothing, "--label-smoothing", "label_smoothing");
  o.ignore_index = parse_flag_integer(a.ignore_index, "--ignore-index", kInt64Min, kInt64Max);
  o.reduction = parse_reduction(a.loss.reduction, logitkit::Reduction::kMean, false);
  o.precision =
      a.loss.precision == "fast" ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  o.threads = static_cast<int>(parse_flag_integer(a.loss.threads, "--threads", 0, 1024));
  std::vector<double> weights;
  std::string joined;
  for (const auto& t : a.weights) joined += (joined.empty() ? "" : ",") + t;
  if (!a.weights.empty()) note_flag("weight", "--weight", joined);
  for (std::size_t i = 0; i < a.weights.size(); ++i) {
    const std::string flag = "--weight entry " + std::to_string(i + 1);
    weights.push_back(parse_flag_number(a.weights[i], flag.c_str()));
  }
  o.weight = weights;
  const std::vector<std::int64_t> targets = parse_indices(a.targets, "--targets");
  Input in(a.input);
  Writer w(a.output, in);
  if (in.is_f64())
    run_ce<double>(in, w, a, o, targets);
  else
    run_ce<float>(in, w, a, o, targets);
  w.commit(in, {});
  return 0;
}

int run_distill(DistillArgs& a) {
  check_flags(a.loss, "distill");
  logitkit::DistillationOptions o;
  o.temperature = parse_temperature(a.loss.temperature);
  o.divergence = a.divergence == "reverse-kl" ? logitkit::Divergence::kReverseKL
                 : a.divergence == "js"       ? logitkit::Divergence::kJensenShannon
                                              : logitkit::Divergence::kForwardKL;
  o.js_beta = parse_flag_number(a.js_beta, "--js-beta", "js_beta");
  o.tau_squared = !a.no_tau_squared;
  o.reduction = parse_reduction(a.loss.reduction, logitkit::Reduction::kBatchMean, true);
  o.teacher_input =
      a.teacher_log_probs ? logitkit::TeacherInput::kLogProbs : logitkit::TeacherInput::kLogits;
  o.alpha = parse_flag_number(a.alpha, "--alpha", "alpha");
  const std::vector<std::int64_t> targets = parse_indices(a.targets, "--targets");
  o.target = targets;
  o.ignore_index = parse_flag_integer(a.ignore_index, "--ignore-index", kInt64Min, kInt64Max);
  o.precision =
      a.loss.precision == "fast" ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  o.threads = static_cast<int>(parse_flag_integer(a.loss.threads, "--threads", 0, 1024));
  if (o.alpha != 0 && targets.empty()) {
    throw UsageError("--alpha " + show_token(a.alpha) + " mixes in the hard labels: give them with -y");
  }
  Input in(a.input);
  Writer w(a.output, in);
  if (in.is_f64())
    run_kd<double>(in, w, a, o);
  else
    run_kd<float>(in, w, a, o);
  w.commit(in, {});
  return 0;
}

int run_contrastive(ContrastiveArgs& a) {
  if (a.files.size() != 2) throw UsageError("contrastive: give two files, image and text embeddings");
  logitkit::ContrastiveOptions o;
  o.normalize = !a.no_normalize;
  o.max_scale = parse_flag_number(a.max_scale, "--max-scale", "max_scale");
  o.threads = static_cast<int>(parse_flag_integer(a.threads, "--threads", 0, 1024));
  const double t =
      a.log_scale.empty() ? logitkit::kClipInitLogScale : parse_flag_number(a.log_scale, "--log-scale", "log_scale");
  InputSpec is, ts;
  is.path = a.files[0];
  ts.path = a.files[1];
  is.format = ts.format = a.format;
  is.dtype = ts.dtype = a.dtype;
  if (is.path == "-" && ts.path == "-") throw UsageError("contrastive: only one of the two files can be stdin");
  Input image(is), text(ts);
  if (image.is_f64() != text.is_f64()) {
    throw UsageError("contrastive: " + a.files[0] + " and " + a.files[1] +
                     " have different dtypes (use --dtype)");
  }
  Writer w(a.output, image);
  if (image.is_f64())
    run_clip<double>(image, text, w, a, t, o);
  else
    run_clip<float>(image, text, w, a, t, o);
  w.commit(image, {});
  return 0;
}

}  // namespace lkcli
