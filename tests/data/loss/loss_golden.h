// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the loss tests: the golden-file reader and target iteration.
#ifndef LOGITKIT_TESTS_DATA_LOSS_LOSS_GOLDEN_H_
#define LOGITKIT_TESTS_DATA_LOSS_LOSS_GOLDEN_H_

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "logitkit/targets.h"

namespace logitkit::testing {

// One record of a golden file: every "key values..." line, the values kept as text and as numbers.
struct Golden {
  std::string name;
  std::map<std::string, std::string> text;
  std::map<std::string, std::vector<double>> num;
  const std::vector<double>& v(const std::string& k) const { return num.at(k); }
  double d(const std::string& k) const { return num.at(k).at(0); }
  bool has(const std::string& k) const { return num.count(k) != 0; }
};

inline double parse_double(const std::string& s) {
  if (s == "nan") return std::nan("");
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  return std::stod(s);
}

// Reads tests/data/loss/<file> (relative to the source tree); fails the test if it is missing.
inline std::vector<Golden> read_golden(const std::string& file) {
  std::vector<Golden> out;
  // This header sits beside the data: its own path names the folder, wherever the build runs.
  std::string dir = __FILE__;
  dir = dir.substr(0, dir.find_last_of('/'));
  const std::string path = dir + "/" + file;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string line;
  Golden g;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "case") {
      g = Golden{};
      ls >> g.name;
    } else if (key == "end") {
      out.push_back(g);
    } else {
      std::string rest;
      std::getline(ls, rest);
      g.text[key] = rest.empty() ? rest : rest.substr(1);
      std::istringstream vs(rest);
      std::string tok;
      std::vector<double> vals;
      bool numeric = true;
      while (vs >> tok) {
        try {
          vals.push_back(parse_double(tok));
        } catch (...) {
          numeric = false;
          break;
        }
      }
      if (numeric) g.num[key] = vals;
    }
  }
  EXPECT_FALSE(out.empty()) << path << " has no cases";
  return out;
}

// Runs fn once per supported SIMD target (dispatch pinned to it), then restores the default.
inline void for_each_target(const std::function<void(const std::string&)>& fn) {
  for (const std::string& t : targets().supported) {
    ASSERT_TRUE(force_target(t)) << t;
    fn(t);
  }
  reset_target();
}

}  // namespace logitkit::testing

#endif  // LOGITKIT_TESTS_DATA_LOSS_LOSS_GOLDEN_H_
