// SPDX-License-Identifier: Apache-2.0
// Property test of the CLI's number readers against the C library's correctly rounded strtof /
// strtod (C locale): every reader (arguments, text, CSV, quoted CSV, JSON, JSON strings, JSON
// Lines, number flags) returns the same bits for every accepted spelling, on long mantissas, many
// leading and trailing zeros, subnormals, exponents near the limits, halfway cases and signs; a
// finite decimal past the largest finite value is the same overflow error in every reader.
#include <gtest/gtest.h>
#include <locale.h>
#include <stdlib.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "common.h"
#include "io.h"

namespace {

using lkcli::Parsed;

template <class T>
T reference(const std::string& s) {
  static const locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  if constexpr (sizeof(T) == 4)
    return strtof_l(s.c_str(), nullptr, c);
  else
    return strtod_l(s.c_str(), nullptr, c);
}

bool spelled_inf(const std::string& s) {
  const std::size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  return s[i] == 'i' || s[i] == 'I';
}

// The reference outcome: overflow, or the bits strto* gives.
template <class T>
bool overflows(const std::string& s) {
  return std::isinf(reference<T>(s)) && !spelled_inf(s);
}

template <class T>
::testing::AssertionResult same(const std::string& s, T got, const char* reader) {
  const T want = reference<T>(s);
  if (std::isnan(want) && std::isnan(got)) return ::testing::AssertionSuccess();
  if (std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(got) ==
      std::bit_cast<std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>(want)) {
    return ::testing::AssertionSuccess();
  }
  char a[64], b[64];
  std::snprintf(a, sizeof a, "%.17g", static_cast<double>(got));
  std::snprintf(b, sizeof b, "%.17g", static_cast<double>(want));
  return ::testing::AssertionFailure() << reader << " reads '" << s << "' as " << a
                                       << ", strto" << (sizeof(T) == 4 ? "f" : "d") << " gives "
                                       << b;
}

std::string digits(std::mt19937_64& rng, std::size_t n, bool nonzero_first) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    char c = static_cast<char>('0' + rng() % 10);
    if (i == 0 && nonzero_first && c == '0') c = '1';
    s += c;
  }
  return s;
}

// Random decimals of every class the readers accept.
std::vector<std::string> decimals(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out = {
      "0." + std::string(50, '0') + "1",  // underflows float without an exponent: 1e-51 -> 0
      "0." + std::string(40, '0') + "1",  // a float subnormal (1e-41) without an exponent
      "0." + std::string(320, '0') + "1", "1" + std::string(38, '0'), "1" + std::string(39, '0'),
      "1e39", "1e400", "-1e400", "1e-400", "-1e-400", "3.4028235e38", "3.4028236e38",
      "3.40282356779733661637539395458142568448e38",  // FLT_MAX + half an ULP: ties to inf
      "3.40282356779733661637539395458142568447e38",  // just below: FLT_MAX
      "1.401298464324817e-45", "7.006492321624085e-46", "7.006492321624086e-46",  // half 2^-149
      "2.2250738585072014e-308", "4.9406564584124654e-324", "2.4703282292062327e-324",
      "2.4703282292062328e-324", "1.7976931348623157e308", "1.7976931348623158e308",
      "1.7976931348623159e308", "0", "-0", "+0", "0.0", "-0.0", "0e999", "-0e-999", ".5", "5.",
      "-.5e1", "+5.E-1", "1E5", "1e+5", "inf", "-inf", "+inf", "INF", "Infinity", "-infinity",
      "nan", "-nan", "NaN", "+NAN", "00000000000000000000000001", "1.00000000000000000000000000",
      "0.000000000000000000000000000000000000011754943508222875",  // FLT_MIN
      "9007199254740993", "9007199254740993.0000000000000000000001", "16777217", "16777217.5"};
  while (out.size() < count) {
    std::string s;
    const int sign = static_cast<int>(rng() % 3);
    if (sign == 1) s += '-';
    if (sign == 2) s += '+';
    const int kind = static_cast<int>(rng() % 4);
    if (kind == 0) {  // halfway between two floats, exactly, or a hair either side
      const float f = std::bit_cast<float>(static_cast<std::uint32_t>(rng() % 0x7f7fffff));
      const double mid = (static_cast<double>(f) +
                          static_cast<double>(std::nextafter(f, INFINITY))) / 2;
      char buf[800];
      std::snprintf(buf, sizeof buf, "%.760e", mid);
      std::string m = buf;
      // Trim the exact decimal's trailing zeros and, a third of the time, nudge the last digit.
      const auto e = m.find('e');
      std::string mant = m.substr(0, e), ex = m.substr(e);
      while (mant.back() == '0') mant.pop_back();
      if (mant.back() == '.') mant.pop_back();
      const int nudge = static_cast<int>(rng() % 3);
      if (nudge == 1) mant += (mant.find('.') == std::string::npos ? ".0000001" : "0000001");
      if (nudge == 2 && mant.size() > 3) mant.resize(mant.size() - 1 - rng() % 2);
      s += mant + ex;
    } else {
      const std::size_t lead = rng() % 4 == 0 ? rng() % 60 : 0;
      const std::size_t n = 1 + rng() % (rng() % 2 ? 9 : 60);
      const std::size_t trail = rng() % 4 == 0 ? rng() % 40 : 0;
      std::string mant = std::string(lead, '0') + digits(rng, n, true) + std::string(trail, '0');
      const std::size_t point = rng() % (mant.size() + 1);
      if (rng() % 3) mant.insert(point, ".");
      if (mant == ".") mant = "0.";
      s += mant;
      if (rng() % 4) {
        // Exponents near the limits of float and double, and anywhere.
        static const int kCenters[] = {-330, -310, -46, -39, 0, 38, 308};
        int exp10 = kind == 1 ? kCenters[rng() % 7] + static_cast<int>(rng() % 9) - 4
                              : static_cast<int>(rng() % 801) - 400;
        exp10 -= static_cast<int>(point);  // keep the value near the target magnitude
        s += rng() % 2 ? 'e' : 'E';
        if (exp10 >= 0 && rng() % 2) s += '+';
        s += std::to_string(exp10);
      }
    }
    out.push_back(s);
  }
  return out;
}

// A temporary file holding `text`.
struct TempFile {
  std::string path;
  TempFile(const std::string& text, const char* suffix) {
    char tmpl[] = "/tmp/logitkit-parse-XXXXXX";
    const int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    close(fd);
    std::rename(tmpl, (std::string(tmpl) + suffix).c_str());
    path = std::string(tmpl) + suffix;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

template <class T>
std::vector<T> read_all(const lkcli::InputSpec& spec) {
  lkcli::Input in(spec);
  std::vector<T> v;
  in.read<T>([&](logitkit::Rows<const T> b, std::size_t, const std::string&) {
    for (std::size_t r = 0; r < b.rows; ++r) v.insert(v.end(), b.row(r), b.row(r) + b.cols);
  });
  return v;
}

bool json_number(const std::string& s) {
  static const std::regex re(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
  return std::regex_match(s, re);
}

template <class T>
void check_every_reader(std::uint64_t seed) {
  const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
  std::vector<std::string> ok;
  for (const std::string& s : decimals(seed, 6000)) {
    // parse_number itself, and the overflow rule.
    T v;
    const Parsed p = lkcli::parse_number(s, v);
    if (overflows<T>(s)) {
      EXPECT_EQ(p, Parsed::kOverflow) << s;
      continue;
    }
    ASSERT_EQ(p, Parsed::kOk) << s;
    EXPECT_TRUE(same<T>(s, v, "parse_number"));
    ok.push_back(s);
  }
  // Arguments: one row.
  {
    lkcli::InputSpec spec;
    spec.values = ok;
    spec.dtype = dtype;
    const std::vector<T> got = read_all<T>(spec);
    ASSERT_EQ(got.size(), ok.size());
    for (std::size_t i = 0; i < ok.size(); ++i) EXPECT_TRUE(same<T>(ok[i], got[i], "arguments"));
  }
  // Text (blanks), CSV (commas, some fields quoted), JSON (numbers, or strings where the
  // spelling is not JSON's), JSON Lines: 10 values per row.
  std::string text, csv, json = "[", jsonl;
  for (std::size_t i = 0; i < ok.size(); i += 10) {
    std::string jrow = "[";
    for (std::size_t j = i; j < i + 10 && j < ok.size(); ++j) {
      const bool first = j == i;
      text += (first ? "" : "\t ") + ok[j];
      csv += (first ? "" : ",") + (j % 3 == 0 ? "\"" + ok[j] + "\"" : ok[j]);
      jrow += (first ? "" : ", ") + (json_number(ok[j]) ? ok[j] : "\"" + ok[j] + "\"");
    }
    jrow += "]";
    text += "\n";
    csv += "\r\n";
    json += (i ? ",\n" : "") + jrow;
    jsonl += jrow + "\n";
  }
  json += "]\n";
  struct Case {
    const char* reader;
    std::string body;
    const char* format;
  };
  for (const Case& c : {Case{"text", text, "text"}, Case{"text with BOM", "\xEF\xBB\xBF" + text, "auto"},
                        Case{"csv", csv, "csv"}, Case{"json", json, "json"},
                        Case{"jsonl", jsonl, "jsonl"}}) {
    TempFile f(c.body, ".dat");
    lkcli::InputSpec spec;
    spec.path = f.path;
    spec.format = c.format;
    spec.dtype = dtype;
    const std::vector<T> got = read_all<T>(spec);
    ASSERT_EQ(got.size(), ok.size()) << c.reader;
    for (std::size_t i = 0; i < ok.size(); ++i) {
      const bool json_int_zero = (c.format == std::string("json") || c.format == std::string("jsonl")) &&
                                 json_number(ok[i]) && ok[i].find_first_of(".eE") == std::string::npos;
      if (json_int_zero && reference<T>(ok[i]) == 0) {
        EXPECT_EQ(got[i], 0) << ok[i];  // JSON integers: -0 is the integer 0
        continue;
      }
      EXPECT_TRUE(same<T>(ok[i], got[i], c.reader));
    }
  }
  // Number flags (always double).
  if constexpr (sizeof(T) == 8) {
    for (const std::string& s : ok) {
      EXPECT_TRUE(same<double>(s, lkcli::parse_flag_number(s, "--flag"), "a flag"));
    }
  }
}

TEST(NumberParsing, EveryReaderMatchesStrtofFloat32) { check_every_reader<float>(1); }
TEST(NumberParsing, EveryReaderMatchesStrtodFloat64) { check_every_reader<double>(2); }

TEST(NumberParsing, UnderflowWithoutExponentIsSmallNotInfinite) {
  float f;
  double d;
  const std::string s = "0." + std::string(50, '0') + "1";
  ASSERT_EQ(lkcli::parse_number(s, f), Parsed::kOk);
  EXPECT_EQ(f, 0.0f);
  EXPECT_FALSE(std::signbit(f));
  ASSERT_EQ(lkcli::parse_number(s, d), Parsed::kOk);
  EXPECT_EQ(d, 1e-51);
  ASSERT_EQ(lkcli::parse_number("-" + s, f), Parsed::kOk);
  EXPECT_TRUE(std::signbit(f) && f == 0);
  ASSERT_EQ(lkcli::parse_number("0." + std::string(40, '0') + "1", f), Parsed::kOk);
  EXPECT_EQ(f, strtof("1e-41", nullptr));
  EXPECT_GT(f, 0);
}

TEST(NumberParsing, RejectsWhatStrtodWouldPartlyRead) {
  float f;
  for (const char* s : {"", " 1", "1 ", "1e", "1e+", "e5", ".", "-", "+-1", "--1", "0x10", "1,5",
                        "1.5.2", "infin", "nanx", "1f", "١", "1_000", "in f"}) {
    EXPECT_EQ(lkcli::parse_number(s, f), Parsed::kMalformed) << "'" << s << "'";
  }
}

// The same overflow message from every reader, naming the position and the value as typed.
TEST(NumberParsing, OverflowIsTheSameErrorEverywhere) {
  struct Case {
    std::string body, format, where;
  };
  for (const std::string& big : {std::string("1e39"), std::string("-1e400")}) {
    const std::string what = "'" + big + "' overflows float32";
    for (const Case& c : {Case{"1 2\n3 " + big + "\n", "text", ":2:3: "},
                          Case{"1,2\n3,\"" + big + "\"\n", "csv", ":2:3: "},
                          Case{"[[1, 2], [3, " + big + "]]", "json", ": row 2, entry 2: "},
                          Case{"[1, 2]\n[3, \"" + big + "\"]\n", "jsonl", ":2, entry 2: "}}) {
      TempFile f(c.body, ".dat");
      lkcli::InputSpec spec;
      spec.path = f.path;
      spec.format = c.format;
      try {
        read_all<float>(spec);
        ADD_FAILURE() << c.format << ": no error for " << big;
      } catch (const lkcli::UsageError& e) {
        EXPECT_NE(std::string(e.what()).find(f.path + c.where + what), std::string::npos)
            << c.format << ": " << e.what();
      }
    }
    lkcli::InputSpec args;
    args.values = {"1", big};
    try {
      read_all<float>(args);
      ADD_FAILURE() << "arguments: no error for " << big;
    } catch (const lkcli::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("argument 2: " + what), std::string::npos) << e.what();
    }
  }
  // float64 reads 1e39; 1e400 overflows it in every reader too (the flags included).
  EXPECT_THROW(lkcli::parse_flag_number("1e400", "--temperature"), lkcli::UsageError);
  EXPECT_EQ(lkcli::parse_flag_number("1e39", "--temperature"), 1e39);
}

}  // namespace
