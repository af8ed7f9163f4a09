// SPDX-License-Identifier: Apache-2.0
// The shortest decimal text that reads back as the same double, as std::to_chars(first, last, v)
// writes it (fixed or scientific, whichever is shorter; fixed on a tie): how error messages show
// a value the caller passed (1e-320, not 0.000000). Standard libraries without floating-point
// to_chars (Emscripten's libc++) get the same text from printf and strtod.
#ifndef LOGITKIT_SRC_INTERNAL_SHORTEST_H_
#define LOGITKIT_SRC_INTERNAL_SHORTEST_H_

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace logitkit::internal {

inline std::string shortest_text(double v) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
#else
  if (std::isnan(v)) return std::signbit(v) ? "-nan" : "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char sci[64];
  for (int p = 0; p <= 17; ++p) {  // the fewest significant digits that read back as v
    std::snprintf(sci, sizeof sci, "%.*e", p, v);
    if (std::strtod(sci, nullptr) == v) break;
  }
  // Fixed notation with the fewest decimals that read back as v, when it can be shorter.
  std::string best = sci;
  char fix[400];
  for (int d = 0; d <= 330; ++d) {
    const int len = std::snprintf(fix, sizeof fix, "%.*f", d, v);
    if (len < 0 || static_cast<std::size_t>(len) > best.size()) break;
    if (std::strtod(fix, nullptr) == v) {
      best = fix;  // not longer than the scientific text: fixed wins ties
      break;
    }
  }
  return best;
#endif
}

}  // namespace logitkit::internal

#endif  // LOGITKIT_SRC_INTERNAL_SHORTEST_H_
