// SPDX-License-Identifier: Apache-2.0
// pybind11 bindings of logitkit::SamplerChain: the submodule _logitkit.chain (the Python layer
// is python/logitkit/_chain.py). Float32 C-contiguous arrays in; the chain runs with the GIL
// released; std::invalid_argument becomes ValueError with the library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "logitkit/sampler_chain.h"

namespace py = pybind11;
namespace lk = logitkit;

namespace {

using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Bias = std::vector<std::pair<std::int32_t, float>>;

std::vector<lk::TokenBias> token_bias(const Bias& b) {
  std::vector<lk::TokenBias> out;
  for (const auto& [t, v] : b) out.push_back({t, v});
  return out;
}

lk::SamplerChain make_chain(const py::object& stages) {
  if (py::isinstance<py::str>(stages)) return lk::SamplerChain(stages.cast<std::string>());
  std::vector<lk::ChainStage> out;
  for (const py::handle item : stages) {
    auto pair = item.cast<py::tuple>();
    lk::ChainStage st;
    st.name = pair[0].cast<std::string>();
    for (const auto& [k, v] : pair[1].cast<py::dict>()) {
      const std::string key = k.cast<std::string>();
      if (key == "sequence_breakers") {
        st.sequence_breakers = v.cast<std::vector<std::vector<std::int32_t>>>();
      } else {
        st.params.emplace_back(key, v.cast<double>());
      }
    }
    out.push_back(std::move(st));
  }
  return lk::SamplerChain(std::move(out));
}

// Rows of logits [rows, V] with one chain (or one per row), per-row histories and seeds (or
// one); returns (tokens, logprobs, mus).
py::tuple sample_rows(const std::vector<const lk::SamplerChain*>& chain_ptrs, const F32& logits,
                      const std::vector<std::vector<std::int32_t>>& histories,
                      const std::vector<std::uint64_t>& seeds,
                      const std::vector<std::uint64_t>& streams,
                      const std::vector<std::uint64_t>& steps, std::vector<double> mus,
                      const Bias& bias, int threads) {
  const std::vector<lk::TokenBias> tb = token_bias(bias);
  const std::size_t rows = static_cast<std::size_t>(logits.shape(0));
  const std::size_t cols = static_cast<std::size_t>(logits.shape(1));
  std::vector<lk::SamplerChain> chains;
  for (const lk::SamplerChain* c : chain_ptrs) chains.push_back(*c);
  const std::size_t nctx = std::max(histories.size(), seeds.size());
  std::vector<lk::ChainContext> ctx(std::max<std::size_t>(nctx, 1));
  for (std::size_t r = 0; r < ctx.size(); ++r) {
    ctx[r].seed = seeds[seeds.size() == 1 ? 0 : r];
    if (!histories.empty()) ctx[r].history = histories[histories.size() == 1 ? 0 : r];
    ctx[r].logit_bias = tb;
  }
  std::vector<lk::MirostatState> states;
  for (double m : mus) states.push_back({m});
  std::vector<lk::SampleResult> out(rows);
  {
    py::gil_scoped_release release;
    lk::sample_chain(lk::Rows<const float>{logits.data(), rows, cols, cols}, chains, ctx, streams,
                     steps, out, states, threads);
  }
  py::array_t<std::int32_t> tokens(static_cast<py::ssize_t>(rows));
  py::array_t<float> logprobs(static_cast<py::ssize_t>(rows));
  py::array_t<double> new_mus(static_cast<py::ssize_t>(states.size()));
  for (std::size_t r = 0; r < rows; ++r) {
    tokens.mutable_at(r) = out[r].token;
    logprobs.mutable_at(r) = out[r].logprob;
  }
  for (std::size_t r = 0; r < states.size(); ++r) new_mus.mutable_at(r) = states[r].mu;
  return py::make_tuple(tokens, logprobs, new_mus);
}

py::array_t<float> distribution(const lk::SamplerChain& chain, const F32& logits,
                                const std::vector<std::int32_t>& history, std::uint64_t seed,
                                std::uint64_t stream, std::uint64_t step, double mu,
                                const Bias& bias) {
  const std::vector<lk::TokenBias> tb = token_bias(bias);
  const std::size_t n = static_cast<std::size_t>(logits.shape(0));
  py::array_t<float> probs(static_cast<py::ssize_t>(n));
  lk::ChainContext ctx;
  ctx.history = history;
  ctx.seed = seed;
  ctx.logit_bias = tb;
  lk::MirostatState st{mu};
  {
    py::gil_scoped_release release;
    chain.distribution(std::span<const float>(logits.data(), n), ctx,
                       std::span<float>(probs.mutable_data(), n), stream, step, &st);
  }
  return probs;
}

// n draws of one row's distribution at steps step0 .. step0 + n - 1 (no mirostat).
py::array_t<std::int32_t> sample_many(const lk::SamplerChain& chain, const F32& logits,
                                      const std::vector<std::int32_t>& history,
                                      std::uint64_t seed, std::uint64_t stream,
                                      std::uint64_t step0, std::size_t n, const Bias& bias) {
  const std::vector<lk::TokenBias> tb = token_bias(bias);
  const std::size_t v = static_cast<std::size_t>(logits.shape(0));
  py::array_t<std::int32_t> tokens(static_cast<py::ssize_t>(n));
  std::int32_t* out = tokens.mutable_data();
  lk::ChainContext ctx;
  ctx.history = history;
  ctx.seed = seed;
  ctx.logit_bias = tb;
  {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = chain.sample(std::span<const float>(logits.data(), v), ctx, stream, step0 + i).token;
    }
  }
  return tokens;
}

}  // namespace

void bind_chain(py::module_& parent) {
  py::module_ m = parent.def_submodule("chain", "logitkit.SamplerChain's C++ core");
  py::class_<lk::SamplerChain>(m, "SamplerChain")
      .def(py::init(&make_chain), py::arg("stages"))
      .def_property_readonly("spec", &lk::SamplerChain::spec)
      .def_property_readonly("has_mirostat", &lk::SamplerChain::has_mirostat)
      .def_property_readonly("initial_mu", &lk::SamplerChain::initial_mu)
      .def("distribution", &distribution, py::arg("logits"), py::arg("history"), py::arg("seed"),
           py::arg("stream"), py::arg("step"), py::arg("mu"), py::arg("bias"))
      ;
  m.def("sample_many", &sample_many, py::arg("chain"), py::arg("logits"), py::arg("history"),
        py::arg("seed"), py::arg("stream"), py::arg("step0"), py::arg("n"), py::arg("bias"));
  m.def("sample_rows", &sample_rows, py::arg("chains"), py::arg("logits"), py::arg("histories"),
        py::arg("seeds"), py::arg("streams"), py::arg("steps"), py::arg("mus"), py::arg("bias"),
        py::arg("threads"));
}
