// SPDX-License-Identifier: Apache-2.0
// libtorch cross-entropy and KL distillation forward + backward (see loss_peers.h).

#include "bench/peers/loss_peers.h"

#ifdef LOGITKIT_BENCH_WITH_TORCH
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>
#endif

namespace logitkit::bench {

#ifdef LOGITKIT_BENCH_WITH_TORCH
namespace {

at::Tensor wrap(const float* p, std::size_t rows, std::size_t cols) {
  return at::from_blob(const_cast<float*>(p),
                       {static_cast<int64_t>(rows), static_cast<int64_t>(cols)}, at::kFloat);
}

class TorchCrossEntropy final : public LossKernel {
 public:
  TorchCrossEntropy(const float* x, const std::int64_t* target, float* grad, std::size_t rows,
                    std::size_t cols, TorchMode mode)
      : mode_(mode), grad_ptr_(grad) {
    x_ = wrap(x, rows, cols);
    t_ = at::from_blob(const_cast<std::int64_t*>(target), {static_cast<int64_t>(rows)}, at::kLong);
    g_ = wrap(grad, rows, cols);
    lsm_ = at::empty_like(x_);
    gnll_ = at::empty_like(x_);
    loss_ = at::empty({}, at::kFloat);
    total_weight_ = at::empty({}, at::kFloat);
    one_ = at::ones({}, at::kFloat);
  }
  double run() override {
    if (mode_ == TorchMode::kAutograd) {
      at::Tensor x = x_.detach().requires_grad_(true);
      at::Tensor loss = torch::nn::functional::cross_entropy(x, t_);
      loss.backward();
      // The user's gradient is x.grad(), a fresh tensor: keep it alive until here, like a user
      // would, and let it go (no copy into grad_ptr_: that would be extra work torch doesn't do).
      (void)grad_ptr_;
      return loss.item<double>();
    }
    at::_log_softmax_out(lsm_, x_, 1, false);
    at::nll_loss_forward_out(loss_, total_weight_, lsm_, t_, {}, at::Reduction::Mean, -100);
    at::nll_loss_backward_out(gnll_, one_, lsm_, t_, {}, at::Reduction::Mean, -100, total_weight_);
    at::_log_softmax_backward_data_out(g_, gnll_, lsm_, 1, at::kFloat);
    return loss_.item<double>();
  }

 private:
  TorchMode mode_;
  float* grad_ptr_;
  at::Tensor x_, t_, g_, lsm_, gnll_, loss_, total_weight_, one_;
};

class TorchKlDiv final : public LossKernel {
 public:
  TorchKlDiv(const float* s, const float* t, float* grad, std::size_t rows, std::size_t cols,
             double tau, TorchMode mode)
      : mode_(mode), tau_(tau), rows_(static_cast<double>(rows)) {
    s_ = wrap(s, rows, cols);
    t_ = wrap(t, rows, cols);
    g_ = wrap(grad, rows, cols);
    if (mode == TorchMode::kReused) {
      sb_ = at::empty_like(s_);
      tb_ = at::empty_like(s_);
      lq_ = at::empty_like(s_);
      lp_ = at::empty_like(s_);
      p_ = at::empty_like(s_);
      d_ = at::empty_like(s_);
      loss_ = at::empty({}, at::kFloat);
    }
  }
  double run() override {
    const double f = tau_ * tau_ / rows_;
    if (mode_ == TorchMode::kAutograd) {
      namespace F = torch::nn::functional;
      at::Tensor s = s_.detach().requires_grad_(true);
      at::Tensor lq = F::log_softmax(s / tau_, F::LogSoftmaxFuncOptions(1));
      at::Tensor lp = F::log_softmax(t_ / tau_, F::LogSoftmaxFuncOptions(1));
      at::Tensor loss = F::kl_div(lq, lp, F::KLDivFuncOptions().reduction(torch::kBatchMean).log_target(true)) *
                        (tau_ * tau_);
      loss.backward();
      return loss.item<double>();
    }
    // Forward: log_softmax of both at tau, then kl_div(log_target) = sum exp(lp) (lp - lq).
    at::mul_out(sb_, s_, 1.0 / tau_);
    at::_log_softmax_out(lq_, sb_, 1, false);
    at::mul_out(tb_, t_, 1.0 / tau_);
    at::_log_softmax_out(lp_, tb_, 1, false);
    at::exp_out(p_, lp_);
    at::sub_out(d_, lp_, lq_);
    d_.mul_(p_);
    at::sum_out(loss_, d_, at::IntArrayRef{0, 1});
    // Backward: d/d lq = -p * f, through log_softmax, then the 1/tau of s / tau.
    p_.mul_(-f);
    at::_log_softmax_backward_data_out(g_, p_, lq_, 1, at::kFloat);
    g_.mul_(1.0 / tau_);
    return loss_.item<double>() * f;
  }

 private:
  TorchMode mode_;
  double tau_, rows_;
  at::Tensor s_, t_, g_, sb_, tb_, lq_, lp_, p_, d_, loss_;
};

}  // namespace

std::unique_ptr<LossKernel> make_torch_cross_entropy(const float* x, const std::int64_t* target,
                                                     float* grad, std::size_t rows,
                                                     std::size_t cols, int threads, TorchMode mode) {
  at::set_num_threads(threads);
  return std::make_unique<TorchCrossEntropy>(x, target, grad, rows, cols, mode);
}

std::unique_ptr<LossKernel> make_torch_kl_div(const float* s, const float* t, float* grad,
                                              std::size_t rows, std::size_t cols, double tau,
                                              int threads, TorchMode mode) {
  at::set_num_threads(threads);
  return std::make_unique<TorchKlDiv>(s, t, grad, rows, cols, tau, mode);
}

#else

std::unique_ptr<LossKernel> make_torch_cross_entropy(const float*, const std::int64_t*, float*,
                                                     std::size_t, std::size_t, int, TorchMode) {
  return nullptr;
}
std::unique_ptr<LossKernel> make_torch_kl_div(const float*, const float*, float*, std::size_t,
                                              std::size_t, double, int, TorchMode) {
  return nullptr;
}

#endif

}  // namespace logitkit::bench
