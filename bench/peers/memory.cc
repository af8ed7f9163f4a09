// SPDX-License-Identifier: Apache-2.0
// The memory limits: memcpy, a STREAM-style copy loop and a STREAM-style read of the same bytes.

#include <cstring>

#include "bench/peers/adapters.h"
#include "bench/peers/fork_join.h"

namespace logitkit::bench {
namespace {

// STREAM "Copy" (c[j] = a[j]); this file builds with -fno-tree-loop-distribute-patterns so the
// loop stays a loop instead of becoming a memcpy call.
void stream_copy(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i];
}

// A read of every byte: 16 independent sums so the loop is bound by loads, not by adds.
float stream_read(const float* x, std::size_t n) {
  float acc[16] = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  }
  for (; i < n; ++i) acc[0] += x[i];
  float s = 0.0f;
  for (float a : acc) s += a;
  return s;
}

enum class Kind { kMemcpy, kCopy, kRead };

class Memory final : public Kernel {
 public:
  Memory(const Case& c, Kind kind) : c_(c), kind_(kind), pool_(c.threads) {}
  void run(std::size_t i) override {
    const Buffers b = c_.buffers[i];
    const std::size_t n = c_.cols;
    pool_.run(c_.rows, [&](std::size_t r0, std::size_t r1) {
      const float* x = b.x + r0 * n;
      const std::size_t count = (r1 - r0) * n;
      switch (kind_) {
        case Kind::kMemcpy: std::memcpy(b.y + r0 * n, x, count * sizeof(float)); break;
        case Kind::kCopy: stream_copy(x, b.y + r0 * n, count); break;
        case Kind::kRead: {
          const float s = stream_read(x, count);
          b.y[r0] = s;
          break;
        }
      }
    });
  }

 private:
  Case c_;
  Kind kind_;
  ForkJoin pool_;
};

}  // namespace

// Copies need an output as large as the input, which logsumexp cases do not have.
std::unique_ptr<Kernel> make_memcpy(const Case& c) {
  if (c.op == Op::kLogSumExp) return nullptr;
  return std::make_unique<Memory>(c, Kind::kMemcpy);
}
std::unique_ptr<Kernel> make_stream_copy(const Case& c) {
  if (c.op == Op::kLogSumExp) return nullptr;
  return std::make_unique<Memory>(c, Kind::kCopy);
}
std::unique_ptr<Kernel> make_stream_read(const Case& c) {
  return std::make_unique<Memory>(c, Kind::kRead);
}

}  // namespace logitkit::bench
