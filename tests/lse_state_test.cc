// SPDX-License-Identifier: Apache-2.0
// LseState: chunk states merged in any grouping give the whole row's logsumexp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/logitkit.h"
#include "tests/reference/reference.h"
#include "tests/test_util.h"

namespace logitkit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(LseStateTest, MergedChunksMatchWholeRow) {
  LOGITKIT_SEED_TRACE();
  auto rng = test::make_rng(31);
  double worst = 0;
  for (test::Kind kind : {test::Kind::kUniform, test::Kind::kSpread, test::Kind::kMasked,
                          test::Kind::kConfident, test::Kind::kTies, test::Kind::kPlus1e4}) {
    for (double tau : {1.0, 0.07, 20.0}) {
      const std::size_t n = 1 + rng.below(50000);
      const std::vector<float> x = test::make_logits(kind, n, rng);
      const long double want = ref::row(test::to_double(x.data(), n), tau).logsumexp;
      // Random cut points, states merged left to right, right to left and as a balanced tree.
      std::vector<std::size_t> cuts = {0, n};
      for (int k = 0; k < 6; ++k) cuts.push_back(rng.below(n + 1));
      std::sort(cuts.begin(), cuts.end());
      std::vector<LseState> parts;
      for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
        parts.push_back(LseState::of(std::span<const float>(x.data() + cuts[k], cuts[k + 1] - cuts[k]), tau));
      }
      LseState left{.temperature = tau}, right{.temperature = tau};
      for (const auto& p : parts) left = left.merge(p);
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) right = it->merge(right);
      std::vector<LseState> tree = parts;
      while (tree.size() > 1) {
        std::vector<LseState> next;
        for (std::size_t k = 0; k < tree.size(); k += 2) {
          next.push_back(k + 1 < tree.size() ? tree[k].merge(tree[k + 1]) : tree[k]);
        }
        tree = next;
      }
      const LseState whole = LseState::of(std::span<const float>(x.data(), n), tau);
      for (const LseState& s : {left, right, tree[0], whole}) {
        const float got = static_cast<float>(s.logsumexp());
        const double err = ref::ulp_error_f32(got, want);
        worst = std::max(worst, err);
        EXPECT_LE(err, 2.0) << test::kind_name(kind) << " tau=" << tau << " n=" << n;
      }
      float lib = 0;
      logsumexp(one_row(x.data(), n), std::span<float>(&lib, 1), {.temperature = tau});
      EXPECT_LE(ref::ulp_distance(lib, static_cast<float>(whole.logsumexp())), 1u);
    }
  }
  std::printf("LseState merged in any grouping: max %.3g ulp (f32 result)\n", worst);
}

TEST(LseStateTest, IdentityAndSpecialChunks) {
  const LseState empty{};
  EXPECT_EQ(empty.logsumexp(), -kInf);
  const std::vector<float> a = {1.0f, 2.0f, -3.0f};
  const LseState s = LseState::of(std::span<const float>(a), 1.0);
  const LseState l = empty.merge(s), r = s.merge(empty);
  EXPECT_EQ(l.logsumexp(), s.logsumexp());
  EXPECT_EQ(r.logsumexp(), s.logsumexp());
  EXPECT_EQ(LseState::of(std::span<const float>(), 1.0).logsumexp(), -kInf);
  const std::vector<float> masked = {-test::kInf, -test::kInf};
  EXPECT_EQ(LseState::of(std::span<const float>(masked), 1.0).merge(s).logsumexp(), s.logsumexp());
  const std::vector<float> pinf = {test::kInf, 0.0f, test::kInf};
  const LseState p = LseState::of(std::span<const float>(pinf), 1.0);
  EXPECT_EQ(p.merge(s).logsumexp(), kInf);
  EXPECT_EQ(p.ties, 2.0);
  const std::vector<float> nan = {0.0f, test::kNaN};
  const LseState q = LseState::of(std::span<const float>(nan), 1.0);
  EXPECT_TRUE(std::isnan(q.merge(s).logsumexp()));
  EXPECT_TRUE(std::isnan(s.merge(q).logsumexp()));
  EXPECT_TRUE(std::isnan(p.merge(q).logsumexp()));
  // double chunks too.
  const std::vector<double> d = {1.0, 2.0, -3.0};
  EXPECT_NEAR(LseState::of(std::span<const double>(d), 1.0).logsumexp(),
              static_cast<double>(ref::row(d, 1.0).logsumexp), 1e-15);
}

TEST(LseStateTest, BadTemperatures) {
  const std::vector<float> a = {1.0f};
  const LseState s1 = LseState::of(std::span<const float>(a), 1.0);
  const LseState s2 = LseState::of(std::span<const float>(a), 2.0);
  EXPECT_THROW(s1.merge(s2), std::invalid_argument);
  for (double tau : {0.0, -1.0, kInf, std::nan("")}) {
    EXPECT_THROW(LseState::of(std::span<const float>(a), tau), std::invalid_argument) << tau;
  }
}

}  // namespace
}  // namespace logitkit
