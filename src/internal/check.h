// SPDX-License-Identifier: Apache-2.0
// Argument checks shared by the public entry points: each throws std::invalid_argument whose
// message names the function and the argument.
#ifndef LOGITKIT_SRC_INTERNAL_CHECK_H_
#define LOGITKIT_SRC_INTERNAL_CHECK_H_

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "logitkit/rows.h"

namespace logitkit::internal {

[[noreturn]] inline void fail(const char* fn, const std::string& what) {
  throw std::invalid_argument(std::string("logitkit::") + fn + ": " + what);
}

// data non-null unless empty; row_stride >= cols when there is more than one row.
template <class T>
void check_rows(const char* fn, const char* name, const Rows<T>& r) {
  if (r.rows != 0 && r.cols != 0 && r.data == nullptr) {
    fail(fn, std::string(name) + ".data is null but " + name + " has " + std::to_string(r.rows) +
                 " x " + std::to_string(r.cols) + " entries");
  }
  if (r.rows > 1 && r.row_stride < r.cols) {
    fail(fn, std::string(name) + ".row_stride (" + std::to_string(r.row_stride) +
                 ") is less than " + name + ".cols (" + std::to_string(r.cols) + ")");
  }
}

template <class A, class B>
void check_same_shape(const char* fn, const char* an, const Rows<A>& a, const char* bn,
                      const Rows<B>& b) {
  if (a.rows != b.rows || a.cols != b.cols) {
    fail(fn, std::string(bn) + " has shape [" + std::to_string(b.rows) + ", " +
                 std::to_string(b.cols) + "] but " + an + " has shape [" +
                 std::to_string(a.rows) + ", " + std::to_string(a.cols) + "]");
  }
}

// An optional per-row output: empty, or one entry per row ("<name> has <got> entries but <of> has
// <rows> rows").
inline void check_per_row(const char* fn, const char* name, std::size_t got, const char* of,
                          std::size_t rows) {
  if (got != 0 && got != rows) {
    fail(fn, std::string(name) + " has " + std::to_string(got) + " entries but " + of + " has " +
                 std::to_string(rows) + " rows");
  }
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_INTERNAL_CHECK_H_
