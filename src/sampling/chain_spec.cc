// SPDX-License-Identifier: Apache-2.0
// The chain's stage table, spec parser and parameter checks.
#include "src/sampling/chain_spec.h"

#include "src/internal/shortest.h"
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace logitkit::internal {
namespace {

enum class Range {
  kAny,         // finite
  kNonNeg,      // >= 0, finite
  kPositive,    // > 0, finite
  kUnit,        // [0, 1]
  kUnitOpen,    // [0, 1)
  kAtLeastOne,  // >= 1, finite
  kTemp,        // >= 0, +inf allowed
  kIntLastN,    // integer >= -1
  kInt,         // integer (any sign)
  kIntNonNeg,   // integer >= 0
  kIntPositive  // integer >= 1
};

struct ParamDef {
  const char* name;
  double def;
  Range range;
};

struct StageDef {
  const char* name;
  StageKind kind;
  std::vector<ParamDef> params;
};

const std::vector<StageDef>& table() {
  static const std::vector<StageDef> t = {
      {"penalties", StageKind::kPenalties,
       {{"last_n", 64, Range::kIntLastN}, {"repeat", 1, Range::kPositive},
        {"frequency", 0, Range::kAny}, {"presence", 0, Range::kAny}}},
      {"dry", StageKind::kDry,
       {{"multiplier", 0, Range::kNonNeg}, {"base", 1.75, Range::kAtLeastOne},
        {"allowed_length", 2, Range::kIntNonNeg}, {"last_n", -1, Range::kIntLastN}}},
      {"top_k", StageKind::kTopK, {{"k", 40, Range::kInt}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"typical", StageKind::kTypical,
       {{"p", 1, Range::kUnit}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"top_p", StageKind::kTopP, {{"p", 0.95, Range::kUnit}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"min_p", StageKind::kMinP, {{"p", 0.05, Range::kUnit}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"xtc", StageKind::kXtc,
       {{"probability", 0, Range::kUnit}, {"threshold", 0.1, Range::kUnit},
        {"min_keep", 1, Range::kIntNonNeg}}},
      {"top_n_sigma", StageKind::kTopNSigma, {{"n", -1, Range::kAny}}},
      {"epsilon", StageKind::kEpsilon,
       {{"epsilon", 3e-4, Range::kUnitOpen}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"eta", StageKind::kEta,
       {{"epsilon", 2e-3, Range::kUnitOpen}, {"min_keep", 1, Range::kIntNonNeg}}},
      {"temp", StageKind::kTemp, {{"t", 0.8, Range::kTemp}}},
      {"dynatemp", StageKind::kDynatemp,
       {{"t", 0.8, Range::kNonNeg}, {"delta", 0, Range::kNonNeg},
        {"exponent", 1, Range::kNonNeg}}},
      {"mirostat", StageKind::kMirostat,
       {{"tau", 5, Range::kNonNeg}, {"eta", 0.1, Range::kNonNeg}, {"m", 100, Range::kIntPositive}}},
      {"mirostat_v2", StageKind::kMirostatV2,
       {{"tau", 5, Range::kNonNeg}, {"eta", 0.1, Range::kNonNeg}}},
  };
  return t;
}

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("logitkit::SamplerChain: " + what);
}

std::string known_names() {
  std::string s;
  for (const StageDef& d : table()) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

const StageDef* find_stage(std::string_view name) {
  for (const StageDef& d : table()) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// The shortest text that reads back as v.
std::string num(double v) { return internal::shortest_text(v); }

const char* range_text(Range r) {
  switch (r) {
    case Range::kAny: return "finite";
    case Range::kNonNeg: return ">= 0 and finite";
    case Range::kPositive: return "> 0 and finite";
    case Range::kUnit: return "in [0, 1]";
    case Range::kUnitOpen: return "in [0, 1)";
    case Range::kAtLeastOne: return ">= 1 and finite";
    case Range::kTemp: return ">= 0 (not NaN)";
    case Range::kIntLastN: return "an integer >= -1";
    case Range::kInt: return "an integer";
    case Range::kIntNonNeg: return "an integer >= 0";
    case Range::kIntPositive: return "an integer >= 1";
  }
  return "";
}

bool in_range(Range r, double v) {
  const bool integer = std::isfinite(v) && v == std::floor(v) && std::fabs(v) <= 2147483647.0;
  switch (r) {
    case Range::kAny: return std::isfinite(v);
    case Range::kNonNeg: return std::isfinite(v) && v >= 0;
    case Range::kPositive: return std::isfinite(v) && v > 0;
    case Range::kUnit: return v >= 0 && v <= 1;
    case Range::kUnitOpen: return v >= 0 && v < 1;
    case Range::kAtLeastOne: return std::isfinite(v) && v >= 1;
    case Range::kTemp: return v >= 0;
    case Range::kIntLastN: return integer && v >= -1;
    case Range::kInt: return integer;
    case Range::kIntNonNeg: return integer && v >= 0;
    case Range::kIntPositive: return integer && v >= 1;
  }
  return false;
}

std::string where(std::size_t pos, const std::string& name) {
  return "stage " + std::to_string(pos + 1) + " (" + name + ")";
}

}  // namespace

std::vector<ChainStage> parse_chain_spec(std::string_view spec) {
  std::vector<ChainStage> out;
  std::size_t pos = 0;
  std::size_t index = 0;
  if (spec.find_first_not_of(" \t") == std::string_view::npos) bad("the chain spec is empty");
  while (pos <= spec.size()) {
    std::size_t end = spec.find(',', pos);
    if (end == std::string_view::npos) end = spec.size();
    std::string item(spec.substr(pos, end - pos));
    // Trim spaces.
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (item.empty()) {
      bad("stage " + std::to_string(index + 1) + " of \"" + std::string(spec) + "\" is empty");
    }
    const std::size_t eq = item.find('=');
    ChainStage st;
    st.name = item.substr(0, eq);
    const StageDef* def = find_stage(st.name);
    if (!def) {
      bad("unknown stage \"" + st.name + "\" at position " + std::to_string(index + 1) +
          " (known: " + known_names() + ")");
    }
    if (eq != std::string::npos) {
      const std::string values = item.substr(eq + 1);
      std::size_t vp = 0, k = 0;
      while (true) {
        std::size_t ve = values.find(':', vp);
        if (ve == std::string::npos) ve = values.size();
        const std::string text = values.substr(vp, ve - vp);
        if (k >= def->params.size()) {
          bad(where(index, st.name) + ": \"" + item + "\" has more than " +
              std::to_string(def->params.size()) + " values");
        }
        char* stop = nullptr;
        const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &stop);
        if (text.empty() || stop != text.c_str() + text.size()) {
          bad(where(index, st.name) + ": \"" + text + "\" in \"" + item + "\" is not a number");
        }
        if (!in_range(def->params[k].range, v)) {
          bad(where(index, st.name) + ": " + def->params[k].name + " must be " +
              range_text(def->params[k].range) + ", got " + text);
        }
        st.params.emplace_back(def->params[k].name, v);
        ++k;
        if (ve == values.size()) break;
        vp = ve + 1;
      }
    }
    out.push_back(std::move(st));
    ++index;
    if (end == spec.size()) break;
    pos = end + 1;
  }
  return out;
}

void validate_chain(std::vector<ChainStage>& stages) {
  if (stages.empty()) bad("the chain has no stages");
  std::vector<int> seen(table().size(), -1);
  for (std::size_t s = 0; s < stages.size(); ++s) {
    ChainStage& st = stages[s];
    const StageDef* def = find_stage(st.name);
    if (!def) {
      bad("unknown stage \"" + st.name + "\" at position " + std::to_string(s + 1) +
          " (known: " + known_names() + ")");
    }
    const std::size_t d = static_cast<std::size_t>(def - table().data());
    if (seen[d] >= 0 && def->kind != StageKind::kTemp) {
      bad(where(s, st.name) + " repeats stage " + std::to_string(seen[d] + 1) +
          " (only temp may appear twice)");
    }
    seen[d] = static_cast<int>(s);
    if ((def->kind == StageKind::kMirostat || def->kind == StageKind::kMirostatV2) &&
        s + 1 != stages.size()) {
      bad(where(s, st.name) + " draws the token: it must be the last stage, but " +
          std::to_string(stages.size() - s - 1) + " stage(s) follow it");
    }
    if (!st.sequence_breakers.empty() && def->kind != StageKind::kDry) {
      bad(where(s, st.name) + ": sequence_breakers belong to the dry stage");
    }
    for (std::size_t j = 0; j < st.sequence_breakers.size(); ++j) {
      if (st.sequence_breakers[j].empty()) {
        bad(where(s, st.name) + ": sequence_breakers[" + std::to_string(j) + "] is empty");
      }
    }
    std::vector<std::pair<std::string, double>> full;
    for (const ParamDef& p : def->params) full.emplace_back(p.name, p.def);
    for (const auto& [name, value] : st.params) {
      std::size_t k = 0;
      while (k < def->params.size() && name != def->params[k].name) ++k;
      if (k == def->params.size()) {
        std::string names;
        for (const ParamDef& p : def->params) {
          names += (names.empty() ? "" : ", ") + std::string(p.name);
        }
        bad(where(s, st.name) + ": unknown parameter \"" + name + "\" (known: " + names + ")");
      }
      if (!in_range(def->params[k].range, value)) {
        bad(where(s, st.name) + ": " + name + " must be " + range_text(def->params[k].range) +
            ", got " + num(value));
      }
      full[k].second = value;
    }
    st.params = std::move(full);
  }
}

std::vector<ResolvedStage> resolve_chain(const std::vector<ChainStage>& stages) {
  std::vector<ResolvedStage> out;
  out.reserve(stages.size());
  for (const ChainStage& st : stages) {
    ResolvedStage r{find_stage(st.name)->kind};
    for (std::size_t k = 0; k < st.params.size() && k < 4; ++k) r.v[k] = st.params[k].second;
    r.breakers = &st.sequence_breakers;
    out.push_back(r);
  }
  return out;
}

std::string chain_spec_string(const std::vector<ChainStage>& stages) {
  std::string s;
  for (const ChainStage& st : stages) {
    if (!s.empty()) s += ',';
    s += st.name;
    for (std::size_t k = 0; k < st.params.size(); ++k) {
      s += k == 0 ? '=' : ':';
      s += num(st.params[k].second);
    }
  }
  return s;
}

}  // namespace logitkit::internal
