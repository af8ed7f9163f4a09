// SPDX-License-Identifier: Apache-2.0
// Rows<T>: a strided 2-D view (row-major, row_stride in elements) used by every logitkit op.
#ifndef LOGITKIT_ROWS_H_
#define LOGITKIT_ROWS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "logitkit/export.h"

namespace logitkit {

// A matrix of `rows` x `cols` elements; row r starts at data + r * row_stride.
// row_stride is counted in elements (never bytes) and must be >= cols when rows > 1 (a single
// row's stride is never used).
// A view with rows == 0 or cols == 0 is empty; data may then be null.
template <class T>
struct Rows {
  T* data;
  std::size_t rows, cols, row_stride;

  T* row(std::size_t r) const { return data + r * row_stride; }
  // A read-only view of the same memory (Rows<float> -> Rows<const float>).
  operator Rows<const T>() const { return {data, rows, cols, row_stride}; }
};

// A single contiguous row as a 1 x n view.
template <class T>
Rows<T> one_row(T* data, std::size_t n) {
  return Rows<T>{data, 1, n, n};
}

// Storage-only 16-bit floating point types. logitkit reads them (converting exactly to float)
// and never does arithmetic in them. The bit layout is IEEE binary16 (float16) and the upper
// half of binary32 (bfloat16).
struct bfloat16 {
  std::uint16_t bits;
  LOGITKIT_API static bfloat16 from_float(float f);  // round to nearest even; NaN stays NaN
  float to_float() const {
    std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
};

struct float16 {
  std::uint16_t bits;
  LOGITKIT_API static float16 from_float(float f);  // round to nearest even; overflow to inf; NaN stays NaN
  LOGITKIT_API float to_float() const;
};

}  // namespace logitkit

#endif  // LOGITKIT_ROWS_H_
