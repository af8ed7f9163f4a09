// SPDX-License-Identifier: Apache-2.0
// Aligned text tables: width computation that ignores ANSI escapes and counts code points.
#include "table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lkcli {

std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((c & 0xc0) != 0x80) ++w;
  }
  return w;
}

std::string Table::render(const Style& style, int indent) const {
  std::vector<std::size_t> width(header.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    if (row.size() > width.size()) width.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], display_width(row[c]));
  };
  widen(header);
  for (const auto& r : rows) widen(r);
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  auto line = [&](const std::vector<std::string>& row, bool is_header) {
    std::string out = pad;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string fill(width[c] - display_width(row[c]), ' ');
      const std::string cell = is_header ? style.bold(row[c]) : row[c];
      if (c) out += "  ";
      const bool is_left = c == 0 || std::find(left.begin(), left.end(), c) != left.end();
      out += is_left ? cell + (c + 1 < row.size() ? fill : "") : fill + cell;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header, true);
  std::size_t total = 0;
  for (std::size_t c = 0; c < width.size(); ++c) total += width[c] + (c ? 2 : 0);
  std::string rule;
  for (std::size_t i = 0; i < total; ++i) rule += "─";
  out += pad + style.dim(rule) + "\n";
  for (const auto& r : rows) out += line(r, false);
  return out;
}

std::string bar(double fraction, int width) {
  const int n = static_cast<int>(fraction * width + 0.5);
  std::string s;
  for (int i = 0; i < n; ++i) s += "█";
  return s;
}

std::string num(double v, int digits) {
  if (std::isnan(v)) return "nan";
  if (v == 0) v = 0;  // display -0 as 0
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

}  // namespace lkcli
