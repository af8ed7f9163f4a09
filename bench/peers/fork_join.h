// SPDX-License-Identifier: Apache-2.0
// ForkJoin: a persistent worker pool that splits rows for peers without threading of their own.
#ifndef LOGITKIT_BENCH_PEERS_FORK_JOIN_H_
#define LOGITKIT_BENCH_PEERS_FORK_JOIN_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace logitkit::bench {

// run(fn) calls fn(begin, end) on `threads` threads over a contiguous split of [0, n); the
// calling thread takes the first part. Workers live as long as the ForkJoin and spin (yielding)
// between calls, as a peer's thread pool would.
class ForkJoin {
 public:
  explicit ForkJoin(int threads);
  ~ForkJoin();
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;

  void run(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void work(int part);

  int threads_;
  std::size_t n_ = 0;
  const std::function<void(std::size_t, std::size_t)>* fn_ = nullptr;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace logitkit::bench

#endif  // LOGITKIT_BENCH_PEERS_FORK_JOIN_H_
