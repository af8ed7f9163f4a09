// SPDX-License-Identifier: Apache-2.0
// Shared CLI pieces: the usage-error exception (exit 2), common flags and number parsing.
#ifndef LOGITKIT_TOOLS_COMMON_H_
#define LOGITKIT_TOOLS_COMMON_H_

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "logitkit/softmax.h"

namespace lkcli {

// Bad input or arguments: main() prints "logitkit: error: <what>" on stderr and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The flags every operation subcommand shares.
struct CommonFlags {
  std::string temperature = "1";
  std::string empty_row = "zeros";
  std::string precision = "accurate";
  std::string threads = "0";
  bool strict = false;
};

// Put in front of an argument such as "-inf" so that the option parser takes it as a value;
// main.cc removes it from every value before a command sees it.
inline constexpr char kTypedMark = '\x1f';

// The outcome of reading one number.
enum class Parsed {
  kOk,        // a number (or inf / nan)
  kMalformed, // not a number of the accepted grammar
  kOverflow,  // a finite decimal beyond the type's largest finite value
};

// Reads one number, the whole of `text`: an optional sign, then a decimal (digits with an optional
// point, at least one digit, an optional exponent e/E with optional sign), or inf / infinity / nan
// in any case. The result is the correctly rounded float or double of the decimal (the value
// strtof / strtod return in the C locale), subnormals and ±0 included for decimals below the
// smallest normal number. A finite decimal that rounds past the largest finite value is kOverflow
// (an error everywhere: inf must be written as inf). NaN is returned as a quiet NaN.
Parsed parse_number(std::string_view text, float& out);
Parsed parse_number(std::string_view text, double& out);

// "float32" or "float64": the type a number overflowed.
template <class T>
constexpr const char* type_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// The message for a number that could not be read: "malformed number '<text>'" or
// "'<text>' overflows float32 (write inf for infinity, or use --dtype float64)".
std::string number_problem(Parsed status, std::string_view text, const char* type);

// The library names an option by its C++ name ("temperature", "top_p") in its
// std::invalid_argument messages. note_flag records which flag and text gave that option;
// library_error() puts the flag and the value as typed in front of such a message.
void note_flag(const char* param, const char* flag, const std::string& typed);
std::string library_error(const std::string& what);
// `what` with the library's "got <number>" replaced by `typed` where they are the same number.
std::string with_typed_value(const std::string& what, const std::string& typed);

// A number flag read as a double: UsageError "<flag>: malformed number '<text>'" (or overflow).
// Ranges are the library's to check (its std::invalid_argument is the error).
// `param` (optional): the library's name of the option, for library_error().
double parse_flag_number(const std::string& text, const char* flag, const char* param = nullptr);

// A whole-number flag in [lo, hi]: UsageError "<flag>: expected a whole number in ..., got
// '<text>'" otherwise.
long long parse_flag_integer(const std::string& text, const char* flag, long long lo,
                             long long hi);

// The temperature flag as a double (inf and nan read; the library checks the range).
double parse_temperature(const std::string& text, const char* flag = "--temperature");

// SoftmaxOptions from the common flags.
logitkit::SoftmaxOptions to_options(const CommonFlags& flags);

// A value shortened to 40 characters for a message.
std::string show_token(std::string_view t);

// True when stdout is a terminal and NO_COLOR is unset.
bool use_color();
// True when `stream` is a terminal.
bool is_terminal(std::FILE* stream);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_COMMON_H_
