// SPDX-License-Identifier: Apache-2.0
// The C entry points of logitkit.wasm, called by web/src/logitkit.mjs (which validates the JS
// arguments, copies the arrays into the module's memory and maps the status to a JS error).
// Every function returns 0 on success, 1 when the library threw std::invalid_argument (the
// message is in lk_error()), 2 for std::bad_alloc or any other exception. Work runs on the
// calling thread (threads = 1): the WebAssembly build has no thread pool.
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <emscripten/emscripten.h>

#include "logitkit/logitkit.h"

namespace {

std::string g_error;

template <class F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::invalid_argument& e) {
    g_error = e.what();
    return 1;
  } catch (const std::bad_alloc&) {
    g_error = "out of memory";
    return 2;
  } catch (const std::exception& e) {
    g_error = e.what();
    return 2;
  }
}

logitkit::Rows<const float> view(const float* p, std::size_t rows, std::size_t cols) {
  return {p, rows, cols, cols};
}
logitkit::Rows<float> view(float* p, std::size_t rows, std::size_t cols) {
  return {p, rows, cols, cols};
}

std::uint64_t u64(double lo, double hi) {
  return (static_cast<std::uint64_t>(hi) << 32) | static_cast<std::uint64_t>(lo);
}

// The layout of the parameter block written by logitkit.mjs (doubles; ids and counts are exact).
enum SamplingSlot {
  kTemperature, kTopK, kTopP, kMinP, kMinTokensToKeep, kRepetitionPenalty, kPresencePenalty,
  kFrequencyPenalty, kTopLogprobs, kPrecision, kSeedLo, kSeedHi, kStreamLo, kStreamHi, kStepLo,
  kStepHi, kHistoryPtr, kHistoryLen, kBiasTokenPtr, kBiasValuePtr, kBiasLen, kSamplingSlots
};

struct Sampling {
  logitkit::SamplingParams params;
  std::vector<logitkit::TokenBias> bias;
  std::uint64_t stream = 0, step = 0;
};

void read_sampling(const double* b, Sampling& s) {
  logitkit::SamplingParams& p = s.params;
  p.temperature = b[kTemperature];
  p.top_k = static_cast<int>(b[kTopK]);
  p.top_p = b[kTopP];
  p.min_p = b[kMinP];
  p.min_tokens_to_keep = static_cast<int>(b[kMinTokensToKeep]);
  p.repetition_penalty = b[kRepetitionPenalty];
  p.presence_penalty = b[kPresencePenalty];
  p.frequency_penalty = b[kFrequencyPenalty];
  p.top_logprobs = static_cast<int>(b[kTopLogprobs]);
  p.precision = b[kPrecision] != 0 ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  p.seed = u64(b[kSeedLo], b[kSeedHi]);
  s.stream = u64(b[kStreamLo], b[kStreamHi]);
  s.step = u64(b[kStepLo], b[kStepHi]);
  const auto* history =
      reinterpret_cast<const std::int32_t*>(static_cast<std::uintptr_t>(b[kHistoryPtr]));
  p.history = {history, static_cast<std::size_t>(b[kHistoryLen])};
  const auto* tokens =
      reinterpret_cast<const std::int32_t*>(static_cast<std::uintptr_t>(b[kBiasTokenPtr]));
  const auto* values = reinterpret_cast<const float*>(static_cast<std::uintptr_t>(b[kBiasValuePtr]));
  const std::size_t n = static_cast<std::size_t>(b[kBiasLen]);
  s.bias.resize(n);
  for (std::size_t i = 0; i < n; ++i) s.bias[i] = {tokens[i], values[i]};
  p.logit_bias = s.bias;
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* lk_error() { return g_error.c_str(); }

EMSCRIPTEN_KEEPALIVE int lk_version_major() { return LOGITKIT_VERSION_MAJOR; }
EMSCRIPTEN_KEEPALIVE int lk_version_minor() { return LOGITKIT_VERSION_MINOR; }
EMSCRIPTEN_KEEPALIVE int lk_version_patch() { return LOGITKIT_VERSION_PATCH; }

// The SIMD target in use ("EMU128").
EMSCRIPTEN_KEEPALIVE const char* lk_target() {
  static std::string chosen;
  chosen = logitkit::targets().chosen;
  return chosen.c_str();
}

// op: 0 softmax, 1 log_softmax, 2 logsumexp (y holds rows entries).
EMSCRIPTEN_KEEPALIVE int lk_softmax(int op, const float* x, float* y, double rows, double cols,
                                    double temperature, int precision, int empty_row, int nan) {
  return guarded([&] {
    logitkit::SoftmaxOptions o;
    o.temperature = temperature;
    o.precision = precision ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
    o.empty_row = empty_row ? logitkit::EmptyRow::kNaN : logitkit::EmptyRow::kZeros;
    o.nan = nan ? logitkit::NanPolicy::kThrow : logitkit::NanPolicy::kPropagate;
    o.threads = 1;
    const auto r = static_cast<std::size_t>(rows), c = static_cast<std::size_t>(cols);
    if (op == 0) {
      logitkit::softmax(view(x, r, c), view(y, r, c), o);
    } else if (op == 1) {
      logitkit::log_softmax(view(x, r, c), view(y, r, c), o);
    } else {
      logitkit::logsumexp(view(x, r, c), std::span<float>(y, r), o);
    }
  });
}

// Cross-entropy with class-index targets. weight: cols doubles or null. Outputs may be null.
EMSCRIPTEN_KEEPALIVE int lk_cross_entropy(const float* x, const std::int32_t* target, double rows,
                                          double cols, int reduction, double ignore_index,
                                          double label_smoothing, int smoothing,
                                          const double* weight, double z_loss, double softcap,
                                          double temperature, int empty_mean, int precision,
                                          float* grad, float* row_loss, float* lse,
                                          double* loss) {
  return guarded([&] {
    const auto r = static_cast<std::size_t>(rows), c = static_cast<std::size_t>(cols);
    std::vector<std::int64_t> t(target, target + r);
    logitkit::CrossEntropyOptions o;
    o.reduction = static_cast<logitkit::Reduction>(reduction);
    o.ignore_index = static_cast<std::int64_t>(ignore_index);
    if (weight) o.weight = {weight, c};
    o.label_smoothing = label_smoothing;
    o.smoothing = smoothing ? logitkit::LabelSmoothing::kMegatron : logitkit::LabelSmoothing::kPyTorch;
    o.z_loss = z_loss;
    o.softcap = softcap;
    o.temperature = temperature;
    o.empty_mean = empty_mean ? logitkit::EmptyMean::kZero : logitkit::EmptyMean::kNaN;
    o.precision = precision ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
    o.threads = 1;
    logitkit::LossOutputs<float> out;
    if (grad) out.grad = view(grad, r, c);
    if (row_loss) out.row_loss = {row_loss, r};
    if (lse) out.lse = {lse, r};
    *loss = logitkit::cross_entropy(view(x, r, c), t, o, out);
  });
}

EMSCRIPTEN_KEEPALIVE int lk_distillation(const float* student, const float* teacher, double rows,
                                         double cols, double temperature, int divergence,
                                         double js_beta, int tau_squared, int reduction,
                                         int teacher_input, double alpha,
                                         const std::int32_t* target, double ignore_index,
                                         int precision, float* grad, float* row_loss,
                                         double* loss) {
  return guarded([&] {
    const auto r = static_cast<std::size_t>(rows), c = static_cast<std::size_t>(cols);
    std::vector<std::int64_t> t;
    if (target) t.assign(target, target + r);
    logitkit::DistillationOptions o;
    o.temperature = temperature;
    o.divergence = static_cast<logitkit::Divergence>(divergence);
    o.js_beta = js_beta;
    o.tau_squared = tau_squared != 0;
    o.reduction = static_cast<logitkit::Reduction>(reduction);
    o.teacher_input = teacher_input ? logitkit::TeacherInput::kLogProbs : logitkit::TeacherInput::kLogits;
    o.alpha = alpha;
    o.target = t;
    o.ignore_index = static_cast<std::int64_t>(ignore_index);
    o.precision = precision ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
    o.threads = 1;
    logitkit::LossOutputs<float> out;
    if (grad) out.grad = view(grad, r, c);
    if (row_loss) out.row_loss = {row_loss, r};
    *loss = logitkit::distillation_loss(view(student, r, c), view(teacher, r, c), o, out);
  });
}

// CLIP loss; the library's own matrix kernel (there is no BLAS in the WebAssembly build).
EMSCRIPTEN_KEEPALIVE int lk_contrastive(const float* image, const float* text, double batch,
                                        double dim, double log_scale, int normalize,
                                        double normalize_eps, double max_scale, float* grad_image,
                                        float* grad_text, double* grad_log_scale, double* loss) {
  return guarded([&] {
    const auto b = static_cast<std::size_t>(batch), d = static_cast<std::size_t>(dim);
    logitkit::ContrastiveOptions o;
    o.normalize = normalize != 0;
    o.normalize_eps = normalize_eps;
    o.max_scale = max_scale;
    o.own_matmul = true;
    o.threads = 1;
    logitkit::ContrastiveOutputs<float> out;
    if (grad_image) out.grad_image = view(grad_image, b, d);
    if (grad_text) out.grad_text = view(grad_text, b, d);
    out.grad_log_scale = grad_log_scale;
    *loss = logitkit::contrastive_loss(view(image, b, d), view(text, b, d), log_scale, o, out);
  });
}

EMSCRIPTEN_KEEPALIVE int lk_sampling_distribution(const float* logits, double n,
                                                  const double* block, float* probs) {
  return guarded([&] {
    Sampling s;
    read_sampling(block, s);
    const auto v = static_cast<std::size_t>(n);
    logitkit::sampling_distribution({logits, v}, s.params, {probs, v});
  });
}

// out_token[0] = token; out_logprob[0] = logprob; then top_logprobs pairs (out_count[0] of them).
EMSCRIPTEN_KEEPALIVE int lk_sample(const float* logits, double n, const double* block,
                                   std::int32_t* out_token, float* out_logprob, int* out_count) {
  return guarded([&] {
    Sampling s;
    read_sampling(block, s);
    const logitkit::SampleResult r =
        logitkit::sample({logits, static_cast<std::size_t>(n)}, s.params, s.stream, s.step);
    out_token[0] = r.token;
    out_logprob[0] = r.logprob;
    out_count[0] = static_cast<int>(r.top.size());
    for (std::size_t i = 0; i < r.top.size(); ++i) {
      out_token[1 + i] = r.top[i].token;
      out_logprob[1 + i] = r.top[i].logprob;
    }
  });
}

// count draws at steps step0, step0 + 1, ...: tokens[i] (one call for a histogram).
EMSCRIPTEN_KEEPALIVE int lk_sample_many(const float* logits, double n, const double* block,
                                        double count, std::int32_t* tokens) {
  return guarded([&] {
    Sampling s;
    read_sampling(block, s);
    s.params.top_logprobs = 0;
    const auto m = static_cast<std::size_t>(count);
    for (std::size_t i = 0; i < m; ++i) {
      tokens[i] = logitkit::sample({logits, static_cast<std::size_t>(n)}, s.params, s.stream,
                                   s.step + i).token;
    }
  });
}

EMSCRIPTEN_KEEPALIVE double lk_philox_uniform(double seed_lo, double seed_hi, double stream_lo,
                                              double stream_hi, double step_lo, double step_hi) {
  return logitkit::philox_uniform(u64(seed_lo, seed_hi), u64(stream_lo, stream_hi),
                                  u64(step_lo, step_hi));
}

}  // extern "C"
