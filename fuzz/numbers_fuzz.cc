// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the CLI's number reading against the C library's correctly rounded strtof /
// strtod (C locale), for float32 and float64.
//
// The input is one token (at most 1000 bytes). For each type: an accepted token gives the bits
// strto* gives (NaN: any NaN); kOverflow only where strto* gives ±inf for a decimal; a token that
// strto* reads whole without blanks, hexadecimal or a NaN payload is accepted. The same token as
// an argument, a text line "1 TOKEN", a quoted CSV field and a JSON string reads the same value
// (or the same overflow error) as parse_number.
#include <locale.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tools/logitkit/common.h"
#include "tools/logitkit/io.h"

namespace {

void check(bool ok, const char* what, const std::string& token) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s (token '%s')\n", what, token.c_str());
    std::abort();
  }
}

template <class T>
T reference(const std::string& s, bool& whole) {
  static const locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  char* end = nullptr;
  T v;
  if constexpr (sizeof(T) == 4)
    v = strtof_l(s.c_str(), &end, c);
  else
    v = strtod_l(s.c_str(), &end, c);
  whole = !s.empty() && end == s.c_str() + s.size();
  return v;
}

template <class T>
bool same_bits(T a, T b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Reads `body` (a file in `format`) and returns its last value, or the UsageError's text.
template <class T>
bool read_file(const std::string& body, const char* format, T& last, std::string& error) {
  const int fd = memfd_create("numbers_fuzz", 0);
  if (fd < 0) return false;
  if (write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
    close(fd);
    return false;
  }
  lkcli::InputSpec spec;
  spec.path = "/proc/self/fd/" + std::to_string(fd);
  spec.format = format;
  spec.dtype = sizeof(T) == 4 ? "float32" : "float64";
  try {
    lkcli::Input in(spec);
    in.read<T>([&](logitkit::Rows<const T> b, std::size_t, const std::string&) {
      last = b.row(b.rows - 1)[b.cols - 1];
    });
  } catch (const lkcli::UsageError& e) {
    error = e.what();
  }
  close(fd);
  return true;
}

template <class T>
void check_type(const std::string& s) {
  T v{};
  const lkcli::Parsed p = lkcli::parse_number(s, v);
  bool whole = false;
  const T want = reference<T>(s, whole);
  const bool plain = s.find_first_of(" \t\n\v\f\rxX(") == std::string::npos;
  if (p == lkcli::Parsed::kOk) {
    check(whole, "accepted a token strto* does not read whole", s);
    check(same_bits(v, want), "value differs from strto*", s);
  } else if (p == lkcli::Parsed::kOverflow) {
    check(whole && std::isinf(want), "overflow where strto* gives a finite value", s);
  } else {
    check(!(whole && plain), "rejected a plain token strto* reads whole", s);
    return;
  }
  // The readers agree with parse_number.
  const bool quotable = s.find_first_of("\",\n\r\\") == std::string::npos;
  if (!quotable) return;
  const std::string overflow = "overflows";
  struct Case {
    std::string body;
    const char* format;
  };
  for (const Case& c : {Case{"1 " + s + "\n", "text"}, Case{"1,\"" + s + "\"\n", "csv"},
                        Case{"[[1, \"" + s + "\"]]", "json"}, Case{"[1, \"" + s + "\"]\n", "jsonl"}}) {
    T last{};
    std::string error;
    if (!read_file<T>(c.body, c.format, last, error)) continue;
    if (p == lkcli::Parsed::kOk) {
      check(error.empty(), "a reader rejects an accepted token", s);
      check(same_bits(last, v), "a reader's value differs from parse_number", s);
    } else {
      check(error.find(overflow) != std::string::npos, "a reader does not report the overflow", s);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1000 || std::memchr(data, 0, size) != nullptr) return 0;
  const std::string s(reinterpret_cast<const char*>(data), size);
  check_type<float>(s);
  check_type<double>(s);
  return 0;
}
