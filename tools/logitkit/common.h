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
  bool strict = false;
  int threads = 0;
};

// Parses a decimal number or inf/-inf/nan (any case, optional sign) into T; false if malformed.
bool parse_number(std::string_view text, float& out);
bool parse_number(std::string_view text, double& out);

// The temperature flag: a number >= 0 (inf allowed); UsageError otherwise.
double parse_temperature(const std::string& text, const char* flag = "--temperature");

// SoftmaxOptions from the common flags (validated).
logitkit::SoftmaxOptions to_options(const CommonFlags& flags);

// True when stdout is a terminal and NO_COLOR is unset.
bool use_color();
// True when `stream` is a terminal.
bool is_terminal(std::FILE* stream);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_COMMON_H_
