// SPDX-License-Identifier: Apache-2.0
// libtorch softmax, log_softmax and logsumexp into preallocated outputs (the *_out forms).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <string>
#include <vector>

#include "bench/peers/adapters.h"

namespace logitkit::bench {
namespace {

// Tensors wrap the case's buffers once (from_blob, no copy); run() is one ATen call.
class Torch final : public Kernel {
 public:
  explicit Torch(const Case& c) : op_(c.op) {
    at::set_num_threads(c.threads);
    const auto rows = static_cast<int64_t>(c.rows);
    const auto cols = static_cast<int64_t>(c.cols);
    for (const Buffers& b : c.buffers) {
      x_.push_back(at::from_blob(const_cast<float*>(b.x), {rows, cols}, at::kFloat));
      y_.push_back(c.op == Op::kLogSumExp ? at::from_blob(b.y, {rows}, at::kFloat)
                                           : at::from_blob(b.y, {rows, cols}, at::kFloat));
    }
  }
  void run(std::size_t i) override {
    switch (op_) {
      case Op::kSoftmax: at::softmax_out(y_[i], x_[i], 1); break;
      case Op::kLogSoftmax: at::log_softmax_out(y_[i], x_[i], 1); break;
      case Op::kLogSumExp: at::logsumexp_out(y_[i], x_[i], {1}); break;
    }
  }

 private:
  Op op_;
  std::vector<at::Tensor> x_, y_;
};

}  // namespace

std::unique_ptr<Kernel> make_torch(const Case& c) { return std::make_unique<Torch>(c); }

std::string torch_version() { return std::string("libtorch ") + TORCH_VERSION; }

}  // namespace logitkit::bench
