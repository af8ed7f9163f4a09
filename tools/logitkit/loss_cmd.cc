// SPDX-License-Identifier: Apache-2.0
// `logitkit cross-entropy`: the fused log-softmax + cross-entropy loss, per-row losses or the
// gradient p − y, for rows of logits and one class index per row.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <span>

#include "logitkit/loss.h"
#include "tools/logitkit/commands.h"

namespace lkcli {
namespace {

std::vector<std::int64_t> parse_targets(const std::vector<std::string>& texts) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string& s = texts[i];
    std::int64_t v;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      throw UsageError("--targets: entry " + std::to_string(i + 1) + ": malformed class index '" +
                       s + "'");
    }
    out.push_back(v);
  }
  return out;
}

template <class T>
void run_ce(Input& in, Writer& w, const CrossEntropyArgs& a, const logitkit::CrossEntropyOptions& o,
            const std::vector<std::int64_t>& targets) {
  std::vector<T> x;
  std::size_t rows = 0, cols = 0;
  in.read<T>([&](logitkit::Rows<const T> block, std::size_t, const std::string&) {
    for (std::size_t r = 0; r < block.rows; ++r)
      x.insert(x.end(), block.row(r), block.row(r) + block.cols);
    rows += block.rows;
    cols = block.cols;
  });
  if (targets.size() != rows) {
    throw UsageError("--targets: " + std::to_string(targets.size()) + " targets for " +
                     std::to_string(rows) + " rows");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    if (targets[r] != o.ignore_index &&
        (targets[r] < 0 || targets[r] >= static_cast<std::int64_t>(cols))) {
      throw UsageError("--targets: target " + std::to_string(targets[r]) + " of row " +
                       std::to_string(r + 1) + " is out of range [0, " + std::to_string(cols) +
                       ")");
    }
  }
  const logitkit::Rows<const T> xr{x.data(), rows, cols, cols};
  std::vector<T> grad(a.grad ? rows * cols : 0), row_loss(a.per_row ? rows : 0);
  logitkit::LossOutputs<T> out;
  if (a.grad) out.grad = {grad.data(), rows, cols, cols};
  if (a.per_row) out.row_loss = std::span<T>(row_loss);
  const double loss = logitkit::cross_entropy(xr, std::span<const std::int64_t>(targets), o, out);
  if (a.grad)
    w.rows(logitkit::Rows<const T>{grad.data(), rows, cols, cols});
  else if (a.per_row)
    w.values(std::span<const T>(row_loss));
  else {
    const T v = static_cast<T>(loss);
    w.values(std::span<const T>(&v, 1));
  }
}

}  // namespace

int run_cross_entropy(CrossEntropyArgs& a) {
  if (a.grad && a.per_row) throw UsageError("cross-entropy: choose --grad or --per-row, not both");
  logitkit::CrossEntropyOptions o;
  o.temperature = parse_temperature(a.temperature);
  if (o.temperature == 0 || std::isinf(o.temperature)) {
    throw UsageError("cross-entropy: the temperature must be finite and > 0");
  }
  if (!(a.label_smoothing >= 0 && a.label_smoothing <= 1)) {
    throw UsageError("--label-smoothing must be in [0, 1]");
  }
  o.label_smoothing = a.label_smoothing;
  o.ignore_index = a.ignore_index;
  o.reduction = a.reduction == "sum" ? logitkit::Reduction::kSum : logitkit::Reduction::kMean;
  o.precision = a.precision == "fast" ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  o.threads = a.threads;
  const std::vector<std::int64_t> targets = parse_targets(a.targets);
  Input in(a.input);
  in.require_matrix(true);
  Writer w(a.output, in);
  if (in.is_f64())
    run_ce<double>(in, w, a, o, targets);
  else
    run_ce<float>(in, w, a, o, targets);
  w.commit(in, {});
  return 0;
}

}  // namespace lkcli
