// SPDX-License-Identifier: Apache-2.0
// The step-by-step softmax table for one row, shared by --explain and the tour.
#ifndef LOGITKIT_TOOLS_EXPLAIN_H_
#define LOGITKIT_TOOLS_EXPLAIN_H_

#include <string>
#include <vector>

#include "logitkit/softmax.h"
#include "table.h"

namespace lkcli {

// Logits, (scaled logits when show_scaled), shift by the max, exponentials, their sum, the
// library's probabilities and log-probabilities, logsumexp and the check that p sums to 1.
template <class T>
std::string explain_text(const std::vector<T>& x, const logitkit::SoftmaxOptions& o,
                         bool show_scaled, const Style& st);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_EXPLAIN_H_
