// SPDX-License-Identifier: Apache-2.0
// A persistent pool of worker threads for parallel_for.

#include "src/parallel/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace logitkit::internal {
namespace {

// Below this many elements per thread, splitting costs more than it saves.
constexpr std::size_t kMinWorkPerThread = 1 << 15;

// A worker that finishes its tasks polls for the next call this many times (a pause each, about
// 20-50 us in all) before it sleeps on the condition variable: a long row's passes follow one
// another within microseconds (statistics, merge, output), and waking a sleeping thread costs
// several microseconds of the next pass on the other core.
constexpr int kSpinPolls = 4096;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Set while this thread runs a pool task: a nested parallel_for then runs inline (no deadlock,
// same results, since results never depend on the partition).
thread_local bool t_in_task = false;

class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  // Runs task(k) for k in [0, count) with up to `threads` threads (the caller included).
  void run(int count, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> call_lock(call_mutex_);  // one parallel call at a time
    ensure_workers(count - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = count;
      next_ = 1;  // the caller runs task 0
      pending_ = count - 1;
      generation_.store(generation_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_release);
    }
    wake_.notify_all();
    task(0);
    for (;;) {  // help with the remaining tasks, then wait for the workers
      int k;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (next_ >= count_) break;
        k = next_++;
      }
      task(k);
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void ensure_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      workers_.emplace_back([this] { loop(); });
    }
  }

  void loop() {
    unsigned long long seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (!stop_ && generation_.load(std::memory_order_relaxed) == seen) {
        lock.unlock();  // poll a while for the next call, then sleep
        for (int i = 0; i < kSpinPolls && generation_.load(std::memory_order_acquire) == seen; ++i) {
          cpu_relax();
        }
        lock.lock();
      }
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && next_ < count_); });
      if (stop_) return;
      seen = generation_;
      while (next_ < count_) {
        const int k = next_++;
        const std::function<void(int)>* task = task_;
        lock.unlock();
        (*task)(k);
        lock.lock();
        if (--pending_ == 0) done_.notify_all();
      }
    }
  }

  std::mutex call_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* task_ = nullptr;
  int count_ = 0, next_ = 0, pending_ = 0;
  std::atomic<unsigned long long> generation_{0};  // written under mutex_, polled without
  bool stop_ = false;
};

}  // namespace

int threads_for(int requested, std::size_t work) {
  int t = requested > 0 ? requested
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t useful = std::max<std::size_t>(1, work / kMinWorkPerThread);
  if (static_cast<std::size_t>(t) > useful) t = static_cast<int>(useful);
  return std::max(1, std::min(t, 256));
}

void parallel_for(std::size_t n, int threads,
                  const std::function<void(std::size_t, std::size_t)>& fn) {
  if (n == 0) return;
  const int parts = static_cast<int>(std::min<std::size_t>(n, std::max(1, threads)));
  if (parts <= 1 || t_in_task) {
    fn(0, n);
    return;
  }
  const std::function<void(int)> task = [&](int k) {
    const bool was = t_in_task;
    t_in_task = true;
    const std::size_t begin = n * static_cast<std::size_t>(k) / parts;
    const std::size_t end = n * static_cast<std::size_t>(k + 1) / parts;
    if (begin < end) fn(begin, end);
    t_in_task = was;
  };
  Pool::instance().run(parts, task);
}

}  // namespace logitkit::internal
