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
};

// The line colours, in order (cycled past five temperatures).
extern const char* const kChartColors[5];

// Computes softmax(logits, τ) with the library for every τ and writes `base`.svg and
// `base`.png. Throws UsageError when a file cannot be written (neither file is left behind).
void write_chart(const Chart& chart, const std::string& base);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_PLOT_H_
