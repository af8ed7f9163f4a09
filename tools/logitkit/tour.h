// SPDX-License-Identifier: Apache-2.0
// Pieces of `logitkit tour` shared between its files: section headings and row printing.
#ifndef LOGITKIT_TOOLS_TOUR_H_
#define LOGITKIT_TOOLS_TOUR_H_

#include <string>
#include <vector>

#include "table.h"

namespace lkcli::tour {

// "\n── N. title ──" in the heading style.
void section(const Style& st, int n, const std::string& title);
// Indented paragraph text.
void say(const std::string& text);
// "[a, b, c]" with `digits` significant digits.
std::string vec(const std::vector<float>& v, int digits = 6);
std::string vec(const std::vector<double>& v, int digits = 6);
// The library's softmax / log_softmax of one row at temperature tau.
std::vector<float> softmax_of(const std::vector<float>& x, double tau = 1.0);
std::vector<float> log_softmax_of(const std::vector<float>& x, double tau = 1.0);

// Sections on losses and sampling, numbered from `first`; returns the next section number.
int ml_sections(const Style& st, int first);

}  // namespace lkcli::tour

#endif  // LOGITKIT_TOOLS_TOUR_H_
