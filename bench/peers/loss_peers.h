// SPDX-License-Identifier: Apache-2.0
// libtorch cross-entropy and KL distillation, forward + backward, for bench/loss_bench.cc. Built
// into logitkit_bench_peers; without libtorch (or with LOGITKIT_BENCH_PEERS=OFF) the factories
// return nullptr.
#ifndef LOGITKIT_BENCH_PEERS_LOSS_PEERS_H_
#define LOGITKIT_BENCH_PEERS_LOSS_PEERS_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace logitkit::bench {

// A peer loss prepared for one case: tensors wrap the caller's buffers (no copy) and every
// intermediate is allocated once, so run() is one forward + backward that writes the gradient
// into the caller's buffer and returns the loss.
class LossKernel {
 public:
  virtual ~LossKernel() = default;
  virtual double run() = 0;
};

// How the peer is called.
//   kReused: the ATen kernels autograd runs (log_softmax, nll_loss / kl_div's formula and their
//     backward), every output preallocated and reused: libtorch at its best.
//   kAutograd: as users write it (x.requires_grad_(), F.cross_entropy / F.kl_div, loss.backward());
//     libtorch allocates its intermediates and the gradient on every call.
enum class TorchMode { kReused, kAutograd };

// F.cross_entropy(x, target) (reduction mean, ignore_index -100) and d loss / d x into grad.
std::unique_ptr<LossKernel> make_torch_cross_entropy(const float* x, const std::int64_t* target,
                                                     float* grad, std::size_t rows,
                                                     std::size_t cols, int threads, TorchMode mode);

// Our distillation default: tau^2 * F.kl_div(F.log_softmax(s / tau), F.log_softmax(t / tau),
// reduction='batchmean', log_target=True), and d loss / d s into grad.
std::unique_ptr<LossKernel> make_torch_kl_div(const float* s, const float* t, float* grad,
                                              std::size_t rows, std::size_t cols, double tau,
                                              int threads, TorchMode mode);

}  // namespace logitkit::bench

#endif  // LOGITKIT_BENCH_PEERS_LOSS_PEERS_H_
