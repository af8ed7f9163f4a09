// SPDX-License-Identifier: Apache-2.0
// XNNPACK softmax (xnn_create/setup/run of softmax_nc_f32) on a pthreadpool of the case's size.

#include <pthreadpool.h>
#include <xnnpack.h>

#include <stdexcept>

#include "bench/peers/adapters.h"

namespace logitkit::bench {
namespace {

class Xnnpack final : public Kernel {
 public:
  explicit Xnnpack(const Case& c) : c_(c) {
    if (xnn_initialize(nullptr) != xnn_status_success) throw std::runtime_error("xnn_initialize");
    // One thread: no pool (XNNPACK then runs on the calling thread).
    if (c.threads > 1) pool_ = pthreadpool_create(static_cast<size_t>(c.threads));
    if (xnn_create_softmax_nc_f32(c.cols, c.cols, c.cols, 0, &op_) != xnn_status_success) {
      throw std::runtime_error("xnn_create_softmax_nc_f32");
    }
    if (c.buffers.size() == 1) setup(0);
  }
  ~Xnnpack() override {
    xnn_delete_operator(op_);
    if (pool_ != nullptr) pthreadpool_destroy(pool_);
  }
  // A rotation over several buffers needs a setup per call, as a user's changing pointers do.
  void run(std::size_t i) override {
    if (c_.buffers.size() != 1) setup(i);
    xnn_run_operator(op_, pool_);
  }

 private:
  void setup(std::size_t i) {
    xnn_setup_softmax_nc_f32(op_, c_.rows, c_.buffers[i].x, c_.buffers[i].y, pool_);
  }

  Case c_;
  pthreadpool_t pool_ = nullptr;
  xnn_operator_t op_ = nullptr;
};

}  // namespace

std::unique_ptr<Kernel> make_xnnpack(const Case& c) {
  if (c.op != Op::kSoftmax) return nullptr;  // XNNPACK has only softmax
  return std::make_unique<Xnnpack>(c);
}

}  // namespace logitkit::bench
