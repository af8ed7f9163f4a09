// SPDX-License-Identifier: Apache-2.0
// Number parsing, flag validation and terminal checks shared by the subcommands.
#include "tools/logitkit/common.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace lkcli {
namespace {

template <class T>
bool parse_impl(std::string_view s, T& out) {
  if (s.empty()) return false;
  bool negative = false;
  if (s.front() == '+' || s.front() == '-') {
    negative = s.front() == '-';
    s.remove_prefix(1);
    if (s.empty() || s.front() == '+' || s.front() == '-') return false;
  }
  T v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (end != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves v unset on overflow/underflow: decide from the exponent's sign.
    const auto e = s.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && s.substr(e + 1).starts_with('-');
    v = tiny ? T(0) : std::numeric_limits<T>::infinity();
  } else if (ec != std::errc()) {
    return false;
  }
  if (std::isnan(v)) v = std::numeric_limits<T>::quiet_NaN();
  out = negative ? -v : v;
  return true;
}

}  // namespace

bool parse_number(std::string_view text, float& out) { return parse_impl(text, out); }
bool parse_number(std::string_view text, double& out) { return parse_impl(text, out); }

double parse_temperature(const std::string& text, const char* flag) {
  double tau;
  if (!parse_number(text, tau)) {
    throw UsageError(std::string(flag) + ": malformed number '" + text + "'");
  }
  if (std::isnan(tau) || tau < 0) {
    throw UsageError(std::string(flag) + ": the temperature must be >= 0 (got " + text + ")");
  }
  return tau;
}

logitkit::SoftmaxOptions to_options(const CommonFlags& flags) {
  logitkit::SoftmaxOptions o;
  o.temperature = parse_temperature(flags.temperature);
  o.empty_row = flags.empty_row == "nan" ? logitkit::EmptyRow::kNaN : logitkit::EmptyRow::kZeros;
  o.nan = flags.strict ? logitkit::NanPolicy::kThrow : logitkit::NanPolicy::kPropagate;
  o.precision =
      flags.precision == "fast" ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  o.threads = flags.threads;
  return o;
}

bool is_terminal(std::FILE* stream) { return isatty(fileno(stream)) != 0; }

bool use_color() { return is_terminal(stdout) && std::getenv("NO_COLOR") == nullptr; }

}  // namespace lkcli
