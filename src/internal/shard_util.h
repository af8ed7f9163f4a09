// SPDX-License-Identifier: Apache-2.0
// What the vocabulary-shard code of every family shares (include/logitkit/shard.h): a row of a
// view that may be empty, the size check of the per-row arrays, and the merge of LseStates in
// which an empty state of any temperature is the identity.
#ifndef LOGITKIT_SRC_INTERNAL_SHARD_UTIL_H_
#define LOGITKIT_SRC_INTERNAL_SHARD_UTIL_H_

#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>

#include "logitkit/rows.h"
#include "logitkit/shard.h"
#include "logitkit/softmax.h"
#include "src/internal/check.h"

namespace logitkit::internal {

// The special values the shard code of every family writes.
namespace shard_values {
inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr float kInfF = std::numeric_limits<float>::infinity();
inline constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();
}  // namespace shard_values

// Row r of a view, or null for a view without data (an empty shard: no arithmetic on null).
template <class T>
T* rowp(const Rows<T>& v, std::size_t r) {
  return v.data ? v.row(r) : nullptr;
}

// "<name> has <got> entries but x has <want> <what>".
inline void check_size(const char* fn, const char* name, std::size_t got, std::size_t want,
                       const char* what) {
  if (got != want) {
    fail(fn, std::string(name) + " has " + std::to_string(got) + " entries but x has " +
                 std::to_string(want) + " " + what);
  }
}

// A shard's CrossEntropyState gap, sum_{a_j > 0} a_j (max - z_j), re-based to the merged row's
// max M: a higher M adds coef (M - max). CrossEntropyState::merge and logitkit::mpi's merge
// (src/mpi/collective.cc) both use it.
inline double gap_at(const shard::CrossEntropyState& s, double M) {
  if (s.coef > 0 && s.lse.max != M) return s.gap + s.coef * (M - s.lse.max);
  return s.gap;
}

// A shard's DistillationState cross term re-based to the merged row's finite maxima (Mt of the
// teacher, Ms of the student): exp((mt - Mt)/tau) (cross + Zt ((mt - Mt) - (ms - Ms))/tau), 0
// for a shard with no teacher mass, a masked entry or a student max that is not finite.
// DistillationState::merge and logitkit::mpi's merge both use it.
inline double cross_at(const shard::DistillationState& s, double Mt, double Ms) {
  const double zt = s.teacher.ties + s.teacher.rest;
  if (zt == 0.0 || s.masked != 0.0 || !std::isfinite(s.student.max)) return 0.0;
  const double inv_tau = 1.0 / s.teacher.temperature;
  const double dt = s.teacher.max - Mt, ds = s.student.max - Ms;
  const double f = dt == 0.0 ? 1.0 : std::exp(dt * inv_tau);
  return f * (s.cross + zt * (dt - ds) * inv_tau);
}

// LseState::merge, with the empty state of any temperature as the identity (so that
// default-constructed accumulators can start a merge).
inline LseState merge_lse(const LseState& a, const LseState& b) {
  const auto empty = [](const LseState& s) {
    return s.max == -shard_values::kInf && s.ties == 0 && s.rest == 0;
  };
  if (empty(b)) return a;
  if (empty(a)) return b;
  return a.merge(b);
}

// inout[i] = merge(inout[i], in[i]) for every i; the sizes must match.
template <class State, class Merge>
void merge_all(std::span<State> inout, std::span<const State> in, Merge&& merge) {
  if (inout.size() != in.size()) {
    fail("shard::merge_states", "inout has " + std::to_string(inout.size()) +
                                    " entries but in has " + std::to_string(in.size()));
  }
  for (std::size_t i = 0; i < in.size(); ++i) inout[i] = merge(inout[i], in[i]);
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_INTERNAL_SHARD_UTIL_H_
