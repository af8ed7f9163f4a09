// SPDX-License-Identifier: Apache-2.0
// ForkJoin: persistent workers, row ranges split evenly, the caller doing the first part.

#include "bench/peers/fork_join.h"

namespace logitkit::bench {

ForkJoin::ForkJoin(int threads) : threads_(threads < 1 ? 1 : threads) {
  for (int part = 1; part < threads_; ++part) workers_.emplace_back([this, part] { work(part); });
}

ForkJoin::~ForkJoin() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  for (std::thread& t : workers_) t.join();
}

void ForkJoin::run(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn) {
  if (threads_ == 1) {
    fn(0, n);
    return;
  }
  n_ = n;
  fn_ = &fn;
  pending_.store(threads_ - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  fn(0, n / threads_);
  while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ForkJoin::work(int part) {
  unsigned seen = 0;  // the generation at construction, whenever this thread gets to run
  for (;;) {
    unsigned now;
    while ((now = generation_.load(std::memory_order_acquire)) == seen) std::this_thread::yield();
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    const std::size_t begin = n_ * part / threads_;
    const std::size_t end = n_ * (part + 1) / threads_;
    if (begin < end) (*fn_)(begin, end);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace logitkit::bench
