// SPDX-License-Identifier: Apache-2.0
// A consumer of the installed library: softmax of the article's example must sum to 1.
#include <cmath>
#include <cstdio>

#include "logitkit/logitkit.h"

int main() {
  const float x[4] = {2.0f, 1.0f, 0.1f, -1.0f};
  float y[4];
  logitkit::softmax(logitkit::one_row(x, 4), logitkit::one_row(y, 4));
  double s = 0;
  for (float v : y) s += v;
  std::printf("sum %.9g, p0 %.9g\n", s, y[0]);
  return (std::fabs(s - 1.0) < 1e-6 && std::fabs(y[0] - 0.638066351) < 1e-6) ? 0 : 1;
}
