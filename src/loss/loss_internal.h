// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the loss drivers: chunked row statistics on the softmax kernels, scratch
// buffers, deterministic sums.
#ifndef LOGITKIT_SRC_LOSS_LOSS_INTERNAL_H_
#define LOGITKIT_SRC_LOSS_LOSS_INTERNAL_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "src/parallel/parallel.h"
#include "src/softmax/softmax_kernels.h"
#include "src/softmax/softmax_internal.h"

namespace logitkit::internal {

// Statistics of a whole row, merged from its kChunk-entry chunks in a fixed order.
struct RowStats {
  int status = kChunkOk;  // kChunkNaN or kChunkPosInf if any chunk had one
  float max = -std::numeric_limits<float>::infinity();
  double ties = 0.0, rest = 0.0;
  // factors[c] = exp((chunk max - row max) * inv_tau): rescales chunk c's stored exponentials.
  std::vector<double> factors;
  std::vector<ChunkStats> chunks;
};

// Merges r.chunks (their statistics, in order) into r's status, max, ties, rest and factors.
inline void merge_row_stats(RowStats& r, double inv_tau) {
  r.status = kChunkOk;
  r.max = -std::numeric_limits<float>::infinity();
  r.ties = r.rest = 0.0;
  for (const auto& s : r.chunks) {
    if (s.status != kChunkOk) {
      r.status = s.status;
      return;
    }
    r.max = std::max(r.max, s.max);
  }
  r.factors.assign(r.chunks.size(), 0.0);
  for (std::size_t c = 0; c < r.chunks.size(); ++c) {
    const ChunkStats& s = r.chunks[c];
    if (s.max == -std::numeric_limits<float>::infinity()) continue;
    const double f = s.max == r.max ? 1.0 : std::exp((static_cast<double>(s.max) - r.max) * inv_tau);
    r.factors[c] = f;
    if (f == 1.0) {
      r.ties += s.ties;
      r.rest += s.rest;
    } else {
      r.rest += (s.ties + s.rest) * f;
    }
  }
}

// Runs the stats kernel on every chunk of x[0, n) (n >= 1), writing exponentials relative to each
// chunk's max to e_out when non-null, and merges. Chunks run on up to `threads` threads.
inline RowStats row_stats(const SoftmaxKernels& k, const float* x, std::size_t n, double inv_tau,
                          float* e_out, int threads) {
  RowStats r;
  const std::size_t chunks = chunk_count(n);
  r.chunks.resize(chunks);
  auto body = [&](std::size_t b, std::size_t e) {
    for (std::size_t c = b; c < e; ++c) {
      r.chunks[c] = k.stats(x + c * kChunk, chunk_len(n, c), inv_tau,
                            e_out ? e_out + c * kChunk : nullptr);
    }
  };
  if (chunks > 1 && threads > 1) {
    parallel_for(chunks, threads, body);
  } else {
    body(0, chunks);
  }
  merge_row_stats(r, inv_tau);
  return r;
}

// A per-thread float buffer of at least n entries, 64-byte aligned (the kernels' vector loads
// and stores of the buffer then never split a cache line).
inline float* scratch(std::size_t n, int which = 0) {
  constexpr std::size_t kAlignFloats = 64 / sizeof(float);
  thread_local std::vector<float> buf[2];
  if (buf[which].size() < n + kAlignFloats) buf[which].resize(n + kAlignFloats);
  const auto addr = reinterpret_cast<std::uintptr_t>(buf[which].data());
  return buf[which].data() + (64 - addr % 64) % 64 / sizeof(float);
}

// Sums in 16 logical lanes (entry j in lane j % 16), combined by a fixed tree: the same bits
// whatever the compiler vectorises.
struct LaneSum {
  double lane[kLaneGroup] = {};
  void add(std::size_t j, double v) { lane[j % kLaneGroup] += v; }
  double total() const {
    double l[kLaneGroup];
    std::copy(lane, lane + kLaneGroup, l);
    for (std::size_t w = kLaneGroup / 2; w >= 1; w /= 2) {
      for (std::size_t j = 0; j < w; ++j) l[j] += l[j + w];
    }
    return l[0];
  }
};

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_LOSS_LOSS_INTERNAL_H_
