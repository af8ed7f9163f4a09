// SPDX-License-Identifier: Apache-2.0
// oneDNN softmax and log-softmax primitives (softmax_v2, algorithm softmax_accurate / softmax_log).

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/peers/adapters.h"

namespace logitkit::bench {
namespace {

// Primitive, memory objects and argument maps are made once; run() is execute + wait.
class OneDnn final : public Kernel {
 public:
  explicit OneDnn(const Case& c) : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    // oneDNN 2.6 in Debian threads with OpenMP: its thread count is OpenMP's.
    omp_set_num_threads(c.threads);
    const dnnl::memory::desc md({static_cast<dnnl::memory::dim>(c.rows),
                                 static_cast<dnnl::memory::dim>(c.cols)},
                                dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    const auto algo = c.op == Op::kSoftmax ? dnnl::algorithm::softmax_accurate
                                           : dnnl::algorithm::softmax_log;
    const dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algo, md, md, 1);
    primitive_ = dnnl::softmax_v2_forward(dnnl::softmax_v2_forward::primitive_desc(desc, engine_));
    for (const Buffers& b : c.buffers) {
      dnnl::memory src(md, engine_, const_cast<float*>(b.x));
      dnnl::memory dst(md, engine_, b.y);
      args_.push_back({{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    }
  }
  void run(std::size_t i) override {
    primitive_.execute(stream_, args_[i]);
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::softmax_v2_forward primitive_;
  std::vector<std::unordered_map<int, dnnl::memory>> args_;
};

}  // namespace

std::unique_ptr<Kernel> make_onednn(const Case& c) {
  if (c.op == Op::kLogSumExp) return nullptr;  // oneDNN has no logsumexp primitive
  return std::make_unique<OneDnn>(c);
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

}  // namespace logitkit::bench
