// SPDX-License-Identifier: Apache-2.0
// The softmax family's operations and their public names, shared by the whole-row driver
// (softmax.cc), the shard functions (softmax_shard.cc) and logitkit::mpi.
#ifndef LOGITKIT_SRC_SOFTMAX_SOFTMAX_OP_H_
#define LOGITKIT_SRC_SOFTMAX_SOFTMAX_OP_H_

namespace logitkit::internal {

enum class SoftmaxOp { kSoftmax, kLogSoftmax, kLogSumExp };

inline const char* op_name(SoftmaxOp op) {
  switch (op) {
    case SoftmaxOp::kSoftmax: return "softmax";
    case SoftmaxOp::kLogSoftmax: return "log_softmax";
    case SoftmaxOp::kLogSumExp: return "logsumexp";
  }
  return "?";
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_SOFTMAX_SOFTMAX_OP_H_
