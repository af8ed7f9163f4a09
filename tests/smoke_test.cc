// SPDX-License-Identifier: Apache-2.0
// Smoke test of the softmax family on the article's example.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/logitkit.h"

namespace logitkit {
namespace {

TEST(SmokeTest, ArticleExample) {
  std::vector<float> x = {2.0f, 1.0f, 0.1f, -1.0f};
  std::vector<float> y(4);
  softmax(one_row<const float>(x.data(), 4), one_row(y.data(), 4));
  double e[4], s = 0;
  for (int i = 0; i < 4; ++i) s += e[i] = std::exp(x[i] - 2.0);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(y[i], e[i] / s) << i;
}

}  // namespace
}  // namespace logitkit
