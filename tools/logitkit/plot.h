// SPDX-License-Identifier: Apache-2.0
// The temperature chart (probability per class, one line per τ) drawn with cairo as SVG and PNG.
#ifndef LOGITKIT_TOOLS_PLOT_H_
#define LOGITKIT_TOOLS_PLOT_H_

#include <string>
#include <vector>

namespace lkcli {

struct Chart {
  std::vector<float> logits;
  std::vector<std::string> classes;  // one label per logit
  std::vector<double> temperatures;  // one line each
  std::string title;
  int width = 800, height = 500;
  bool heat = false;  // a heat map (a row per τ, a column per class) instead of lines
};

// The line colours up to five temperatures; more lines take colours from a continuous scale.
extern const char* const kChartColors[5];

// Computes softmax(logits, τ) with the library for every τ and writes `base`.svg and
// `base`.png. Throws UsageError when a file cannot be written (neither file is left behind).
void write_chart(const Chart& chart, const std::string& base);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_PLOT_H_
