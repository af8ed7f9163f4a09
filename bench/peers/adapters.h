// SPDX-License-Identifier: Apache-2.0
// Factory functions of the peer adapters, one per .cc, gathered by peers.cc.
#ifndef LOGITKIT_BENCH_PEERS_ADAPTERS_H_
#define LOGITKIT_BENCH_PEERS_ADAPTERS_H_

#include <memory>
#include <string>

#include "bench/peers/peers.h"

namespace logitkit::bench {

std::unique_ptr<Kernel> make_plain(const Case& c);
std::unique_ptr<Kernel> make_memcpy(const Case& c);
std::unique_ptr<Kernel> make_stream_copy(const Case& c);
std::unique_ptr<Kernel> make_stream_read(const Case& c);
std::unique_ptr<Kernel> make_eigen(const Case& c);
std::unique_ptr<Kernel> make_onednn(const Case& c);
std::unique_ptr<Kernel> make_xnnpack(const Case& c);
std::unique_ptr<Kernel> make_torch(const Case& c);
std::string onednn_version();
std::string torch_version();

}  // namespace logitkit::bench

#endif  // LOGITKIT_BENCH_PEERS_ADAPTERS_H_
