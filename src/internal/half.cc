// SPDX-License-Identifier: Apache-2.0
// Conversions of the storage types bfloat16 and float16 (round to nearest even).

#include <cmath>
#include <cstdint>
#include <cstring>

#include "logitkit/rows.h"

namespace logitkit {

bfloat16 bfloat16::from_float(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bfloat16{static_cast<std::uint16_t>((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bfloat16{static_cast<std::uint16_t>(u >> 16)};
}

float float16::to_float() const {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  std::uint32_t exp = (bits >> 10) & 0x1fu;
  std::uint32_t mant = bits & 0x3ffu;
  std::uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    u = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

float16 float16::from_float(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return float16{static_cast<std::uint16_t>(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return float16{static_cast<std::uint16_t>(sign | 0x7c00u)};  // rounds to inf
  if (a < 0x38800000u) {  // below the normal range: subnormal or zero
    float af;
    std::memcpy(&af, &a, sizeof af);
    // Scale so the subnormal ULP (2^-24) becomes 1, then round to nearest even in float.
    const float scaled = af * 16777216.0f;  // 2^24
    // nearbyint in the default rounding mode: round to nearest even.
    const std::uint32_t q = static_cast<std::uint32_t>(std::nearbyint(scaled));
    return float16{static_cast<std::uint16_t>(sign | q)};
  }
  std::uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round mantissa to 10 bits
  r = ((r >> 23) - 112) << 10 | ((r >> 13) & 0x3ffu);
  return float16{static_cast<std::uint16_t>(sign | r)};
}

}  // namespace logitkit
