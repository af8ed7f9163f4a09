// SPDX-License-Identifier: Apache-2.0
// Aligned text tables and optional ANSI colour for terminal output.
#ifndef LOGITKIT_TOOLS_TABLE_H_
#define LOGITKIT_TOOLS_TABLE_H_

#include <algorithm>
#include <string>
#include <vector>

namespace lkcli {

// ANSI styling that is a no-op when colour is off.
class Style {
 public:
  explicit Style(bool color) : color_(color) {}
  bool color() const { return color_; }
  std::string bold(const std::string& s) const { return wrap("1", s); }
  std::string dim(const std::string& s) const { return wrap("2", s); }
  std::string heading(const std::string& s) const { return wrap("1;36", s); }
  std::string good(const std::string& s) const { return wrap("32", s); }
  std::string bad(const std::string& s) const { return wrap("31", s); }
  std::string accent(const std::string& s) const { return wrap("33", s); }

 private:
  std::string wrap(const char* code, const std::string& s) const {
    return color_ ? "\x1b[" + std::string(code) + "m" + s + "\x1b[0m" : s;
  }
  bool color_;
};

// Display width of a UTF-8 string without ANSI escapes (one column per code point).
std::size_t display_width(const std::string& s);

// A table whose first column (and any listed in `left`) is left-aligned, the others right-aligned.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::size_t> left = {};
  // Rendered with two spaces between columns, a rule under the header, `indent` spaces before
  // every line.
  std::string render(const Style& style, int indent = 2) const;
};

// A horizontal bar of round(fraction * width) blocks.
std::string bar(double fraction, int width);

// %.*g of a double, with "nan" for every NaN.
std::string num(double v, int digits = 6);

}  // namespace lkcli

#endif  // LOGITKIT_TOOLS_TABLE_H_
