// SPDX-License-Identifier: Apache-2.0
// Fork-join parallelism over index ranges, on a small persistent pool of std::threads.
// Kernels never see threads: callers split work into fixed tasks whose results do not depend on
// which thread runs them, so every thread count gives bitwise identical results.
#ifndef LOGITKIT_SRC_PARALLEL_PARALLEL_H_
#define LOGITKIT_SRC_PARALLEL_PARALLEL_H_

#include <cstddef>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>

namespace logitkit::internal {

// Threads to use for `work` units of work (elements) when the caller asked for `requested`
// (0: the library default, std::thread::hardware_concurrency()). Small work runs on the caller.
int threads_for(int requested, std::size_t work);

// Runs fn(begin, end) over a partition of [0, n) into at most `threads` contiguous ranges, the
// calling thread taking one of them; returns when all are done. fn must not throw.
void parallel_for(std::size_t n, int threads,
                  const std::function<void(std::size_t, std::size_t)>& fn);

// Runs fn(r, threads_within_row) for every row r of a rows x cols batch: the rows are split
// across threads (each row then runs with 1 thread), or, when there are fewer rows than threads,
// processed in order with all the threads available to split each row.
template <class RowFn>
void for_each_row(std::size_t rows, std::size_t cols, int requested, RowFn&& fn) {
  const int t = threads_for(requested, rows * cols);
  if (t > 1 && rows >= static_cast<std::size_t>(t)) {
    parallel_for(rows, t, [&](std::size_t b, std::size_t e) {
      for (std::size_t r = b; r < e; ++r) fn(r, 1);
    });
  } else {
    for (std::size_t r = 0; r < rows; ++r) fn(r, t);
  }
}

// Runs fn(r) for every row r in [0, rows) on threads_for(requested, rows * cols) threads. Every
// row runs; when rows throw std::invalid_argument, the one of the lowest row is thrown again
// afterwards, so the error does not depend on the thread count.
template <class RowFn>
void for_each_row_first_error(std::size_t rows, std::size_t cols, int requested, RowFn&& fn) {
  std::mutex mutex;
  std::size_t bad_row = rows;
  std::string message;
  const int nt = threads_for(requested, rows * (cols > 1 ? cols : 1));
  parallel_for(rows, nt, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      try {
        fn(r);
      } catch (const std::invalid_argument& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (r < bad_row) {
          bad_row = r;
          message = e.what();
        }
      }
    }
  });
  if (bad_row < rows) throw std::invalid_argument(message);
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_PARALLEL_PARALLEL_H_
