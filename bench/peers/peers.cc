// SPDX-License-Identifier: Apache-2.0
// The registry of peers compiled into logitkit_bench_peers (CMake defines which were found).

#include "bench/peers/peers.h"

#include "bench/peers/adapters.h"

namespace logitkit::bench {

const std::vector<Peer>& peers() {
  static const std::vector<Peer> list = [] {
    std::vector<Peer> v;
#if LOGITKIT_BENCH_WITH_TORCH
    v.push_back({"torch", false, make_torch});
#endif
#if LOGITKIT_BENCH_WITH_ONEDNN
    v.push_back({"onednn", false, make_onednn});
#endif
#if LOGITKIT_BENCH_WITH_XNNPACK
    v.push_back({"xnnpack", false, make_xnnpack});
#endif
#if LOGITKIT_BENCH_WITH_EIGEN
    v.push_back({"eigen", false, make_eigen});
#endif
    v.push_back({"plain", false, make_plain});
    v.push_back({"memcpy", true, make_memcpy});
    v.push_back({"stream_copy", true, make_stream_copy});
    v.push_back({"stream_read", true, make_stream_read});
    return v;
  }();
  return list;
}

std::vector<std::string> peer_versions() {
  std::vector<std::string> v;
#if LOGITKIT_BENCH_WITH_TORCH
  v.push_back(torch_version());
#endif
#if LOGITKIT_BENCH_WITH_ONEDNN
  v.push_back(onednn_version());
#endif
#if LOGITKIT_BENCH_WITH_XNNPACK
  v.push_back("XNNPACK (Debian libxnnpack0)");
#endif
#if LOGITKIT_BENCH_WITH_EIGEN
  v.push_back(LOGITKIT_BENCH_EIGEN_VERSION);
#endif
  return v;
}

}  // namespace logitkit::bench
