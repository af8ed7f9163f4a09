// SPDX-License-Identifier: Apache-2.0
// Writes the golden outputs of the native library that web/test/module.test.mjs compares the
// WebAssembly module against, bit for bit: every op of the JS API over the accuracy suite's
// adversarial rows (tests/test_util.h's logit families and temperatures), special rows, every
// option, and sampled tokens for many (seed, stream, step). Errors are recorded with their
// message. Usage: golden_writer OUT.json (scripts/web.sh builds and runs it against the native
// library of the build it is given).
//
// JSON encoding: float arrays as {"f32": hex of the IEEE bits, 8 digits each}, doubles as
// {"f64": 16 hex digits}, int arrays as {"i32": [..]}; option values that JSON cannot hold are
// strings: "#inf", "#-inf", "#nan", "#big:N" (a 64-bit id, a BigInt in JS).
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "logitkit/logitkit.h"
#include "tests/test_util.h"

namespace {

using logitkit::test::Kind;
using logitkit::test::Rng;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The accuracy suite's temperatures (tests/softmax_accuracy_test.cc), and its huge ones for the
// near-3e38 rows.
constexpr double kTemperatures[] = {1e-3, 0.07, 0.5, 1.0, 4.0, 20.0, 1e3};
constexpr double kHugeTemperatures[] = {4e31, 1e33};

std::string hex32(const float* p, std::size_t n) {
  std::string s;
  s.reserve(n * 8);
  char buf[9];
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, p + i, 4);
    std::snprintf(buf, sizeof buf, "%08" PRIx32, u);
    s += buf;
  }
  return s;
}
std::string f32(const std::vector<float>& v) { return "{\"f32\":\"" + hex32(v.data(), v.size()) + "\"}"; }
std::string f64(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, 8);
  char buf[32];
  std::snprintf(buf, sizeof buf, "{\"f64\":\"%016" PRIx64 "\"}", u);
  return buf;
}
std::string i32(const std::vector<std::int32_t>& v) {
  std::string s = "{\"i32\":[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]}";
}
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}
// A number option value (exact: %.17g round-trips a double).
std::string num(double d) {
  if (std::isnan(d)) return "\"#nan\"";
  if (std::isinf(d)) return d > 0 ? "\"#inf\"" : "\"#-inf\"";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}
std::string big(std::uint64_t v) { return "\"#big:" + std::to_string(v) + "\""; }

struct Writer {
  std::FILE* f;
  bool first = true;
  std::size_t count = 0;
  std::vector<std::string> inputs;  // long arguments, written once: {"ref": index}
  std::string last_input;
  std::string extra;  // appended to each case's JSON object
  // An argument that many cases share (the same logits under many options): {"ref": i}.
  std::string ref(const std::string& arg) {
    if (inputs.empty() || arg != last_input) {
      inputs.push_back(arg);
      last_input = arg;
    }
    return "{\"ref\":" + std::to_string(inputs.size() - 1) + "}";
  }
  void add(const std::string& fn, const std::string& label, const std::string& args,
           const std::string& options, const std::function<std::string()>& run) {
    std::string want;
    try {
      want = run();
    } catch (const std::invalid_argument& e) {
      want = "{\"error\":" + quote(e.what()) + "}";
    }
    std::fprintf(f, "%s\n{\"fn\":%s,\"label\":%s,\"args\":[%s],\"options\":{%s},\"want\":%s%s}",
                 first ? "" : ",", quote(fn).c_str(), quote(label).c_str(), args.c_str(),
                 options.c_str(), want.c_str(), extra.c_str());
    first = false;
    ++count;
  }
};

logitkit::Rows<const float> cview(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
  return {x.data(), rows, cols, cols};
}
logitkit::Rows<float> mview(std::vector<float>& x, std::size_t rows, std::size_t cols) {
  return {x.data(), rows, cols, cols};
}

// softmax, logSoftmax and logsumexp of one batch under every precision / emptyRow / nan option.
void softmax_family(Writer& w, const std::string& label, const std::vector<float>& x,
                    std::size_t rows, double tau, bool all_options) {
  const std::size_t cols = rows ? x.size() / rows : 0;
  for (int prec = 0; prec < 2; ++prec) {
    for (int empty = 0; empty < (all_options ? 2 : 1); ++empty) {
      for (int nan = 0; nan < (all_options ? 2 : 1); ++nan) {
        logitkit::SoftmaxOptions o;
        o.temperature = tau;
        o.precision = prec ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
        o.empty_row = empty ? logitkit::EmptyRow::kNaN : logitkit::EmptyRow::kZeros;
        o.nan = nan ? logitkit::NanPolicy::kThrow : logitkit::NanPolicy::kPropagate;
        std::string opts = "\"rows\":" + std::to_string(rows) + ",\"temperature\":" + num(tau) +
                           ",\"precision\":" + (prec ? "\"fast\"" : "\"accurate\"");
        if (all_options) {
          opts += std::string(",\"emptyRow\":") + (empty ? "\"nan\"" : "\"zeros\"") +
                  ",\"nan\":" + (nan ? "\"raise\"" : "\"propagate\"");
        }
        const std::string args = w.ref(f32(x));
        w.add("softmax", label, args, opts, [&] {
          std::vector<float> y(x.size());
          logitkit::softmax(cview(x, rows, cols), mview(y, rows, cols), o);
          return f32(y);
        });
        w.add("logSoftmax", label, args, opts, [&] {
          std::vector<float> y(x.size());
          logitkit::log_softmax(cview(x, rows, cols), mview(y, rows, cols), o);
          return f32(y);
        });
        w.add("logsumexp", label, args, opts, [&] {
          std::vector<float> y(rows);
          logitkit::logsumexp(cview(x, rows, cols), std::span<float>(y), o);
          return f32(y);
        });
      }
    }
  }
}

std::vector<float> concat(const std::vector<std::vector<float>>& rows) {
  std::vector<float> x;
  for (const auto& r : rows) x.insert(x.end(), r.begin(), r.end());
  return x;
}

void softmax_cases(Writer& w) {
  Rng rng(0x5eed0001);
  const std::size_t lengths[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 49, 100, 257};
  for (std::size_t n : lengths) {
    for (Kind kind : logitkit::test::kAllKinds) {
      std::vector<double> taus(std::begin(kTemperatures), std::end(kTemperatures));
      if (kind == Kind::kHuge) taus.insert(taus.end(), std::begin(kHugeTemperatures), std::end(kHugeTemperatures));
      for (double tau : taus) {
        const auto x = concat({logitkit::test::make_logits(kind, n, rng),
                               logitkit::test::make_logits(kind, n, rng)});
        softmax_family(w, std::string(logitkit::test::kind_name(kind)) + " n=" + std::to_string(n),
                       x, 2, tau, false);
      }
    }
  }
  // Long rows: the 16384-entry chunks and their merge (the native build may split them across
  // threads; the WebAssembly build runs one thread: the same bits).
  for (std::size_t n : {16383u, 16385u, 40000u, 70001u}) {
    for (Kind kind : {Kind::kUniform, Kind::kSpread, Kind::kMasked, Kind::kConfident}) {
      softmax_family(w, std::string("long ") + logitkit::test::kind_name(kind) + " n=" + std::to_string(n),
                     logitkit::test::make_logits(kind, n, rng), 1, 0.7, false);
    }
  }
  // Special rows under every option: masks, +inf, NaN, all -inf, tau = 0 and +inf, ties.
  const std::vector<std::vector<float>> special = {
      {2, 1, 0.5f, -0.5f, -1},
      {1, -kInf, 3, -kInf, 3},
      {-kInf, -kInf, -kInf},
      {1, kInf, 2, kInf},
      {kInf, -kInf},
      {1, kNaN, 2},
      {0, -30, -40},
      {3e38f, -3e38f, 3e38f},
      {1000, 1001, 1002},
      {-1e4f, -1e4f + 1, -1e4f + 2, -1e4f + 3},
      {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1},
  };
  for (const auto& r : special) {
    for (double tau : {0.0, 1e-30, 0.2, 1.0, 5.0, 1e30, static_cast<double>(kInf)}) {
      softmax_family(w, "special", r, 1, tau, true);
    }
  }
  // A batch mixing special rows (each row's bits must not depend on its neighbours).
  softmax_family(w, "mixed batch",
                 concat({{1, 2, 3}, {-kInf, -kInf, -kInf}, {kNaN, 0, 1}, {kInf, 0, kInf}}), 4, 0.5, true);
  // Errors: negative and NaN temperature.
  softmax_family(w, "bad tau", {1, 2, 3}, 1, -1.0, false);
  softmax_family(w, "bad tau", {1, 2, 3}, 1, static_cast<double>(kNaN), false);
  softmax_family(w, "empty", {}, 1, 1.0, false);
}

// Cross-entropy over `x` (rows x cols) with targets and an option string applied by `set`.
void ce_case(Writer& w, const std::string& label, const std::vector<float>& x, std::size_t rows,
             const std::vector<std::int32_t>& target, const std::string& opts,
             const logitkit::CrossEntropyOptions& o) {
  const std::size_t cols = x.size() / rows;
  w.add("crossEntropy", label, f32(x) + "," + i32(target),
        "\"rows\":" + std::to_string(rows) + (opts.empty() ? "" : "," + opts), [&] {
          std::vector<std::int64_t> t(target.begin(), target.end());
          std::vector<float> grad(x.size()), row_loss(rows), lse(rows);
          logitkit::CrossEntropyOptions oo = o;
          oo.threads = 0;
          logitkit::LossOutputs<float> out{mview(grad, rows, cols), row_loss, lse};
          const double loss = logitkit::cross_entropy(cview(x, rows, cols), t, oo, out);
          return "{\"loss\":" + f64(loss) + ",\"grad\":" + f32(grad) + ",\"rowLoss\":" +
                 f32(row_loss) + ",\"lse\":" + f32(lse) + "}";
        });
}

void cross_entropy_cases(Writer& w) {
  Rng rng(0x5eed0002);
  for (Kind kind : logitkit::test::kAllKinds) {
    for (std::size_t cols : {5u, 33u, 1000u}) {
      const std::size_t rows = 4;
      std::vector<float> x;
      for (std::size_t r = 0; r < rows; ++r) {
        auto row = logitkit::test::make_logits(kind, cols, rng);
        x.insert(x.end(), row.begin(), row.end());
      }
      std::vector<std::int32_t> t(rows);
      for (auto& v : t) v = static_cast<std::int32_t>(rng.below(cols));
      const std::string label = std::string(logitkit::test::kind_name(kind)) + " C=" + std::to_string(cols);
      struct Variant {
        std::string opts;
        std::function<void(logitkit::CrossEntropyOptions&)> set;
      };
      std::vector<double> weight(cols);
      for (auto& v : weight) v = 0.25 + rng.unit();
      std::string wjs = "{\"f64s\":[";
      for (std::size_t j = 0; j < cols; ++j) wjs += (j ? "," : "") + num(weight[j]);
      wjs += "]}";
      const std::vector<Variant> variants = {
          {"", [](auto&) {}},
          {"\"reduction\":\"none\"", [](auto& o) { o.reduction = logitkit::Reduction::kNone; }},
          {"\"reduction\":\"sum\",\"precision\":\"fast\"", [](auto& o) {
             o.reduction = logitkit::Reduction::kSum;
             o.precision = logitkit::Precision::kFast;
           }},
          {"\"labelSmoothing\":0.1", [](auto& o) { o.label_smoothing = 0.1; }},
          {"\"labelSmoothing\":0.2,\"smoothing\":\"megatron\"", [](auto& o) {
             o.label_smoothing = 0.2;
             o.smoothing = logitkit::LabelSmoothing::kMegatron;
           }},
          {"\"weight\":" + wjs, [&](auto& o) { o.weight = weight; }},

          {"\"temperature\":0.7,\"precision\":\"fast\"", [](auto& o) {
             o.temperature = 0.7;
             o.precision = logitkit::Precision::kFast;
           }},
      };
      for (const auto& v : variants) {
        logitkit::CrossEntropyOptions o;
        v.set(o);
        ce_case(w, label, x, rows, t, v.opts, o);
      }
      // softcap: kFast rounds the capped logits to float (the same bits); kAccurate computes the
      // rows in long double, which is 80-bit x87 on x86 and 128-bit in WebAssembly, so the
      // double loss may differ in its last bits there.
      logitkit::CrossEntropyOptions cap;
      cap.z_loss = 1e-4;
      cap.softcap = 30;
      cap.precision = logitkit::Precision::kFast;
      ce_case(w, label, x, rows, t, "\"zLoss\":0.0001,\"softcap\":30,\"precision\":\"fast\"", cap);
      cap.precision = logitkit::Precision::kAccurate;
      w.extra = ",\"approx\":1e-14";
      ce_case(w, label, x, rows, t, "\"zLoss\":0.0001,\"softcap\":30", cap);
      w.extra.clear();
      // Ignored rows, an all-ignored batch under both empty means.
      auto ti = t;
      ti[1] = -100;
      ce_case(w, label + " ignore", x, rows, ti, "", {});
      ce_case(w, label + " ignore 7", x, rows, {7, 7, 0, 7}, "\"ignoreIndex\":7", [] {
        logitkit::CrossEntropyOptions o;
        o.ignore_index = 7;
        return o;
      }());
      const std::vector<std::int32_t> all(rows, -100);
      ce_case(w, label + " all ignored", x, rows, all, "", {});
      logitkit::CrossEntropyOptions zero;
      zero.empty_mean = logitkit::EmptyMean::kZero;
      ce_case(w, label + " all ignored", x, rows, all, "\"emptyMean\":\"zero\"", zero);
    }
  }
  // Errors: a target out of range, a bad smoothing, a bad temperature.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  ce_case(w, "target out of range", x, 2, {0, 3}, "", {});
  logitkit::CrossEntropyOptions bad;
  bad.label_smoothing = 1.5;
  ce_case(w, "bad smoothing", x, 2, {0, 1}, "\"labelSmoothing\":1.5", bad);
  bad = {};
  bad.temperature = 0;
  ce_case(w, "bad temperature", x, 2, {0, 1}, "\"temperature\":0", bad);
  // Special rows: NaN, all -inf, +inf, -inf at the target.
  ce_case(w, "special rows", {1, kNaN, 0, -kInf, -kInf, -kInf, kInf, 1, 2, -kInf, 1, 2}, 4,
          {0, 1, 0, 0}, "", {});
}

void distillation_cases(Writer& w) {
  Rng rng(0x5eed0003);
  const char* divs[] = {"forward_kl", "reverse_kl", "js"};
  const char* reds[] = {"none", "mean", "sum", "batchmean"};
  for (Kind kind : {Kind::kUniform, Kind::kSpread, Kind::kMasked, Kind::kConfident, Kind::kTies}) {
    for (std::size_t cols : {6u, 40u, 3000u}) {
      const std::size_t rows = 3;
      std::vector<float> s, t;
      for (std::size_t r = 0; r < rows; ++r) {
        auto a = logitkit::test::make_logits(kind, cols, rng);
        auto b = logitkit::test::make_logits(Kind::kUniform, cols, rng);
        s.insert(s.end(), a.begin(), a.end());
        t.insert(t.end(), b.begin(), b.end());
      }
      std::vector<std::int32_t> target(rows);
      for (auto& v : target) v = static_cast<std::int32_t>(rng.below(cols));
      for (int d = 0; d < 3; ++d) {
        for (int r = 0; r < 4; ++r) {
          for (double tau : {1.0, 4.0, 20.0}) {
            logitkit::DistillationOptions o;
            o.temperature = tau;
            o.divergence = static_cast<logitkit::Divergence>(d);
            o.reduction = static_cast<logitkit::Reduction>(r);
            o.tau_squared = tau != 4.0;
            o.precision = tau == 20.0 ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
            o.teacher_input = tau == 4.0 && d == 0 ? logitkit::TeacherInput::kLogProbs
                                                   : logitkit::TeacherInput::kLogits;
            std::vector<std::int64_t> t64(target.begin(), target.end());
            std::string opts = "\"rows\":3,\"temperature\":" + num(tau) + ",\"divergence\":\"" +
                               divs[d] + "\",\"reduction\":\"" + reds[r] + "\",\"tauSquared\":" +
                               (o.tau_squared ? "true" : "false") + ",\"precision\":\"" +
                               (tau == 20.0 ? "fast" : "accurate") + "\"";
            if (o.teacher_input == logitkit::TeacherInput::kLogProbs) opts += ",\"teacherInput\":\"log_probs\"";
            if (d == 2) {
              o.js_beta = 0.3;
              opts += ",\"jsBeta\":0.3";
            }
            if (r == 1 && tau == 1.0) {
              o.alpha = 0.5;
              o.target = t64;
              opts += ",\"alpha\":0.5,\"target\":" + i32(target);
            }
            w.add("distillationLoss", std::string(logitkit::test::kind_name(kind)) + " C=" + std::to_string(cols),
                  w.ref(f32(s) + "," + f32(t)), opts, [&] {
                    std::vector<float> grad(s.size()), row_loss(rows);
                    logitkit::LossOutputs<float> out{mview(grad, rows, cols), row_loss, {}};
                    const double loss =
                        logitkit::distillation_loss(cview(s, rows, cols), cview(t, rows, cols), o, out);
                    return "{\"loss\":" + f64(loss) + ",\"grad\":" + f32(grad) + ",\"rowLoss\":" +
                           f32(row_loss) + "}";
                  });
          }
        }
      }
    }
  }
  logitkit::DistillationOptions bad;
  bad.temperature = -2;
  w.add("distillationLoss", "bad temperature", f32({1, 2}) + "," + f32({2, 1}), "\"temperature\":-2", [&] {
    std::vector<float> s = {1, 2}, t = {2, 1};
    logitkit::distillation_loss(cview(s, 1, 2), cview(t, 1, 2), bad);
    return std::string("null");
  });
}

// The contrastive loss's matrix products sum in an order that depends on the SIMD target (its
// contract promises the same bits per target only; Highway's EMU128, the target of the
// WebAssembly build, has no native x86 counterpart), so its cases carry a tolerance: "approx", the
// largest difference allowed relative to the largest magnitude of each output.
void contrastive_cases(Writer& w) {
  w.extra = ",\"approx\":1e-5";
  Rng rng(0x5eed0004);
  for (std::size_t b : {1u, 4u, 9u}) {
    for (std::size_t d : {3u, 16u, 37u}) {
      std::vector<float> img(b * d), txt(b * d);
      for (auto& v : img) v = rng.uniform(-1, 1);
      for (auto& v : txt) v = rng.uniform(-1, 1);
      for (bool norm : {true, false}) {
        for (double ls : {logitkit::kClipInitLogScale, 1.0, 6.0}) {
          logitkit::ContrastiveOptions o;
          o.normalize = norm;
          o.own_matmul = true;
          o.threads = 1;
          w.add("contrastiveLoss", "B=" + std::to_string(b) + " D=" + std::to_string(d),
                f32(img) + "," + f32(txt),
                "\"rows\":" + std::to_string(b) + ",\"logScale\":" + num(ls) +
                    ",\"normalize\":" + (norm ? "true" : "false"),
                [&] {
                  std::vector<float> gi(b * d), gt(b * d);
                  double gls = 0;
                  logitkit::ContrastiveOutputs<float> out{mview(gi, b, d), mview(gt, b, d), &gls};
                  const double loss = logitkit::contrastive_loss(cview(img, b, d), cview(txt, b, d), ls, o, out);
                  return "{\"loss\":" + f64(loss) + ",\"gradImage\":" + f32(gi) + ",\"gradText\":" +
                         f32(gt) + ",\"gradLogScale\":" + f64(gls) + "}";
                });
        }
      }
    }
  }
  w.extra.clear();
}

// Logits in [-4, 4) from the Philox uniform with spikes and a flat run (as
// tests/sampling_golden_test.cc builds them).
std::vector<float> sampling_logits(std::size_t n, std::uint64_t seed) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(8.0 * logitkit::philox_uniform(seed, 0, i) - 4.0);
  for (std::size_t s = 0; s < 4; ++s) x[(s * 104729 + 17) % n] = 7.0f + static_cast<float>(s) / 4;
  for (std::size_t f = 0; f < n / 8; ++f) x[(f * 31 + 5) % n] = 3.5f;
  return x;
}

struct SP {
  std::string opts;  // JS options without seed/stream/step
  logitkit::SamplingParams p;
  std::vector<std::int32_t> history;
  std::vector<logitkit::TokenBias> bias;
};

void sampling_cases(Writer& w) {
  std::vector<std::pair<std::string, std::vector<float>>> rows = {
      {"article", {2, 1, 0.5f, -0.5f, -1}},
      {"V=1000", sampling_logits(1000, 7)},
      {"V=50000", sampling_logits(50000, 2024)},
  };
  Rng rng(0x5eed0005);
  for (Kind kind : {Kind::kSpread, Kind::kTies, Kind::kMasked, Kind::kConfident, Kind::kHigh}) {
    rows.push_back({std::string(logitkit::test::kind_name(kind)) + " V=300",
                    logitkit::test::make_logits(kind, 300, rng)});
  }
  std::vector<SP> params;
  auto add = [&](std::string opts, auto set) {
    SP s;
    s.opts = std::move(opts);
    set(s);
    params.push_back(std::move(s));
  };
  add("", [](SP&) {});
  add("\"temperature\":0.8,\"topK\":40,\"topP\":0.95,\"minP\":0.05", [](SP& s) {
    s.p.temperature = 0.8, s.p.top_k = 40, s.p.top_p = 0.95, s.p.min_p = 0.05;
  });
  add("\"topP\":0.9", [](SP& s) { s.p.top_p = 0.9; });
  add("\"minP\":0.1,\"minTokensToKeep\":3", [](SP& s) { s.p.min_p = 0.1, s.p.min_tokens_to_keep = 3; });
  add("\"topK\":3,\"temperature\":2", [](SP& s) { s.p.top_k = 3, s.p.temperature = 2; });
  add("\"temperature\":0", [](SP& s) { s.p.temperature = 0; });
  add("\"temperature\":\"#inf\",\"topK\":4", [](SP& s) { s.p.temperature = kInf, s.p.top_k = 4; });
  add("\"temperature\":0.3,\"precision\":\"fast\",\"topLogprobs\":5",
      [](SP& s) { s.p.temperature = 0.3, s.p.precision = logitkit::Precision::kFast, s.p.top_logprobs = 5; });
  add("\"repetitionPenalty\":1.3,\"presencePenalty\":0.5,\"frequencyPenalty\":0.25,"
      "\"history\":{\"i32\":[0,1,1,2,2,2,4]},\"topLogprobs\":3",
      [](SP& s) {
        s.p.repetition_penalty = 1.3, s.p.presence_penalty = 0.5, s.p.frequency_penalty = 0.25;
        s.history = {0, 1, 1, 2, 2, 2, 4};
        s.p.top_logprobs = 3;
      });
  add("\"logitBias\":{\"0\":-3.5,\"3\":2,\"1\":\"#-inf\"}", [](SP& s) {
    s.bias = {{0, -3.5f}, {3, 2.0f}, {1, -kInf}};
  });
  const std::uint64_t seeds[] = {0, 1, 7, 42, 0xffffffffull, 0x123456789abcdefull, ~0ull};
  const std::uint64_t streams[] = {0, 3, 1ull << 40};
  for (const auto& [label, x] : rows) {
    for (const SP& sp : params) {
      logitkit::SamplingParams p = sp.p;
      p.history = sp.history;
      p.logit_bias = sp.bias;
      const std::string xs = w.ref(f32(x));
      w.add("samplingDistribution", label, xs, sp.opts, [&] {
        std::vector<float> probs(x.size());
        logitkit::sampling_distribution(x, p, probs);
        return f32(probs);
      });
      for (std::uint64_t seed : seeds) {
        for (std::uint64_t stream : streams) {
          if (x.size() > 1000 && stream != 0) continue;
          for (std::uint64_t step : {0ull, 1ull, 2ull, 5ull, 1000ull, (1ull << 63) + 3}) {
            p.seed = seed;
            std::string opts = sp.opts + (sp.opts.empty() ? "" : ",") + "\"seed\":" + big(seed) +
                               ",\"stream\":" + big(stream) + ",\"step\":" + big(step);
            w.add("sample", label, xs, opts, [&] {
              const logitkit::SampleResult r = logitkit::sample(x, p, stream, step);
              std::string top = "[";
              for (std::size_t i = 0; i < r.top.size(); ++i) {
                top += (i ? "," : "") + std::string("{\"token\":") + std::to_string(r.top[i].token) +
                       ",\"logprob\":" + f32({r.top[i].logprob}) + "}";
              }
              return "{\"token\":" + std::to_string(r.token) + ",\"logprob\":" + f32({r.logprob}) +
                     ",\"top\":" + top + "]}";
            });
          }
        }
      }
    }
  }
  // Errors: NaN logits, an out-of-range history token, a bad top-p, every logit -inf.
  auto err = [&](const std::string& label, const std::vector<float>& x, const std::string& opts,
                 logitkit::SamplingParams p) {
    w.add("sample", label, f32(x), opts, [&] {
      logitkit::sample(x, p, 0, 0);
      return std::string("null");
    });
  };
  err("NaN logit", {1, kNaN, 2}, "", {});
  logitkit::SamplingParams bad;
  bad.top_p = 1.5;
  err("bad topP", {1, 2}, "\"topP\":1.5", bad);
  bad = {};
  const std::int32_t hist[] = {5};
  bad.history = hist;
  bad.repetition_penalty = 1.2;
  err("bad history", {1, 2}, "\"history\":{\"i32\":[5]},\"repetitionPenalty\":1.2", bad);
  err("all -inf", {-kInf, -kInf}, "", {});
  bad = {};
  bad.temperature = -0.5;
  err("bad temperature", {1, 2}, "\"temperature\":-0.5", bad);
}

void philox_cases(Writer& w) {
  for (std::uint64_t seed : {0ull, 42ull, ~0ull}) {
    for (std::uint64_t stream : {0ull, 9ull, 1ull << 33}) {
      for (std::uint64_t step : {0ull, 1ull, 123456789ull, ~0ull}) {
        w.add("philoxUniform", "philox", big(seed) + "," + big(stream) + "," + big(step), "",
              [&] { return f64(logitkit::philox_uniform(seed, stream, step)); });
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: golden_writer OUT.json\n");
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "w");
  if (!f) {
    std::perror(argv[1]);
    return 1;
  }
  // LOGITKIT_GOLDEN_TARGET=AVX2 (say) pins the native target: every target gives the same bits.
  if (const char* t = std::getenv("LOGITKIT_GOLDEN_TARGET"); t && *t && !logitkit::force_target(t)) {
    std::fprintf(stderr, "golden_writer: LOGITKIT_GOLDEN_TARGET=%s is not a supported target\n", t);
    return 2;
  }
  std::fprintf(f, "{\"target\":\"%s\",\"cases\":[", logitkit::targets().chosen.c_str());
  Writer w{f};
  softmax_cases(w);
  cross_entropy_cases(w);
  distillation_cases(w);
  contrastive_cases(w);
  sampling_cases(w);
  philox_cases(w);
  std::fprintf(f, "\n],\"inputs\":[");
  for (std::size_t i = 0; i < w.inputs.size(); ++i) {
    std::fprintf(f, "%s\n[%s]", i ? "," : "", w.inputs[i].c_str());
  }
  std::fprintf(f, "\n]}\n");
  if (std::fclose(f) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  std::fprintf(stderr, "golden_writer: %zu cases (native target %s) in %s\n", w.count,
               logitkit::targets().chosen.c_str(), argv[1]);
  return 0;
}
