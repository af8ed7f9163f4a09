// SPDX-License-Identifier: Apache-2.0
// pybind11 bindings: 2-D NumPy views in, the C++ kernels run with the GIL released (no math here).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "logitkit/linear_cross_entropy.h"
#include "logitkit/logitkit.h"
#include "logitkit/loss.h"
#include "logitkit/sampling.h"

namespace py = pybind11;
namespace lk = logitkit;

namespace {

template <class T>
struct DtypeName;
template <>
struct DtypeName<float> {
  static constexpr const char* value = "float32";
};
template <>
struct DtypeName<double> {
  static constexpr const char* value = "float64";
};
template <>
struct DtypeName<lk::float16> {
  static constexpr const char* value = "float16";
};
template <>
struct DtypeName<std::int64_t> {
  static constexpr const char* value = "int64";
};
template <>
struct DtypeName<std::int32_t> {
  static constexpr const char* value = "int32";
};
template <>
struct DtypeName<lk::bfloat16> {
  static constexpr const char* value = "uint16";  // bfloat16 bits (NumPy has no bfloat16)
};
template <>
struct DtypeName<std::uint64_t> {
  static constexpr const char* value = "uint64";
};

template <class T>
bool has_dtype(const py::array& a) {
  return a.dtype().is(py::dtype(DtypeName<T>::value));
}

template <class T>
void require_dtype(const py::array& a, const char* name) {
  if (!has_dtype<T>(a)) {
    throw py::type_error(std::string(name) + " must have dtype " + DtypeName<T>::value + ", got " +
                         std::string(py::str(a.dtype())));
  }
}

// A 2-D array as Rows<T>: the last axis contiguous, the row stride a non-negative multiple of the
// element size and at least the row length. The Python layer copies arrays that do not fit.
template <class T>
lk::Rows<T> rows_of(py::array& a, const char* name) {
  using U = std::remove_const_t<T>;
  require_dtype<U>(a, name);
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) +
                          "-D");
  }
  const auto rows = static_cast<std::size_t>(a.shape(0));
  const auto cols = static_cast<std::size_t>(a.shape(1));
  const auto item = static_cast<py::ssize_t>(sizeof(U));
  if (rows == 0 || cols == 0) return lk::Rows<T>{nullptr, rows, cols, cols};
  if (cols > 1 && a.strides(1) != item) {
    throw py::value_error(std::string(name) + " must have a contiguous last axis");
  }
  std::size_t stride = cols;
  if (rows > 1) {
    const py::ssize_t s = a.strides(0);
    if (s < 0 || s % item != 0 || static_cast<std::size_t>(s / item) < cols) {
      throw py::value_error(std::string(name) +
                            " must have a non-negative row stride of at least one row");
    }
    stride = static_cast<std::size_t>(s / item);
  }
  T* data;
  if constexpr (std::is_const_v<T>) {
    data = static_cast<T*>(a.data());
  } else {
    if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only");
    data = static_cast<T*>(a.mutable_data());
  }
  return lk::Rows<T>{data, rows, cols, stride};
}

// A contiguous 1-D array as a span.
template <class T>
std::span<T> span_of(py::array& a, const char* name) {
  using U = std::remove_const_t<T>;
  require_dtype<U>(a, name);
  if (a.ndim() != 1) {
    throw py::value_error(std::string(name) + " must be 1-D, got " + std::to_string(a.ndim()) +
                          "-D");
  }
  if (a.shape(0) > 1 && a.strides(0) != static_cast<py::ssize_t>(sizeof(U))) {
    throw py::value_error(std::string(name) + " must be contiguous");
  }
  T* data;
  if constexpr (std::is_const_v<T>) {
    data = static_cast<T*>(a.data());
  } else {
    if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only");
    data = static_cast<T*>(a.mutable_data());
  }
  return std::span<T>(data, static_cast<std::size_t>(a.shape(0)));
}

// An optional 1-D array (None: empty span).
template <class T>
std::span<T> optional_span(const py::object& o, const char* name) {
  if (o.is_none()) return {};
  py::array a = o.cast<py::array>();
  return span_of<T>(a, name);
}

template <class T>
lk::Rows<T> optional_rows(const py::object& o, const char* name) {
  if (o.is_none()) return lk::Rows<T>{nullptr, 0, 0, 0};
  py::array a = o.cast<py::array>();
  return rows_of<T>(a, name);
}

// softmax / log_softmax: x float16/float32/float64, y float32 (float16, float32) or float64.
enum class Forward { kSoftmax, kLogSoftmax };

template <class In, class Out>
void forward_typed(Forward op, py::array& x, py::array& y, const lk::SoftmaxOptions& o) {
  auto xv = rows_of<const In>(x, "x");
  auto yv = rows_of<Out>(y, "out");
  py::gil_scoped_release release;
  if (op == Forward::kSoftmax) {
    lk::softmax(xv, yv, o);
  } else {
    lk::log_softmax(xv, yv, o);
  }
}

void forward(Forward op, py::array x, py::array y, const lk::SoftmaxOptions& o) {
  if (has_dtype<double>(x)) {
    forward_typed<double, double>(op, x, y, o);
  } else if (has_dtype<float>(x)) {
    forward_typed<float, float>(op, x, y, o);
  } else if (has_dtype<lk::float16>(x)) {
    forward_typed<lk::float16, float>(op, x, y, o);
  } else {
    throw py::type_error("x must have dtype float16, float32 or float64, got " +
                         std::string(py::str(x.dtype())));
  }
}

template <class In, class Out>
void logsumexp_typed(py::array& x, py::array& out, const lk::SoftmaxOptions& o) {
  auto xv = rows_of<const In>(x, "x");
  auto ov = span_of<Out>(out, "out");
  py::gil_scoped_release release;
  lk::logsumexp(xv, ov, o);
}

void logsumexp(py::array x, py::array out, const lk::SoftmaxOptions& o) {
  if (has_dtype<double>(x)) {
    logsumexp_typed<double, double>(x, out, o);
  } else if (has_dtype<float>(x)) {
    logsumexp_typed<float, float>(x, out, o);
  } else if (has_dtype<lk::float16>(x)) {
    logsumexp_typed<lk::float16, float>(x, out, o);
  } else {
    throw py::type_error("x must have dtype float16, float32 or float64, got " +
                         std::string(py::str(x.dtype())));
  }
}

template <class T>
void backward_typed(Forward op, py::array& y, py::array& dy, py::array& dx,
                    const lk::SoftmaxOptions& o) {
  auto yv = rows_of<const T>(y, "y");
  auto dyv = rows_of<const T>(dy, "dy");
  auto dxv = rows_of<T>(dx, "out");
  py::gil_scoped_release release;
  if (op == Forward::kSoftmax) {
    lk::softmax_backward(yv, dyv, dxv, o);
  } else {
    lk::log_softmax_backward(yv, dyv, dxv, o);
  }
}

void backward(Forward op, py::array y, py::array dy, py::array dx, const lk::SoftmaxOptions& o) {
  if (has_dtype<double>(y)) {
    backward_typed<double>(op, y, dy, dx, o);
  } else if (has_dtype<float>(y)) {
    backward_typed<float>(op, y, dy, dx, o);
  } else {
    throw py::type_error("y must have dtype float32 or float64, got " +
                         std::string(py::str(y.dtype())));
  }
}

// Cross-entropy. target: int64 [rows] (class indices) or the logits' dtype [rows, cols]
// (probabilities). weight: float64 [cols] or None. grad, row_loss: outputs or None.
template <class T>
double cross_entropy_typed(py::array& x, py::array& target, const py::object& weight,
                           lk::CrossEntropyOptions o, const py::object& grad,
                           const py::object& row_loss) {
  auto xv = rows_of<const T>(x, "logits");
  o.weight = optional_span<const double>(weight, "weight");
  lk::LossOutputs<T> out;
  out.grad = optional_rows<T>(grad, "grad");
  out.row_loss = optional_span<T>(row_loss, "row_loss");
  if (has_dtype<std::int64_t>(target)) {
    auto tv = span_of<const std::int64_t>(target, "target");
    py::gil_scoped_release release;
    return lk::cross_entropy(xv, tv, o, out);
  }
  auto tv = rows_of<const T>(target, "target");
  py::gil_scoped_release release;
  return lk::cross_entropy(xv, tv, o, out);
}

double cross_entropy(py::array x, py::array target, py::object weight,
                     const lk::CrossEntropyOptions& o, py::object grad, py::object row_loss) {
  if (has_dtype<double>(x)) return cross_entropy_typed<double>(x, target, weight, o, grad, row_loss);
  if (has_dtype<float>(x)) return cross_entropy_typed<float>(x, target, weight, o, grad, row_loss);
  throw py::type_error("logits must have dtype float32 or float64, got " +
                       std::string(py::str(x.dtype())));
}

template <class T>
double distillation_typed(py::array& s, py::array& t, const py::object& target,
                          lk::DistillationOptions o, const py::object& grad,
                          const py::object& row_loss) {
  auto sv = rows_of<const T>(s, "student");
  auto tv = rows_of<const T>(t, "teacher");
  o.target = optional_span<const std::int64_t>(target, "target");
  lk::LossOutputs<T> out;
  out.grad = optional_rows<T>(grad, "grad");
  out.row_loss = optional_span<T>(row_loss, "row_loss");
  py::gil_scoped_release release;
  return lk::distillation_loss(sv, tv, o, out);
}

double distillation(py::array s, py::array t, py::object target, const lk::DistillationOptions& o,
                    py::object grad, py::object row_loss) {
  if (has_dtype<double>(s)) return distillation_typed<double>(s, t, target, o, grad, row_loss);
  if (has_dtype<float>(s)) return distillation_typed<float>(s, t, target, o, grad, row_loss);
  throw py::type_error("student must have dtype float32 or float64, got " +
                       std::string(py::str(s.dtype())));
}

// Contrastive loss: image, text [B, D] of one dtype; returns (loss, d loss / d log_scale or None).
template <class T>
py::tuple contrastive_typed(py::array& image, py::array& text, double log_scale,
                            const lk::ContrastiveOptions& o, const py::object& grad_image,
                            const py::object& grad_text, bool grad_log_scale) {
  auto iv = rows_of<const T>(image, "image");
  auto tv = rows_of<const T>(text, "text");
  lk::ContrastiveOutputs<T> out;
  out.grad_image = optional_rows<T>(grad_image, "grad_image");
  out.grad_text = optional_rows<T>(grad_text, "grad_text");
  double g = 0.0;
  if (grad_log_scale) out.grad_log_scale = &g;
  double loss;
  {
    py::gil_scoped_release release;
    loss = lk::contrastive_loss(iv, tv, log_scale, o, out);
  }
  return py::make_tuple(loss, grad_log_scale ? py::object(py::float_(g)) : py::object(py::none()));
}

py::tuple contrastive(py::array image, py::array text, double log_scale,
                      const lk::ContrastiveOptions& o, py::object grad_image, py::object grad_text,
                      bool grad_log_scale) {
  if (has_dtype<double>(image)) {
    return contrastive_typed<double>(image, text, log_scale, o, grad_image, grad_text,
                                     grad_log_scale);
  }
  if (has_dtype<float>(image)) {
    return contrastive_typed<float>(image, text, log_scale, o, grad_image, grad_text,
                                    grad_log_scale);
  }
  throw py::type_error("image must have dtype float32 or float64, got " +
                       std::string(py::str(image.dtype())));
}

// Linear cross-entropy: hidden [N, D] and weight [V, D] float32 or bfloat16 bits (uint16, the
// `bf16` flags say which), target int64 [N], class_weight float64 [V] or None; grad_hidden
// [N, D], grad_weight [V, D], row_loss [N]: float32 outputs or None.
template <class H, class W>
double linear_ce_typed(py::array& hidden, py::array& weight, py::array& target,
                       const lk::LinearCrossEntropyOptions& o, const py::object& grad_hidden,
                       const py::object& grad_weight, const py::object& row_loss) {
  auto hv = rows_of<const H>(hidden, "hidden");
  auto wv = rows_of<const W>(weight, "weight");
  auto tv = span_of<const std::int64_t>(target, "target");
  lk::LinearCrossEntropyOutputs out;
  out.grad_hidden = optional_rows<float>(grad_hidden, "grad_hidden");
  out.grad_weight = optional_rows<float>(grad_weight, "grad_weight");
  out.row_loss = optional_span<float>(row_loss, "row_loss");
  py::gil_scoped_release release;
  return lk::linear_cross_entropy(hv, wv, tv, o, out);
}

double linear_cross_entropy(py::array hidden, py::array weight, py::array target,
                            py::object class_weight, const lk::CrossEntropyOptions& ce,
                            std::size_t chunk_rows, std::size_t chunk_vocab,
                            bool accumulate_grad_weight, py::object grad_hidden,
                            py::object grad_weight, py::object row_loss) {
  lk::LinearCrossEntropyOptions o;
  o.ce = ce;
  o.ce.weight = optional_span<const double>(class_weight, "class_weight");
  o.chunk_rows = chunk_rows;
  o.chunk_vocab = chunk_vocab;
  o.accumulate_grad_weight = accumulate_grad_weight;
  const bool hb = has_dtype<lk::bfloat16>(hidden);
  const bool wb = has_dtype<lk::bfloat16>(weight);
  if (hb && wb) {
    return linear_ce_typed<lk::bfloat16, lk::bfloat16>(hidden, weight, target, o, grad_hidden,
                                                       grad_weight, row_loss);
  }
  if (hb) {
    return linear_ce_typed<lk::bfloat16, float>(hidden, weight, target, o, grad_hidden,
                                                grad_weight, row_loss);
  }
  if (wb) {
    return linear_ce_typed<float, lk::bfloat16>(hidden, weight, target, o, grad_hidden,
                                                grad_weight, row_loss);
  }
  return linear_ce_typed<float, float>(hidden, weight, target, o, grad_hidden, grad_weight,
                                       row_loss);
}

// Sampling params with the spans pointing into the given arrays (kept alive by the caller).
struct ParamsWithStorage {
  lk::SamplingParams params;
  std::vector<lk::TokenBias> bias;
};

ParamsWithStorage make_params(const lk::SamplingParams& base, py::array& history,
                              py::array& bias_tokens, py::array& bias_values) {
  ParamsWithStorage p{base, {}};
  p.params.history = span_of<const std::int32_t>(history, "history");
  auto tok = span_of<const std::int32_t>(bias_tokens, "logit_bias tokens");
  py::array values = bias_values;
  require_dtype<float>(values, "logit_bias values");
  auto val = span_of<const float>(values, "logit_bias values");
  if (tok.size() != val.size()) {
    throw py::value_error("logit_bias: " + std::to_string(tok.size()) + " tokens but " +
                          std::to_string(val.size()) + " values");
  }
  for (std::size_t i = 0; i < tok.size(); ++i) p.bias.push_back({tok[i], val[i]});
  p.params.logit_bias = p.bias;
  return p;
}

// Batch sampling: logits float32 [rows, V]; streams, steps uint64 [rows]; results written to
// tokens (int32 [rows]), logprobs (float32 [rows]), top_tokens / top_logprobs ([rows, k], padded
// with -1 / -inf when fewer tokens survive) or None.
void sample_rows(py::array logits, const lk::SamplingParams& base, py::array history,
                 py::array bias_tokens, py::array bias_values, py::array streams, py::array steps,
                 int threads, py::array tokens, py::array logprobs, py::object top_tokens,
                 py::object top_logprobs) {
  auto lv = rows_of<const float>(logits, "logits");
  ParamsWithStorage p = make_params(base, history, bias_tokens, bias_values);
  auto sv = span_of<const std::uint64_t>(streams, "stream");
  auto stv = span_of<const std::uint64_t>(steps, "step");
  auto tv = span_of<std::int32_t>(tokens, "tokens");
  auto pv = span_of<float>(logprobs, "logprobs");
  auto ttv = optional_rows<std::int32_t>(top_tokens, "top_tokens");
  auto tlv = optional_rows<float>(top_logprobs, "top_logprobs");
  if (tv.size() != lv.rows || pv.size() != lv.rows) {
    throw py::value_error("tokens and logprobs must have one entry per row");
  }
  std::vector<lk::SampleResult> results(lv.rows);
  {
    py::gil_scoped_release release;
    lk::sample(lv, std::span<const lk::SamplingParams>(&p.params, 1), sv, stv, results, threads);
  }
  for (std::size_t r = 0; r < lv.rows; ++r) {
    tv[r] = results[r].token;
    pv[r] = results[r].logprob;
    if (ttv.data) {
      const auto& top = results[r].top;
      for (std::size_t k = 0; k < ttv.cols; ++k) {
        const bool have = k < top.size();
        ttv.row(r)[k] = have ? top[k].token : -1;
        tlv.row(r)[k] = have ? top[k].logprob : -std::numeric_limits<float>::infinity();
      }
    }
  }
}

// The distribution sample() draws from, row by row: logits and probs float32 [rows, V].
void sampling_distribution(py::array logits, const lk::SamplingParams& base, py::array history,
                           py::array bias_tokens, py::array bias_values, py::array probs) {
  auto lv = rows_of<const float>(logits, "logits");
  auto pv = rows_of<float>(probs, "out");
  if (pv.rows != lv.rows || pv.cols != lv.cols) {
    throw py::value_error("out must have the shape of logits");
  }
  ParamsWithStorage p = make_params(base, history, bias_tokens, bias_values);
  py::gil_scoped_release release;
  for (std::size_t r = 0; r < lv.rows; ++r) {
    lk::sampling_distribution(std::span<const float>(lv.row(r), lv.cols), p.params,
                              std::span<float>(pv.row(r), pv.cols));
  }
}

}  // namespace

void bind_chain(py::module_& m);  // _chain.cc: the submodule `chain` (SamplerChain)

PYBIND11_MODULE(_logitkit, m) {
  m.doc() = "logitkit C++ bindings; use the `logitkit` package, which wraps these.";
  bind_chain(m);

  py::enum_<lk::EmptyRow>(m, "EmptyRow")
      .value("zeros", lk::EmptyRow::kZeros)
      .value("nan", lk::EmptyRow::kNaN);
  py::enum_<lk::NanPolicy>(m, "NanPolicy")
      .value("propagate", lk::NanPolicy::kPropagate)
      .value("raise", lk::NanPolicy::kThrow);
  py::enum_<lk::Precision>(m, "Precision")
      .value("accurate", lk::Precision::kAccurate)
      .value("fast", lk::Precision::kFast);
  py::enum_<lk::Reduction>(m, "Reduction")
      .value("none", lk::Reduction::kNone)
      .value("mean", lk::Reduction::kMean)
      .value("sum", lk::Reduction::kSum)
      .value("batchmean", lk::Reduction::kBatchMean);
  py::enum_<lk::LabelSmoothing>(m, "LabelSmoothing")
      .value("pytorch", lk::LabelSmoothing::kPyTorch)
      .value("megatron", lk::LabelSmoothing::kMegatron);
  py::enum_<lk::EmptyMean>(m, "EmptyMean")
      .value("nan", lk::EmptyMean::kNaN)
      .value("zero", lk::EmptyMean::kZero);
  py::enum_<lk::Divergence>(m, "Divergence")
      .value("forward_kl", lk::Divergence::kForwardKL)
      .value("reverse_kl", lk::Divergence::kReverseKL)
      .value("js", lk::Divergence::kJensenShannon);
  py::enum_<lk::TeacherInput>(m, "TeacherInput")
      .value("logits", lk::TeacherInput::kLogits)
      .value("log_probs", lk::TeacherInput::kLogProbs);

  py::class_<lk::SoftmaxOptions>(m, "SoftmaxOptions")
      .def(py::init<>())
      .def_readwrite("temperature", &lk::SoftmaxOptions::temperature)
      .def_readwrite("empty_row", &lk::SoftmaxOptions::empty_row)
      .def_readwrite("nan", &lk::SoftmaxOptions::nan)
      .def_readwrite("precision", &lk::SoftmaxOptions::precision)
      .def_readwrite("threads", &lk::SoftmaxOptions::threads);
  py::class_<lk::CrossEntropyOptions>(m, "CrossEntropyOptions")
      .def(py::init<>())
      .def_readwrite("reduction", &lk::CrossEntropyOptions::reduction)
      .def_readwrite("ignore_index", &lk::CrossEntropyOptions::ignore_index)
      .def_readwrite("label_smoothing", &lk::CrossEntropyOptions::label_smoothing)
      .def_readwrite("smoothing", &lk::CrossEntropyOptions::smoothing)
      .def_readwrite("z_loss", &lk::CrossEntropyOptions::z_loss)
      .def_readwrite("softcap", &lk::CrossEntropyOptions::softcap)
      .def_readwrite("temperature", &lk::CrossEntropyOptions::temperature)
      .def_readwrite("empty_mean", &lk::CrossEntropyOptions::empty_mean)
      .def_readwrite("precision", &lk::CrossEntropyOptions::precision)
      .def_readwrite("threads", &lk::CrossEntropyOptions::threads);
  py::class_<lk::DistillationOptions>(m, "DistillationOptions")
      .def(py::init<>())
      .def_readwrite("temperature", &lk::DistillationOptions::temperature)
      .def_readwrite("divergence", &lk::DistillationOptions::divergence)
      .def_readwrite("js_beta", &lk::DistillationOptions::js_beta)
      .def_readwrite("tau_squared", &lk::DistillationOptions::tau_squared)
      .def_readwrite("reduction", &lk::DistillationOptions::reduction)
      .def_readwrite("teacher_input", &lk::DistillationOptions::teacher_input)
      .def_readwrite("alpha", &lk::DistillationOptions::alpha)
      .def_readwrite("ignore_index", &lk::DistillationOptions::ignore_index)
      .def_readwrite("precision", &lk::DistillationOptions::precision)
      .def_readwrite("threads", &lk::DistillationOptions::threads);
  py::class_<lk::ContrastiveOptions>(m, "ContrastiveOptions")
      .def(py::init<>())
      .def_readwrite("normalize", &lk::ContrastiveOptions::normalize)
      .def_readwrite("normalize_eps", &lk::ContrastiveOptions::normalize_eps)
      .def_readwrite("max_scale", &lk::ContrastiveOptions::max_scale)
      .def_readwrite("block", &lk::ContrastiveOptions::block)
      .def_readwrite("threads", &lk::ContrastiveOptions::threads);
  py::class_<lk::SamplingParams>(m, "SamplingParams")
      .def(py::init<>())
      .def_readwrite("temperature", &lk::SamplingParams::temperature)
      .def_readwrite("top_k", &lk::SamplingParams::top_k)
      .def_readwrite("top_p", &lk::SamplingParams::top_p)
      .def_readwrite("min_p", &lk::SamplingParams::min_p)
      .def_readwrite("min_tokens_to_keep", &lk::SamplingParams::min_tokens_to_keep)
      .def_readwrite("repetition_penalty", &lk::SamplingParams::repetition_penalty)
      .def_readwrite("presence_penalty", &lk::SamplingParams::presence_penalty)
      .def_readwrite("frequency_penalty", &lk::SamplingParams::frequency_penalty)
      .def_readwrite("seed", &lk::SamplingParams::seed)
      .def_readwrite("top_logprobs", &lk::SamplingParams::top_logprobs);

  m.def("softmax", [](py::array x, py::array y, const lk::SoftmaxOptions& o) {
    forward(Forward::kSoftmax, x, y, o);
  });
  m.def("log_softmax", [](py::array x, py::array y, const lk::SoftmaxOptions& o) {
    forward(Forward::kLogSoftmax, x, y, o);
  });
  m.def("logsumexp", &logsumexp);
  m.def("softmax_backward", [](py::array y, py::array dy, py::array dx,
                               const lk::SoftmaxOptions& o) {
    backward(Forward::kSoftmax, y, dy, dx, o);
  });
  m.def("log_softmax_backward", [](py::array y, py::array dy, py::array dx,
                                   const lk::SoftmaxOptions& o) {
    backward(Forward::kLogSoftmax, y, dy, dx, o);
  });
  m.def("cross_entropy", &cross_entropy);
  m.def("distillation_loss", &distillation);
  m.def("contrastive_loss", &contrastive);
  m.def("linear_cross_entropy", &linear_cross_entropy);
  m.attr("CLIP_INIT_LOG_SCALE") = lk::kClipInitLogScale;
  m.def("sample", &sample_rows);
  m.def("sampling_distribution", &sampling_distribution);
  m.def("philox_uniform", &lk::philox_uniform);
  m.def("targets", []() {
    lk::TargetInfo t = lk::targets();
    py::dict d;
    d["compiled"] = t.compiled;
    d["supported"] = t.supported;
    d["chosen"] = t.chosen;
    return d;
  });
  m.def("force_target", [](const std::string& name) { return lk::force_target(name); });
  m.def("reset_target", &lk::reset_target);
  // The package version is the CMake project version (python/CMakeLists.txt passes it);
  // library_version is the C++ header's, which the tests check against it.
  m.attr("__version__") = LOGITKIT_PYTHON_VERSION;
  m.attr("library_version") = LOGITKIT_VERSION_STRING;
}
