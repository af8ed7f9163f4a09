// SPDX-License-Identifier: Apache-2.0
// Number parsing, flag parsing and terminal checks shared by the subcommands.
#include "common.h"

#include <locale.h>
#include <stdlib.h>
#include <unistd.h>

#include <charconv>
#include <cctype>
#include <cmath>
#include <vector>
#include <cstdlib>
#include <limits>

namespace lkcli {
namespace {

locale_t c_locale() {
  static const locale_t loc = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return loc;
}

// strtod / strtof in the C locale, whatever the process locale.
void strto(const std::string& s, float& v) { v = strtof_l(s.c_str(), nullptr, c_locale()); }
void strto(const std::string& s, double& v) { v = strtod_l(s.c_str(), nullptr, c_locale()); }

template <class T>
Parsed parse_impl(std::string_view s, T& out) {
  if (s.empty()) return Parsed::kMalformed;
  bool negative = false;
  if (s.front() == '+' || s.front() == '-') {
    negative = s.front() == '-';
    s.remove_prefix(1);
    if (s.empty() || s.front() == '+' || s.front() == '-') return Parsed::kMalformed;
  }
  // from_chars (chars_format::general) accepts exactly the grammar above after the sign: no
  // blanks, no hexadecimal, no other spellings; within range it is correctly rounded.
  T v;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (end != s.data() + s.size() || ec == std::errc::invalid_argument) return Parsed::kMalformed;
  if (ec == std::errc::result_out_of_range) {
    // from_chars stores nothing for results that overflow or underflow: strtod / strtof round
    // them as IEEE does (±inf past the largest finite value, a subnormal or 0 below).
    strto(std::string(s), v);
  } else if (ec != std::errc()) {
    return Parsed::kMalformed;
  }
  const bool spelled_inf = s.front() == 'i' || s.front() == 'I';
  if (std::isinf(v) && !spelled_inf) return Parsed::kOverflow;
  if (std::isnan(v)) v = std::numeric_limits<T>::quiet_NaN();
  out = negative ? -v : v;
  return Parsed::kOk;
}

}  // namespace

Parsed parse_number(std::string_view text, float& out) { return parse_impl(text, out); }
Parsed parse_number(std::string_view text, double& out) { return parse_impl(text, out); }

std::string show_token(std::string_view t) {
  constexpr std::size_t kMax = 40;
  std::string s(t.substr(0, kMax));
  if (t.size() > kMax) s += "...";
  return s;
}

std::string number_problem(Parsed status, std::string_view text, const char* type) {
  if (status == Parsed::kOverflow) {
    std::string s = "'";  // built in steps: GCC 12 warns falsely on "'" + s + "'"
    s += show_token(text);
    s += "' overflows ";
    s += type;
    s += " (write inf for infinity";
    s += std::string_view(type) == "float32" ? ", or use --dtype float64)" : ")";
    return s;
  }
  return "malformed number '" + show_token(text) + "'";
}

namespace {
struct NotedFlag {
  std::string param, flag, typed;
};
std::vector<NotedFlag>& noted_flags() {
  static std::vector<NotedFlag> v;
  return v;
}
}  // namespace

void note_flag(const char* param, const char* flag, const std::string& typed) {
  noted_flags().push_back({param, flag, typed});
}

std::string library_error(const std::string& what) {
  for (const NotedFlag& f : noted_flags()) {
    const auto at = what.find(f.param);
    if (at == std::string::npos) continue;
    // A whole word: not "min_p" inside "top_p", nor "temperature" inside another name.
    const auto end = at + f.param.size();
    auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    if ((at > 0 && word(what[at - 1])) || (end < what.size() && word(what[end]))) continue;
    return f.flag + " " + show_token(f.typed) + ": " + with_typed_value(what, f.typed);
  }
  return what;
}

// The library prints the value it got as a double ("got -1.000000"): the value as typed replaces
// it where they are the same number.
std::string with_typed_value(const std::string& what, const std::string& typed) {
  std::string msg = what;
  const auto got = msg.rfind("got ");
  if (got == std::string::npos) return msg;
  std::string_view tail(msg);
  tail.remove_prefix(got + 4);
  const std::string_view value = tail.substr(0, tail.find_first_of(" ,;)"));
  double a, b;
  if (parse_number(value, a) == Parsed::kOk && parse_number(typed, b) == Parsed::kOk &&
      (a == b || (std::isnan(a) && std::isnan(b)))) {
    msg.replace(got + 4, value.size(), show_token(typed));
  }
  return msg;
}

double parse_flag_number(const std::string& text, const char* flag, const char* param) {
  if (param) note_flag(param, flag, text);
  double v;
  const Parsed p = parse_number(text, v);
  if (p != Parsed::kOk) throw UsageError(std::string(flag) + ": " + number_problem(p, text, "float64"));
  return v;
}

long long parse_flag_integer(const std::string& text, const char* flag, long long lo,
                             long long hi) {
  long long v = 0;
  std::string_view s(text);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    constexpr long long kMax = std::numeric_limits<long long>::max();
    constexpr long long kMin = std::numeric_limits<long long>::min();
    const std::string range = lo == kMin && hi == kMax ? ""
                              : hi == kMax             ? " >= " + std::to_string(lo)
                                           : " in [" + std::to_string(lo) + ", " +
                                                 std::to_string(hi) + "]";
    throw UsageError(std::string(flag) + ": expected a whole number" + range + ", got '" +
                     show_token(text) + "'");
  }
  return v;
}

double parse_temperature(const std::string& text, const char* flag) {
  return parse_flag_number(text, flag, "temperature");
}

logitkit::SoftmaxOptions to_options(const CommonFlags& flags) {
  logitkit::SoftmaxOptions o;
  o.temperature = parse_temperature(flags.temperature);
  o.empty_row = flags.empty_row == "nan" ? logitkit::EmptyRow::kNaN : logitkit::EmptyRow::kZeros;
  o.nan = flags.strict ? logitkit::NanPolicy::kThrow : logitkit::NanPolicy::kPropagate;
  o.precision =
      flags.precision == "fast" ? logitkit::Precision::kFast : logitkit::Precision::kAccurate;
  o.threads = static_cast<int>(parse_flag_integer(flags.threads, "--threads", 0, 1024));
  return o;
}

bool is_terminal(std::FILE* stream) { return isatty(fileno(stream)) != 0; }

bool use_color() { return is_terminal(stdout) && std::getenv("NO_COLOR") == nullptr; }

}  // namespace lkcli
