// SPDX-License-Identifier: Apache-2.0
// Peer softmax implementations (oneDNN, XNNPACK, Eigen, libtorch, a plain loop, memory limits) for benches.
#ifndef LOGITKIT_BENCH_PEERS_PEERS_H_
#define LOGITKIT_BENCH_PEERS_PEERS_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace logitkit::bench {

enum class Op { kSoftmax, kLogSoftmax, kLogSumExp };

// One input/output pair of a case: x holds rows x cols contiguous floats; y holds rows x cols
// floats (softmax, log_softmax) or rows floats (logsumexp). Cold-cache cases rotate over many.
struct Buffers {
  const float* x;
  float* y;
};

// A peer prepared for one case: every allocation, descriptor and thread setting happens when it
// is made, so run(i) is the call a user makes per batch, on buffer pair i.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(std::size_t i) = 0;
};

struct Case {
  Op op;
  std::size_t rows, cols;
  int threads;  // 1 or 2: the peer's own threading is set to this
  std::span<const Buffers> buffers;
};

struct Peer {
  std::string name;  // "onednn", "xnnpack", "eigen", "torch", "plain", "memcpy", "stream_copy", ...
  // True for peers that bound the hardware (memory traffic of the same bytes), not softmax peers.
  bool memory_limit;
  // nullptr when the peer has no such op (XNNPACK has no log_softmax, for instance).
  std::function<std::unique_ptr<Kernel>(const Case&)> make;
};

// Every peer compiled into logitkit_bench_peers, in a fixed order (memory limits last).
const std::vector<Peer>& peers();

// The Debian version string of each compiled peer library ("oneDNN 2.6.3", ...), for reports.
std::vector<std::string> peer_versions();

}  // namespace logitkit::bench

#endif  // LOGITKIT_BENCH_PEERS_PEERS_H_
