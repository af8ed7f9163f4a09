// SPDX-License-Identifier: Apache-2.0
// Umbrella header: the whole public logitkit API.
#ifndef LOGITKIT_LOGITKIT_H_
#define LOGITKIT_LOGITKIT_H_

#include "logitkit/linear_cross_entropy.h"
#include "logitkit/loss.h"
#include "logitkit/rows.h"
#include "logitkit/sampling.h"
#include "logitkit/shard.h"
#include "logitkit/softmax.h"
#include "logitkit/targets.h"
#include "logitkit/version.h"

#endif  // LOGITKIT_LOGITKIT_H_
