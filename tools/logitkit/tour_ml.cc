// SPDX-License-Identifier: Apache-2.0
// The tour's sections on what softmax is used for: cross-entropy and its gradient, sampling at
// several temperatures, knowledge distillation and a CLIP batch; every number from the library.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>

#include "logitkit/loss.h"
#include "logitkit/sampling.h"
#include "tour.h"

namespace lkcli::tour {
namespace {

void cross_entropy_section(const Style& st, int n) {
  section(st, n, "Cross-entropy and its gradient p − y");
  const std::vector<float> x = {2.0f, 1.0f, 0.1f, -1.0f};
  say("loss = −log p_target = logsumexp(x) − x_target, fused with log-softmax; its gradient");
  say("with respect to the logits is p − y (y: the one-hot target).");
  for (std::int64_t target : {0, 3}) {
    std::vector<float> grad(x.size());
    logitkit::LossOutputs<float> out;
    out.grad = logitkit::one_row(grad.data(), grad.size());
    const std::int64_t t[1] = {target};
    const double loss = logitkit::cross_entropy(logitkit::one_row<const float>(x.data(), x.size()),
                                                std::span<const std::int64_t>(t), {}, out);
    const std::vector<float> p = softmax_of(x);
    std::printf("\n");
    say("x = " + vec(x) + ", target class " + std::to_string(target) + ": loss = " + num(loss, 9));
    Table tb{{"class", "p", "y", "gradient p − y"}, {}};
    for (std::size_t i = 0; i < x.size(); ++i) {
      tb.rows.push_back({std::to_string(i), num(p[i], 6),
                         i == static_cast<std::size_t>(target) ? "1" : "0", num(grad[i], 6)});
    }
    std::fputs(tb.render(st).c_str(), stdout);
  }
  say("A confident right answer costs little and pushes gently; a wrong one costs a lot");
  say("and the gradient moves mass from the predicted class to the target.");
}

void sampling_section(const Style& st, int n) {
  section(st, n, "Sampling at several temperatures");
  const std::vector<float> x = {2.0f, 1.0f, 0.5f, -0.5f, -1.0f};
  constexpr int kDraws = 1000;
  say("1000 draws from x = " + vec(x) + " (seed 0); τ = 0 is greedy decoding.");
  for (double tau : {0.0, 0.5, 1.0, 2.0}) {
    logitkit::SamplingParams params;
    params.temperature = tau;
    std::vector<int> counts(x.size(), 0);
    for (int i = 0; i < kDraws; ++i) {
      ++counts[static_cast<std::size_t>(
          logitkit::sample(x, params, 0, static_cast<std::uint64_t>(i)).token)];
    }
    const std::vector<float> p = softmax_of(x, tau);
    std::printf("\n");
    say(st.bold("τ = " + num(tau, 3)) + (tau == 0 ? " (greedy)" : ""));
    Table tb{{"token", "p", "drawn", ""}, {}, {3}};
    for (std::size_t i = 0; i < x.size(); ++i) {
      tb.rows.push_back({std::to_string(i), num(p[i], 4), std::to_string(counts[i]),
                         bar(static_cast<double>(counts[i]) / kDraws, 40)});
    }
    std::fputs(tb.render(st).c_str(), stdout);
  }
  say("Low τ repeats the favourite; high τ explores. Draws are reproducible: the RNG is keyed");
  say("by (seed, stream, step), so `logitkit sample -n 1000 --seed 0` gives these counts.");
}

void distillation_section(const Style& st, int n) {
  section(st, n, "Distillation: the teacher's dark knowledge at τ = 4");
  const std::vector<float> teacher = {9.0f, 5.0f, 4.5f, 0.0f, -2.0f};
  const std::vector<float> student = {4.0f, 3.5f, 0.5f, 1.0f, -1.0f};
  say("teacher logits " + vec(teacher) + " (class 0 is right; 1 and 2 look alike)");
  say("student logits " + vec(student));
  std::printf("\n");
  Table tb{{"τ", "teacher p", "student p", "distillation loss"}, {}, {1, 2}};
  std::vector<double> rest;
  for (double tau : {1.0, 4.0}) {
    logitkit::DistillationOptions o;
    o.temperature = tau;
    const logitkit::Rows<const float> s =
        logitkit::one_row<const float>(student.data(), student.size());
    const logitkit::Rows<const float> t =
        logitkit::one_row<const float>(teacher.data(), teacher.size());
    const double loss = logitkit::distillation_loss(s, t, o);
    const std::vector<float> pt = softmax_of(teacher, tau);
    rest.push_back(1.0 - pt[0]);
    tb.rows.push_back({num(tau, 3), vec(pt, 3), vec(softmax_of(student, tau), 3), num(loss, 6)});
  }
  std::fputs(tb.render(st).c_str(), stdout);
  say("At τ = 1 the teacher is almost one-hot: the wrong classes carry " + num(100 * rest[0], 2) +
      "% of the mass;");
  say("at τ = 4 they carry " + num(100 * rest[1], 2) +
      "% and show which wrong classes are close (1 and 2) and which");
  say("are not: that is what the student learns from (KL(teacher‖student)·τ², Hinton et al.).");
}

void clip_section(const Style& st, int n) {
  section(st, n, "A CLIP-style contrastive batch at τ = 0.07");
  // Four image embeddings and their captions' embeddings: caption i is a noisy copy of image i.
  const std::vector<float> image = {1.0f, 0.1f, 0.0f, 0.0f, 1.0f, 0.2f,
                                    0.1f, 0.0f, 1.0f, 0.7f, 0.7f, 0.1f};
  const std::vector<float> text = {0.9f, 0.2f, 0.1f, 0.1f, 0.9f, 0.1f,
                                   0.0f, 0.2f, 0.9f, 0.6f, 0.8f, 0.0f};
  std::vector<float> shuffled(text.size());
  for (std::size_t i = 0; i < 4; ++i) {
    std::copy_n(text.begin() + 3 * ((i + 1) % 4), 3, shuffled.begin() + 3 * i);
  }
  say("4 image embeddings and their 4 captions (3-D, L2-normalised inside); logits are the");
  say("cosine similarities divided by τ; the loss is the mean cross-entropy of matching each");
  say("image to its caption and each caption to its image (Radford et al. 2021).");
  std::printf("\n");
  Table tb{{"τ", "scale 1/τ", "loss, true pairs", "loss, captions shifted by one",
            "d loss / d log-scale"},
           {}};
  for (double tau : {1.0, 0.07}) {
    const double log_scale = std::log(1.0 / tau);
    const logitkit::Rows<const float> a{image.data(), 4, 3, 3};
    double dt = 0;
    logitkit::ContrastiveOutputs<float> out;
    out.grad_log_scale = &dt;
    const double right = logitkit::contrastive_loss(a, {text.data(), 4, 3, 3}, log_scale, {}, out);
    const double wrong = logitkit::contrastive_loss(a, {shuffled.data(), 4, 3, 3}, log_scale);
    tb.rows.push_back({num(tau, 3), num(1.0 / tau, 4), num(right, 6), num(wrong, 6), num(dt, 4)});
  }
  std::fputs(tb.render(st).c_str(), stdout);
  say("At τ = 1 cosines in [−1, 1] hardly separate the pairs: both losses stay close to chance,");
  say("log 4 = 1.386.");
  say("At τ = 0.07 (CLIP's initial temperature, learned as the log-scale) the true pairing");
  say("costs little and a wrong one a lot; the negative gradient asks for an even larger scale.");
}

}  // namespace

int ml_sections(const Style& st, int first) {
  cross_entropy_section(st, first++);
  sampling_section(st, first++);
  distillation_section(st, first++);
  clip_section(st, first++);
  return first;
}

}  // namespace lkcli::tour
