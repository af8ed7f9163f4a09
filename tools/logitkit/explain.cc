// SPDX-License-Identifier: Apache-2.0
// --explain: the article's step-by-step table for one row. Probabilities, log-probabilities and
// logsumexp come from the library; the shift and exponentials are the definition, for display.
#include "explain.h"

#include <cmath>
#include <cstdio>
#include <span>

#include "logitkit/softmax.h"
#include "commands.h"
#include "table.h"

namespace lkcli {
namespace {

template <class T>
std::vector<T> read_one_row(Input& in) {
  std::vector<T> row;
  std::size_t rows = 0;
  in.read<T>([&](logitkit::Rows<const T> block, std::size_t, const std::string& where) {
    rows += block.rows;
    if (rows > 1) throw UsageError("--explain takes one row, but " + where + " starts another");
    row.assign(block.data, block.data + block.cols);
  });
  return row;
}

template <class T>
int explain(Input& in, const RowOpArgs& args, const logitkit::SoftmaxOptions& o) {
  const std::vector<T> x = read_one_row<T>(in);
  const Style st(use_color());
  std::printf(
      "%s\n",
      st.heading("softmax of one row, step by step (τ = " + num(o.temperature, 6) + ")").c_str());
  std::fputs(explain_text(x, o, args.temperature_given, st).c_str(), stdout);
  return 0;
}

}  // namespace

template <class T>
std::string explain_text(const std::vector<T>& x, const logitkit::SoftmaxOptions& o,
                         bool show_scaled, const Style& st) {
  const std::size_t n = x.size();
  std::vector<T> p(n), logp(n), lse(1);
  logitkit::softmax(logitkit::one_row<const T>(x.data(), n), logitkit::one_row(p.data(), n), o);
  logitkit::log_softmax(logitkit::one_row<const T>(x.data(), n), logitkit::one_row(logp.data(), n),
                        o);
  logitkit::logsumexp(logitkit::one_row<const T>(x.data(), n), std::span<T>(lse), o);

  const double tau = o.temperature;
  std::vector<double> z(n);
  double m = -INFINITY, mx = -INFINITY;
  bool any_nan = false;
  for (std::size_t i = 0; i < n; ++i) {
    z[i] = static_cast<double>(x[i]) / tau;
    if (std::isnan(x[i])) any_nan = true;
    if (z[i] > m) m = z[i];
    if (x[i] > mx) mx = x[i];
  }
  // The shift and the exponentials are shown where they are ordinary numbers: not for the
  // limits (τ = 0, τ = inf), a row of all -inf (the empty-row result), +inf entries (the limit
  // over them) or NaN (propagated).
  const bool all_neg_inf = !any_nan && mx == -INFINITY;
  const bool pos_inf = !any_nan && mx == INFINITY;
  const bool steps = tau > 0 && std::isfinite(tau) && std::isfinite(mx) && !any_nan;
  const bool scaled = steps && show_scaled;
  Table t;
  t.header = {"i", "logit x"};
  if (scaled) t.header.push_back("x/τ");
  if (steps) {
    t.header.push_back(scaled ? "x/τ − max" : "x − max");
    t.header.push_back(scaled ? "exp(x/τ − max)" : "exp(x − max)");
  }
  t.header.push_back("p = softmax");
  t.header.push_back("log p");
  double sum_exp = 0, sum_p = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::string> r = {std::to_string(i), num(x[i], 9)};
    if (scaled) r.push_back(num(z[i], 9));
    if (steps) {
      const double e = std::exp(z[i] - m);
      sum_exp += e;
      r.push_back(num(z[i] - m, 9));
      r.push_back(num(e, 9));
    }
    r.push_back(num(p[i], 9));
    r.push_back(num(logp[i], 9));
    sum_p += p[i];
    t.rows.push_back(r);
  }
  std::string out = t.render(st);
  if (steps) {
    out += "  max" + std::string(scaled ? " of x/τ" : "") + " = " + num(m, 9) + "\n";
    out += "  sum of the exponentials = " + num(sum_exp, 9) + "\n";
    out += std::string("  p_i = exp(") + (scaled ? "x_i/τ" : "x_i") + " − max) / sum\n";
  } else if (any_nan) {
    out += "  a NaN logit: NaN propagates to every entry of the row\n";
  } else if (all_neg_inf) {
    out += std::string("  every logit is -inf: no entry has any weight, so the row gets the "
                       "empty-row result (") +
           (o.empty_row == logitkit::EmptyRow::kZeros ? "all zeros" : "all NaN") +
           ", logsumexp -inf)\n";
  } else if (pos_inf) {
    out += "  +inf logits: the limit, the +inf entries share the mass equally\n";
  } else {
    out += "  τ = " + num(tau, 6) + ": " +
           (tau == 0 ? "the argmax limit, all mass on the maximum (split among ties)"
                     : "the uniform limit over the entries that are not -inf") +
           "\n";
  }
  out += "  logsumexp = " + num(lse[0], 9) + "\n";
  if (any_nan) {
    out += "  check: sum of p = nan  (NaN in, NaN out)\n";
  } else if (all_neg_inf) {
    out += "  check: sum of p = " + num(sum_p, 9) + "  " +
           st.good("✓ the documented empty-row result") + "\n";
  } else {
    const bool ok = std::fabs(sum_p - 1.0) <= 1e-6;
    out += "  check: sum of p = " + num(sum_p, 9) + "  " +
           (ok ? st.good("✓ sums to 1") : st.bad("✗ does not sum to 1")) + "\n";
  }
  return out;
}

template std::string explain_text(const std::vector<float>&, const logitkit::SoftmaxOptions&, bool,
                                  const Style&);
template std::string explain_text(const std::vector<double>&, const logitkit::SoftmaxOptions&, bool,
                                  const Style&);

int run_explain(RowOpArgs& args) {
  if (!args.output.path.empty() || args.output.format != "auto") {
    throw UsageError("--explain prints a table: it takes no --output or --output-format");
  }
  const logitkit::SoftmaxOptions o = to_options(args.common);
  args.input.strict = args.common.strict;
  Input in(args.input);
  return in.is_f64() ? explain<double>(in, args, o) : explain<float>(in, args, o);
}

}  // namespace lkcli
