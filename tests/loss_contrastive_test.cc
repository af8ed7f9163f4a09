// SPDX-License-Identifier: Apache-2.0
// Contrastive (CLIP) loss: PyTorch golden values, a whole-matrix reference, finite differences,
// blocking and kernel invariance, edge cases and bad input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/loss.h"
#include "tests/data/loss/loss_golden.h"

namespace logitkit {
namespace {

using testing::Golden;
using LD = long double;

struct Result {
  double loss = 0, dt = 0;
  std::vector<double> gi, gt;
};

// The direct definition in long double: normalise, hold all B x B logits, softmax both ways.
Result reference(const std::vector<double>& img, const std::vector<double>& txt, std::size_t B,
                 std::size_t D, double t, const ContrastiveOptions& o) {
  auto norm_rows = [&](const std::vector<double>& u, std::vector<LD>* a, std::vector<LD>* n) {
    a->assign(B * D, 0);
    n->assign(B, 0);
    for (std::size_t i = 0; i < B; ++i) {
      LD s = 0;
      for (std::size_t k = 0; k < D; ++k) s += static_cast<LD>(u[i * D + k]) * u[i * D + k];
      (*n)[i] = std::sqrt(s);
      const LD den = o.normalize ? std::max<LD>((*n)[i], o.normalize_eps) : 1;
      for (std::size_t k = 0; k < D; ++k) (*a)[i * D + k] = u[i * D + k] / den;
    }
  };
  std::vector<LD> a, b, na, nb;
  norm_rows(img, &a, &na);
  norm_rows(txt, &b, &nb);
  const LD e = std::exp(static_cast<LD>(t));
  const bool clamped = e > o.max_scale;
  const LD s = clamped ? o.max_scale : e;
  std::vector<LD> L(B * B), P(B * B), Q(B * B);
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t j = 0; j < B; ++j) {
      LD dot = 0;
      for (std::size_t k = 0; k < D; ++k) dot += a[i * D + k] * b[j * D + k];
      L[i * B + j] = s * dot;
    }
  }
  LD loss = 0;
  for (std::size_t i = 0; i < B; ++i) {  // rows: image -> text; columns: text -> image
    LD mr = -INFINITY, mc = -INFINITY, zr = 0, zc = 0;
    for (std::size_t j = 0; j < B; ++j) {
      mr = std::max(mr, L[i * B + j]);
      mc = std::max(mc, L[j * B + i]);
    }
    for (std::size_t j = 0; j < B; ++j) {
      zr += std::exp(L[i * B + j] - mr);
      zc += std::exp(L[j * B + i] - mc);
    }
    for (std::size_t j = 0; j < B; ++j) {
      P[i * B + j] = std::exp(L[i * B + j] - mr) / zr;
      Q[j * B + i] = std::exp(L[j * B + i] - mc) / zc;
    }
    loss += (mr + std::log(zr) - L[i * B + i]) + (mc + std::log(zc) - L[i * B + i]);
  }
  const LD c = 1.0L / (2 * B);
  Result r;
  r.loss = static_cast<double>(loss * c);
  std::vector<LD> ga(B * D, 0), gb(B * D, 0);
  LD dt = 0;
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t j = 0; j < B; ++j) {
      const LD g = c * (P[i * B + j] + Q[i * B + j] - (i == j ? 2 : 0));
      dt += g * L[i * B + j];
      for (std::size_t k = 0; k < D; ++k) {
        ga[i * D + k] += s * g * b[j * D + k];
        gb[j * D + k] += s * g * a[i * D + k];
      }
    }
  }
  auto back = [&](std::vector<LD>& g, const std::vector<LD>& x, const std::vector<LD>& n) {
    std::vector<double> outv(B * D);
    for (std::size_t i = 0; i < B; ++i) {
      LD dot = 0;
      for (std::size_t k = 0; k < D; ++k) dot += x[i * D + k] * g[i * D + k];
      for (std::size_t k = 0; k < D; ++k) {
        LD v = g[i * D + k];
        if (o.normalize) {
          v = n[i] > o.normalize_eps ? (v - x[i * D + k] * dot) / n[i] : v / o.normalize_eps;
        }
        outv[i * D + k] = static_cast<double>(v);
      }
    }
    return outv;
  };
  r.gi = back(ga, a, na);
  r.gt = back(gb, b, nb);
  r.dt = clamped ? 0.0 : static_cast<double>(dt);
  return r;
}

// Runs the library on T copies of the inputs.
template <class T>
Result run(const std::vector<double>& img, const std::vector<double>& txt, std::size_t B,
           std::size_t D, double t, const ContrastiveOptions& o) {
  std::vector<T> x(img.begin(), img.end()), y(txt.begin(), txt.end());
  std::vector<T> gi(B * D), gt(B * D);
  double dt = 0;
  ContrastiveOutputs<T> out;
  out.grad_image = Rows<T>{gi.data(), B, D, D};
  out.grad_text = Rows<T>{gt.data(), B, D, D};
  out.grad_log_scale = &dt;
  Result r;
  r.loss = contrastive_loss(Rows<const T>{x.data(), B, D, D}, Rows<const T>{y.data(), B, D, D}, t,
                            o, out);
  r.dt = dt;
  r.gi.assign(gi.begin(), gi.end());
  r.gt.assign(gt.begin(), gt.end());
  return r;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// |got - want| <= tol entrywise.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol) << what << " entry " << i;
  }
}

// Tolerances. Double: the logits carry D + 2 roundings of 2^-53 relative to scale |a||b|.
// Float: the same with 2^-24, plus the float exponentials (1.5 ULP) and the float gradient
// products (B + D roundings); errors in the logits move the loss by at most their maximum and a
// gradient entry by scale * max|b| * (logit error) / B per term.
struct Tol {
  double loss, grad, dt;
};
Tol tolerance(bool is_float, std::size_t B, std::size_t D, double scale, double grad_scale,
              double dt_scale) {
  const double u = is_float ? 0x1p-24 : 0x1p-53;
  const double logit = 4 * (D + 2) * u * std::max(scale, 1.0) + 8 * u;
  return Tol{2 * logit + 8 * u, 4 * (logit + (B + D) * u) * std::max(scale, 1.0) * grad_scale + 1e-300,
             4 * (logit + B * u) * (1 + std::fabs(dt_scale)) + 1e-300};
}

void check_against(const Result& got, const Result& want, bool is_float, std::size_t B,
                   std::size_t D, double scale, const std::string& tag) {
  const double gs = std::max(max_abs(want.gi), max_abs(want.gt));
  const Tol tol = tolerance(is_float, B, D, scale, std::max(gs, 1.0 / B), scale);
  EXPECT_NEAR(got.loss, want.loss, tol.loss * std::max(1.0, std::fabs(want.loss))) << tag;
  EXPECT_NEAR(got.dt, want.dt, tol.dt) << tag;
  expect_close(got.gi, want.gi, tol.grad, tag + " grad_image");
  expect_close(got.gt, want.gt, tol.grad, tag + " grad_text");
}

std::vector<double> random_vec(std::size_t n, std::uint64_t seed, double spread = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, spread);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(nd(rng));  // float-representable
  return v;
}

ContrastiveOptions options_of(const Golden& g) {
  ContrastiveOptions o;
  o.normalize = g.d("normalize") != 0;
  o.max_scale = g.d("max_scale");
  return o;
}

TEST(ContrastiveLoss, GoldenDouble) {
  for (const Golden& g : testing::read_golden("contrastive.txt")) {
    const auto B = static_cast<std::size_t>(g.v("shape")[0]);
    const auto D = static_cast<std::size_t>(g.v("shape")[1]);
    for (bool own : {false, true}) {
      ContrastiveOptions o = options_of(g);
      o.own_matmul = own;
      o.block = 3;  // several blocks even for small B
      const Result r = run<double>(g.v("image"), g.v("text"), B, D, g.d("log_scale"), o);
      const std::string tag = g.name + (own ? " own" : " blas");
      EXPECT_NEAR(r.loss, g.d("loss"), 1e-13 * std::max(1.0, std::fabs(g.d("loss")))) << tag;
      EXPECT_NEAR(r.dt, g.d("grad_log_scale"), 1e-12) << tag;
      expect_close(r.gi, g.v("grad_image"), 1e-12, tag + " grad_image");
      expect_close(r.gt, g.v("grad_text"), 1e-12, tag + " grad_text");
    }
  }
}

TEST(ContrastiveLoss, GoldenFloatEveryTarget) {
  const auto cases = testing::read_golden("contrastive.txt");
  testing::for_each_target([&](const std::string& target) {
    for (const Golden& g : cases) {
      const auto B = static_cast<std::size_t>(g.v("shape")[0]);
      const auto D = static_cast<std::size_t>(g.v("shape")[1]);
      const double scale = std::min(std::exp(g.d("log_scale")), g.d("max_scale"));
      for (bool own : {false, true}) {
        ContrastiveOptions o = options_of(g);
        o.own_matmul = own;
        o.block = 5;
        const Result r = run<float>(g.v("image"), g.v("text"), B, D, g.d("log_scale"), o);
        Result want;
        want.loss = g.d("loss");
        want.dt = g.d("grad_log_scale");
        want.gi = g.v("grad_image");
        want.gt = g.v("grad_text");
        check_against(r, want, true, B, D, scale, g.name + " " + target + (own ? " own" : " blas"));
      }
    }
  });
}

// Against the whole-matrix reference: sizes around the block and vector widths, normalisation
// on and off, clamped and unclamped scales, both kernels, float and double.
TEST(ContrastiveLoss, MatchesWholeMatrixReference) {
  struct Case {
    std::size_t B, D, block;
    bool normalize;
    double t, spread;
  };
  const Case cases[] = {{1, 7, 0, true, 2.0, 1.0},     {2, 1, 1, true, 2.66, 1.0},
                        {9, 33, 4, true, 2.66, 1.0},   {31, 17, 8, false, 0.5, 0.4},
                        {70, 64, 0, true, 4.0, 1.0},   {130, 40, 32, true, 4.605, 1.0},
                        {65, 129, 64, false, -0.5, 0.2}, {50, 8, 7, true, 6.0, 1.0}};
  std::uint64_t seed = 10;
  for (const Case& k : cases) {
    const auto img = random_vec(k.B * k.D, ++seed, k.spread);
    const auto txt = random_vec(k.B * k.D, ++seed, k.spread);
    ContrastiveOptions o;
    o.normalize = k.normalize;
    o.block = k.block;
    const Result want = reference(img, txt, k.B, k.D, k.t, o);
    const double scale = std::min(std::exp(k.t), o.max_scale);
    for (bool own : {false, true}) {
      o.own_matmul = own;
      const std::string tag = "B=" + std::to_string(k.B) + " D=" + std::to_string(k.D) +
                              (own ? " own" : " blas");
      // Un-normalised embeddings: the logits' scale is |a||b|, not 1.
      const double mag = k.normalize ? 1.0 : k.spread * k.spread * k.D;
      check_against(run<double>(img, txt, k.B, k.D, k.t, o), want, false, k.B, k.D, scale * mag,
                    tag + " double");
      check_against(run<float>(img, txt, k.B, k.D, k.t, o), want, true, k.B, k.D, scale * mag,
                    tag + " float");
    }
  }
}

// Central differences in double for every input entry and for t.
TEST(ContrastiveLoss, GradientsMatchFiniteDifferences) {
  const std::size_t B = 5, D = 4;
  for (bool normalize : {true, false}) {
    for (double t : {2.0, 0.2}) {
      ContrastiveOptions o;
      o.normalize = normalize;
      o.block = 2;
      const auto img = random_vec(B * D, 77, normalize ? 1.0 : 0.7);
      const auto txt = random_vec(B * D, 78, normalize ? 1.0 : 0.7);
      const Result r = run<double>(img, txt, B, D, t, o);
      const double h = 1e-6;
      auto loss_at = [&](const std::vector<double>& x, const std::vector<double>& y, double tt) {
        return contrastive_loss(Rows<const double>{x.data(), B, D, D},
                                Rows<const double>{y.data(), B, D, D}, tt, o);
      };
      for (std::size_t e = 0; e < B * D; ++e) {
        auto xp = img, xm = img, yp = txt, ym = txt;
        xp[e] += h;
        xm[e] -= h;
        yp[e] += h;
        ym[e] -= h;
        EXPECT_NEAR(r.gi[e], (loss_at(xp, txt, t) - loss_at(xm, txt, t)) / (2 * h), 2e-8)
            << "image " << e << " normalize " << normalize;
        EXPECT_NEAR(r.gt[e], (loss_at(img, yp, t) - loss_at(img, ym, t)) / (2 * h), 2e-8)
            << "text " << e << " normalize " << normalize;
      }
      EXPECT_NEAR(r.dt, (loss_at(img, txt, t + h) - loss_at(img, txt, t - h)) / (2 * h), 2e-8);
      EXPECT_NE(r.dt, 0.0);
    }
  }
}

TEST(ContrastiveLoss, ScaleClampStopsTheLogScaleGradient) {
  const std::size_t B = 6, D = 5;
  const auto img = random_vec(B * D, 5), txt = random_vec(B * D, 6);
  ContrastiveOptions o;
  o.max_scale = std::exp(std::log(100.0));  // exactly the scale at t = log(100)
  const Result at = run<double>(img, txt, B, D, std::log(100.0), o);
  const Result above = run<double>(img, txt, B, D, 7.0, o);
  const Result inf = run<double>(img, txt, B, D, INFINITY, o);
  EXPECT_NEAR(above.loss, at.loss, 1e-12);
  EXPECT_EQ(above.loss, inf.loss);
  EXPECT_EQ(above.dt, 0.0);
  EXPECT_EQ(inf.dt, 0.0);
  EXPECT_NE(at.dt, 0.0);  // exp(t) == max_scale: torch.clamp passes the gradient
  expect_close(above.gi, at.gi, 1e-12, "grad_image");
  o.max_scale = 20.0;
  const Result lower = run<double>(img, txt, B, D, 3.5, o);
  EXPECT_EQ(lower.dt, 0.0);
  EXPECT_NEAR(lower.loss, reference(img, txt, B, D, std::log(20.0), o).loss, 1e-12);
  // t = -inf: scale 0, every logit 0, loss log B.
  const Result zero = run<double>(img, txt, B, D, -INFINITY, o);
  EXPECT_NEAR(zero.loss, std::log(static_cast<double>(B)), 1e-15);
}

TEST(ContrastiveLoss, SinglePairHasZeroLossAndGradient) {
  const std::vector<double> img = {0.5, -1.0, 2.0}, txt = {1.0, 0.25, -0.75};
  for (bool normalize : {true, false}) {
    ContrastiveOptions o;
    o.normalize = normalize;
    for (const Result& r : {run<double>(img, txt, 1, 3, 2.0, o), run<float>(img, txt, 1, 3, 2.0, o)}) {
      EXPECT_EQ(r.loss, 0.0);
      EXPECT_EQ(r.dt, 0.0);
      for (double v : r.gi) EXPECT_EQ(v, 0.0);
      for (double v : r.gt) EXPECT_EQ(v, 0.0);
    }
  }
}

TEST(ContrastiveLoss, BlockSizeThreadsAndStridesAgree) {
  const std::size_t B = 45, D = 21;
  const auto img = random_vec(B * D, 31), txt = random_vec(B * D, 32);
  ContrastiveOptions o;
  o.own_matmul = true;
  o.block = 8;
  o.threads = 1;
  const Result one = run<float>(img, txt, B, D, 2.66, o);
  o.threads = 3;
  const Result three = run<float>(img, txt, B, D, 2.66, o);
  EXPECT_EQ(one.loss, three.loss);  // the own kernel: same bits for every thread count
  EXPECT_EQ(one.dt, three.dt);
  EXPECT_EQ(one.gi, three.gi);
  EXPECT_EQ(one.gt, three.gt);
  const Result want = reference(img, txt, B, D, 2.66, o);
  for (std::size_t block : {1, 2, 16, 44, 45, 1000}) {
    o.block = block;
    check_against(run<double>(img, txt, B, D, 2.66, o), want, false, B, D, std::exp(2.66),
                  "block " + std::to_string(block));
  }
  // Strided inputs and outputs (row_stride > D) give the contiguous result.
  const std::size_t ld = D + 3;
  std::vector<float> x(B * ld, NAN), y(B * ld, NAN), gi(B * ld, -7.0f), gt(B * ld, -7.0f);
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t k = 0; k < D; ++k) {
      x[i * ld + k] = static_cast<float>(img[i * D + k]);
      y[i * ld + k] = static_cast<float>(txt[i * D + k]);
    }
  }
  o.block = 8;
  o.threads = 1;
  double dt = 0;
  ContrastiveOutputs<float> out{Rows<float>{gi.data(), B, D, ld}, Rows<float>{gt.data(), B, D, ld}, &dt};
  const double loss = contrastive_loss(Rows<const float>{x.data(), B, D, ld},
                                       Rows<const float>{y.data(), B, D, ld}, 2.66, o, out);
  EXPECT_EQ(loss, one.loss);
  EXPECT_EQ(dt, one.dt);
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t k = 0; k < D; ++k) {
      ASSERT_EQ(gi[i * ld + k], one.gi[i * D + k]);
      ASSERT_EQ(gt[i * ld + k], one.gt[i * D + k]);
    }
    for (std::size_t k = D; k < ld; ++k) ASSERT_EQ(gi[i * ld + k], -7.0f);  // padding untouched
  }
}

TEST(ContrastiveLoss, OptionalOutputsAndForwardOnly) {
  const std::size_t B = 12, D = 6;
  const auto img = random_vec(B * D, 41), txt = random_vec(B * D, 42);
  std::vector<double> gt(B * D);
  ContrastiveOptions o;
  const Result full = run<double>(img, txt, B, D, 1.5, o);
  const double fwd = contrastive_loss(Rows<const double>{img.data(), B, D, D},
                                      Rows<const double>{txt.data(), B, D, D}, 1.5, o);
  EXPECT_EQ(fwd, full.loss);
  ContrastiveOutputs<double> only_text;
  only_text.grad_text = Rows<double>{gt.data(), B, D, D};
  contrastive_loss(Rows<const double>{img.data(), B, D, D}, Rows<const double>{txt.data(), B, D, D},
                   1.5, o, only_text);
  EXPECT_EQ(gt, full.gt);
}

TEST(ContrastiveLoss, NonFiniteInputsGiveNaN) {
  const std::size_t B = 4, D = 3;
  for (double bad : {NAN, INFINITY, -INFINITY}) {
    auto img = random_vec(B * D, 51);
    const auto txt = random_vec(B * D, 52);
    img[7] = bad;
    for (bool own : {false, true}) {
      ContrastiveOptions o;
      o.own_matmul = own;
      const Result r = run<float>(img, txt, B, D, 2.0, o);
      EXPECT_TRUE(std::isnan(r.loss));
      EXPECT_TRUE(std::isnan(r.dt));
      for (double v : r.gi) EXPECT_TRUE(std::isnan(v));
      for (double v : r.gt) EXPECT_TRUE(std::isnan(v));
    }
  }
  // Un-normalised similarities that overflow float.
  std::vector<double> big(B * D, 1e30);
  ContrastiveOptions o;
  o.normalize = false;
  EXPECT_TRUE(std::isnan(run<float>(big, big, B, D, 0.0, o).loss));
}

TEST(ContrastiveLoss, BadInputThrowsAndWritesNothing) {
  const std::size_t B = 4, D = 3;
  std::vector<float> x(B * D, 1.0f), y(B * D, 0.5f), gi(B * D, -3.0f), gt(B * D, -3.0f);
  double dt = -3.0;
  const ContrastiveOutputs<float> out{Rows<float>{gi.data(), B, D, D}, Rows<float>{gt.data(), B, D, D}, &dt};
  const Rows<const float> img{x.data(), B, D, D}, txt{y.data(), B, D, D};
  auto expect_throw = [&](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no exception; expected one naming " << needle;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    for (float v : gi) ASSERT_EQ(v, -3.0f);
    for (float v : gt) ASSERT_EQ(v, -3.0f);
    ASSERT_EQ(dt, -3.0);
  };
  const ContrastiveOptions o;
  expect_throw([&] { contrastive_loss(img, Rows<const float>{y.data(), B - 1, D, D}, 1.0, o, out); },
               "text has B");
  expect_throw([&] { contrastive_loss(img, Rows<const float>{y.data(), B, D - 1, D}, 1.0, o, out); },
               "text has D");
  expect_throw([&] { contrastive_loss(Rows<const float>{nullptr, B, D, D}, txt, 1.0, o, out); },
               "image.data");
  expect_throw([&] { contrastive_loss(img, Rows<const float>{nullptr, B, D, D}, 1.0, o, out); },
               "text.data");
  expect_throw([&] { contrastive_loss(Rows<const float>{x.data(), 0, D, D}, txt, 1.0, o, out); },
               "image");
  expect_throw([&] { contrastive_loss(img, Rows<const float>{y.data(), B, D, D - 1}, 1.0, o, out); },
               "text.row_stride");
  expect_throw([&] { contrastive_loss(img, txt, NAN, o, out); }, "log_scale");
  ContrastiveOutputs<float> bad_gi = out;
  bad_gi.grad_image.rows = B - 1;
  expect_throw([&] { contrastive_loss(img, txt, 1.0, o, bad_gi); }, "grad_image");
  ContrastiveOutputs<float> bad_gt = out;
  bad_gt.grad_text.cols = D + 1;
  bad_gt.grad_text.row_stride = D + 1;
  expect_throw([&] { contrastive_loss(img, txt, 1.0, o, bad_gt); }, "grad_text");
  for (double ms : {0.0, -1.0, double(NAN), double(INFINITY)}) {
    ContrastiveOptions bo;
    bo.max_scale = ms;
    expect_throw([&] { contrastive_loss(img, txt, 1.0, bo, out); }, "max_scale");
  }
  ContrastiveOptions be;
  be.normalize_eps = 0.0;
  expect_throw([&] { contrastive_loss(img, txt, 1.0, be, out); }, "normalize_eps");
}

// Zero rows under normalisation follow F.normalize: a = 0, gradient da / eps.
TEST(ContrastiveLoss, ZeroEmbeddingFollowsNormalize) {
  const std::size_t B = 3, D = 2;
  std::vector<double> img = {0, 0, 1, 2, -1, 0.5}, txt = {0.3, -0.2, 1, 1, 2, -1};
  ContrastiveOptions o;
  o.normalize_eps = 1e-3;
  const Result r = run<double>(img, txt, B, D, 1.0, o);
  const Result want = reference(img, txt, B, D, 1.0, o);
  check_against(r, want, false, B, D, std::exp(1.0), "zero row");
  EXPECT_TRUE(std::isfinite(r.gi[0]));
}

}  // namespace
}  // namespace logitkit
