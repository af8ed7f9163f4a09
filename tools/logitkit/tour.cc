// SPDX-License-Identifier: Apache-2.0
// `logitkit tour`: the article's walk from logits to probabilities, every number computed by the
// library on built-in examples (the naive formulas appear only to show how they fail).
#include "tour.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <span>

#include "logitkit/softmax.h"
#include "commands.h"
#include "explain.h"
#include "plot.h"

namespace lkcli {
namespace tour {

void section(const Style& st, int n, const std::string& title) {
  std::printf("\n%s\n\n", st.heading("── " + std::to_string(n) + ". " + title + " ──").c_str());
}

void say(const std::string& text) { std::printf("  %s\n", text.c_str()); }

template <class T>
std::string vec_impl(const std::vector<T>& v, int digits) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + num(v[i], digits);
  return s + "]";
}
std::string vec(const std::vector<float>& v, int digits) { return vec_impl(v, digits); }
std::string vec(const std::vector<double>& v, int digits) { return vec_impl(v, digits); }

std::vector<float> softmax_of(const std::vector<float>& x, double tau) {
  logitkit::SoftmaxOptions o;
  o.temperature = tau;
  std::vector<float> y(x.size());
  logitkit::softmax(logitkit::one_row<const float>(x.data(), x.size()),
                    logitkit::one_row(y.data(), y.size()), o);
  return y;
}

std::vector<float> log_softmax_of(const std::vector<float>& x, double tau) {
  logitkit::SoftmaxOptions o;
  o.temperature = tau;
  std::vector<float> y(x.size());
  logitkit::log_softmax(logitkit::one_row<const float>(x.data(), x.size()),
                        logitkit::one_row(y.data(), y.size()), o);
  return y;
}

namespace {

std::vector<double> softmax_f64(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  logitkit::softmax(logitkit::one_row<const double>(x.data(), x.size()),
                    logitkit::one_row(y.data(), y.size()));
  return y;
}

// The textbook formula log(exp(x_i) / sum_j exp(x_j)) with no max shift, in T: shown failing.
template <class T>
std::vector<T> naive_log_softmax(const std::vector<T>& x) {
  T sum = 0;
  for (T v : x) sum += std::exp(v);
  std::vector<T> y;
  for (T v : x) y.push_back(std::log(std::exp(v) / sum));
  return y;
}

// The textbook softmax exp(x_i) / sum_j exp(x_j) with no max shift: shown overflowing.
std::vector<float> naive_softmax(const std::vector<float>& x) {
  float sum = 0;
  for (float v : x) sum += std::exp(v);
  std::vector<float> y;
  for (float v : x) y.push_back(std::exp(v) / sum);
  return y;
}

// The tempting wrong answer to quiz question 1: x_i / sum_j x_j.
std::vector<float> divide_by_sum_of_logits(const std::vector<float>& x) {
  float sum = 0;
  for (float v : x) sum += v;
  std::vector<float> y;
  for (float v : x) y.push_back(v / sum);
  return y;
}

// log applied to the library's softmax: the composition quiz question 4 warns against.
std::vector<float> log_of_softmax(const std::vector<float>& x) {
  std::vector<float> y = softmax_of(x);
  for (float& v : y) v = std::log(v);
  return y;
}

std::string tau_name(double tau) {
  if (tau == 0) return "0 (argmax)";
  if (std::isinf(tau)) return "∞ (uniform)";
  return num(tau, 6);
}

void basics(const Style& st) {
  section(st, 1, "Softmax step by step: the article's example");
  say("Logits are raw scores; softmax turns them into probabilities:");
  say("  p_i = exp(x_i) / Σ_j exp(x_j),  computed as exp(x_i − max) / Σ_j exp(x_j − max).");
  std::printf("\n");
  std::fputs(explain_text(std::vector<float>{2.0f, 1.0f, 0.1f, -1.0f}, {}, false, st).c_str(),
             stdout);

  section(st, 2, "Equal logits give the uniform distribution");
  for (const std::vector<float>& x :
       {std::vector<float>{3, 3, 3, 3}, std::vector<float>{-7, -7, -7, -7, -7}}) {
    say("softmax(" + vec(x) + ") = " + vec(softmax_of(x)));
  }
  say("No logit is preferred, so every class gets 1/n.");

  section(st, 3, "One dominant logit: nearly the argmax");
  const std::vector<float> dom = {10, 0, 0, 0};
  const std::vector<float> pd = softmax_of(dom);
  say("softmax(" + vec(dom) + ") = " + vec(pd));
  say("The winner takes " + num(100.0 * pd[0], 6) + "% of the mass: softmax is a soft argmax.");

  section(st, 4, "Shift invariance: adding a constant changes nothing");
  const std::vector<double> base = {2.0, 1.0, 0.1, -1.0};
  const std::vector<double> p0 = softmax_f64(base);
  Table t{{"shift c", "softmax(x + c)", "max |difference|"}, {}, {1}};
  for (double c : {0.0, 100.0, -100.0, 1000.0}) {
    std::vector<double> xs = base;
    for (double& v : xs) v += c;
    const std::vector<double> p = softmax_f64(xs);
    double diff = 0;
    for (std::size_t i = 0; i < p.size(); ++i) diff = std::max(diff, std::fabs(p[i] - p0[i]));
    t.rows.push_back({num(c, 6), vec(p, 9), num(diff, 2)});
  }
  say("x = " + vec(base) + " (float64):");
  std::fputs(t.render(st).c_str(), stdout);
  say("exp(x_i + c) / Σ exp(x_j + c) = e^c·exp(x_i) / (e^c·Σ exp(x_j)): the e^c cancels.");
}

void temperature(const Style& st, const TourArgs& args) {
  section(st, 5, "Temperature: τ sharpens or flattens the distribution");
  const std::vector<float> x = {2.0f, 1.0f, 0.5f, -0.5f, -1.0f};
  say("p_i = exp((x_i − max)/τ) / Σ_j exp((x_j − max)/τ),  x = " + vec(x));
  std::printf("\n");
  Table t{{"τ", "p1", "p2", "p3", "p4", "p5", "max p"}, {}};
  for (double tau : {0.0, 0.2, 0.5, 1.0, 2.0, 5.0, HUGE_VAL}) {
    const std::vector<float> p = softmax_of(x, tau);
    std::vector<std::string> r = {tau_name(tau)};
    float mx = 0;
    for (float v : p) {
      r.push_back(num(v, 4));
      mx = std::max(mx, v);
    }
    r.push_back(num(mx, 4));
    t.rows.push_back(r);
  }
  std::fputs(t.render(st).c_str(), stdout);
  say("τ → 0: all mass on the largest logit (argmax). τ → ∞: uniform, 1/5 each.");
  say("τ < 1 sharpens (confident sampling); τ > 1 flattens (diverse sampling, distillation).");
  if (args.no_plot) return;
  Chart c;
  c.logits = x;
  c.classes = {"0", "1", "2", "3", "4"};
  c.temperatures = {0.2, 0.5, 1.0, 2.0, 5.0};
  c.title = "Softmax of [2, 1, 0.5, -0.5, -1] at different temperatures";
  write_chart(c, args.plot_output);
  const std::string dir = std::filesystem::absolute(args.plot_output).parent_path().string();
  const std::string name = std::filesystem::path(args.plot_output).filename().string();
  std::printf("\n");
  say("The chart: " + st.accent(name + ".svg") + " and " + st.accent(name + ".png") + " in " + dir);
}

void stability(const Style& st) {
  section(st, 6, "Naive vs stable log-softmax");
  say("Naive: log(exp(x_i) / Σ exp(x_j)). exp overflows float32 above 88.7 and float64 above "
      "709.8.");
  say("Stable (logitkit): (x_i − max) − log Σ exp(x_j − max): every exponent is ≤ 0.");
  for (const std::vector<float>& x :
       {std::vector<float>{100, 101, 102}, std::vector<float>{1000, 2000, 3000}}) {
    std::vector<double> xd(x.begin(), x.end());
    const std::vector<float> n32 = naive_log_softmax(x);
    const std::vector<double> n64 = naive_log_softmax(xd);
    const std::vector<float> stable = log_softmax_of(x);
    std::printf("\n");
    say("x = " + vec(x));
    Table t{{"i", "x", "naive float32", "naive float64", "logitkit log_softmax"}, {}};
    double sum = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      auto mark = [&](double v) { return std::isfinite(v) ? num(v, 9) : st.bad(num(v, 9)); };
      t.rows.push_back(
          {std::to_string(i), num(x[i], 6), mark(n32[i]), mark(n64[i]), num(stable[i], 9)});
      sum += std::exp(static_cast<double>(stable[i]));
    }
    std::fputs(t.render(st).c_str(), stdout);
    say("check: Σ exp(log_softmax) = " + num(sum, 9) + "  " +
        (std::fabs(sum - 1) <= 1e-6 ? st.good("✓ sums to 1") : st.bad("✗")));
  }
}

void quiz(const Style& st, int first) {
  section(st, first, "Quiz: the article's four questions, answered by computation");

  std::printf(
      "  %s\n",
      st.bold("Q1. Why exponentials rather than dividing by the sum of the logits?").c_str());
  const std::vector<float> a = {2.0f, 1.0f, 0.1f, -1.0f};
  say("x / Σx for x = " + vec(a) + ": " + vec(divide_by_sum_of_logits(a)) +
      st.bad("  ← a negative \"probability\""));
  const std::vector<float> z = {1.0f, -1.0f};
  say("x / Σx for x = " + vec(z) + ": " + vec(divide_by_sum_of_logits(z)) + st.bad("  ← Σx = 0"));
  std::vector<float> a10 = a;
  for (float& v : a10) v += 10;
  say("x / Σx for x + 10 = " + vec(a10) + ": " + vec(divide_by_sum_of_logits(a10)) +
      st.bad("  ← changed by a shift"));
  say("softmax(x) = " + vec(softmax_of(a)) + ", softmax(x + 10) = " + vec(softmax_of(a10)));
  say("exp makes every score positive, keeps the order, and a shift multiplies all by e^c.");

  std::printf("\n  %s\n", st.bold("Q2. What happens as τ → 0?").c_str());
  Table t{{"τ", "softmax([2, 1, 0.1, -1], τ)"}, {}, {1}};
  for (double tau : {1.0, 0.5, 0.1, 0.01, 0.0})
    t.rows.push_back({tau_name(tau), vec(softmax_of(a, tau))});
  std::fputs(t.render(st).c_str(), stdout);
  say("The distribution collapses onto the argmax (greedy decoding). Ties split evenly:");
  say("softmax([3, 3, 1], τ = 0) = " + vec(softmax_of({3, 3, 1}, 0.0)));

  std::printf("\n  %s\n", st.bold("Q3. Why is adding a constant to all logits safe?").c_str());
  std::vector<float> big = a;
  for (float& v : big) v += 1000;
  say("naive exp(x_i)/Σ exp(x_j) of x + 1000: " + vec(naive_softmax(big)) +
      st.bad("  ← exp(1002) overflows"));
  say("logitkit softmax of x + 1000:          " + vec(softmax_of(big)));
  say("softmax of x:                          " + vec(softmax_of(a)));
  say("The factor e^c cancels between numerator and denominator, so the library subtracts");
  say("the max (c = −max) and every exponent is ≤ 0: no overflow, same answer.");
  say("(float32 rounds 1000.1 to 1000.09998, hence the last-digit change.)");

  std::printf("\n  %s\n", st.bold("Q4. Why log_softmax instead of log(softmax(x))?").c_str());
  const std::vector<float> w = {0.0f, -200.0f};
  say("x = " + vec(w) + " (float32)");
  say("log(softmax(x)) = " + vec(log_of_softmax(w)) +
      st.bad("  ← exp(−200) underflows to 0, log(0) = −inf"));
  say("log_softmax(x)  = " + vec(log_softmax_of(w)));
  say("A cross-entropy on class 2 would be +inf instead of 200: log_softmax never forms");
  say("the tiny probability, it computes (x_i − max) − log Σ exp(x_j − max) directly.");
}

}  // namespace
}  // namespace tour

int run_tour(const TourArgs& args) {
  const Style st(use_color());
  std::printf("%s\n", st.bold("logitkit tour: from logits to probabilities").c_str());
  tour::say("Every number below is computed by the logitkit library (float32 unless noted).");
  tour::basics(st);
  tour::temperature(st, args);
  tour::stability(st);
  tour::quiz(st, tour::ml_sections(st, 7));
  return 0;
}

}  // namespace lkcli
