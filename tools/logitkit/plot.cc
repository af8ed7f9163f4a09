// SPDX-License-Identifier: Apache-2.0
// `logitkit plot` and the chart renderer: title, axes, grid, one line per temperature, legend.
#include "plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "logitkit/softmax.h"
#include "commands.h"
#include "table.h"

namespace lkcli {

const char* const kChartColors[5] = {"#ef4444", "#f59e0b", "#3b82f6", "#10b981", "#8b5cf6"};

namespace {

void set_hex(cairo_t* cr, const char* hex) {
  unsigned r, g, b;
  std::sscanf(hex + 1, "%2x%2x%2x", &r, &g, &b);
  cairo_set_source_rgb(cr, r / 255.0, g / 255.0, b / 255.0);
}

// A point of a continuous scale (viridis' stops, dark blue to yellow), t in [0, 1].
void set_scale(cairo_t* cr, double t) {
  static const double kStops[][3] = {{0.267, 0.005, 0.329}, {0.231, 0.322, 0.545},
                                     {0.129, 0.569, 0.549}, {0.369, 0.788, 0.384},
                                     {0.992, 0.906, 0.145}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double f = t - i;
  cairo_set_source_rgb(cr, kStops[i][0] + f * (kStops[i + 1][0] - kStops[i][0]),
                       kStops[i][1] + f * (kStops[i + 1][1] - kStops[i][1]),
                       kStops[i][2] + f * (kStops[i + 1][2] - kStops[i][2]));
}

// Line k of `count`: the article's five colours up to five lines, a continuous scale past that
// (ordered by τ as given), so that no two lines share a colour.
void set_line_color(cairo_t* cr, std::size_t k, std::size_t count) {
  if (count <= 5)
    set_hex(cr, kChartColors[k]);
  else
    set_scale(cr, count == 1 ? 0 : static_cast<double>(k) / (count - 1));
}

// A white-to-blue scale for probabilities in [0, 1] (the heat view); NaN is grey.
void set_prob(cairo_t* cr, double p) {
  if (std::isnan(p)) {
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    return;
  }
  const double t = std::sqrt(std::clamp(p, 0.0, 1.0));
  cairo_set_source_rgb(cr, 1 - t * 0.85, 1 - t * 0.6, 1 - t * 0.1);
}

std::string logit_label(float v) {
  std::string s = "(";  // built in steps: GCC 12 warns falsely on "(" + s + ")"
  s += std::isnan(v) ? std::string("nan") : num(v, 4);
  s += ')';
  return s;
}

// Every `step`-th class label is drawn, so that labels do not overprint.
std::size_t label_step(cairo_t* cr, const Chart& c, double span) {
  double widest = 0;
  for (const auto& name : c.classes) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, name.c_str(), &e);
    widest = std::max(widest, e.x_advance);
  }
  const double slot = span / std::max<std::size_t>(1, c.logits.size());
  std::size_t step = 1;
  while (slot * step < widest + 8) step = step < 5 ? step + 1 : step * 2;
  return step;
}

enum class Align { kLeft, kCenter, kRight };

void text(cairo_t* cr, const std::string& s, double x, double y, Align align) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  const double dx = align == Align::kLeft     ? 0
                    : align == Align::kCenter ? e.width / 2 + e.x_bearing
                                              : e.width + e.x_bearing;
  cairo_move_to(cr, x - dx, y);
  cairo_show_text(cr, s.c_str());
}

std::string tau_label(double tau) {
  return "τ = " + (std::isinf(tau) ? std::string("∞") : num(tau, 4));
}

void draw(cairo_t* cr, const Chart& c, const std::vector<std::vector<float>>& probs) {
  const double w = c.width, h = c.height;
  const double left = 80, right = w - 160, top = 64, bottom = h - 76;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, 18);
  set_hex(cr, "#111827");
  text(cr, c.title, (left + right) / 2, 36, Align::kCenter);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 12);
  // Grid and y ticks.
  cairo_set_line_width(cr, 1);
  for (int k = 0; k <= 5; ++k) {
    const double y = bottom - (bottom - top) * k / 5.0;
    set_hex(cr, "#e5e7eb");
    cairo_move_to(cr, left, y);
    cairo_line_to(cr, right, y);
    cairo_stroke(cr);
    set_hex(cr, "#374151");
    char tick[8];
    std::snprintf(tick, sizeof tick, "%.1f", k / 5.0);
    text(cr, tick, left - 8, y + 4, Align::kRight);
  }
  // Axes.
  set_hex(cr, "#374151");
  cairo_set_line_width(cr, 1.5);
  cairo_move_to(cr, left, top);
  cairo_line_to(cr, left, bottom);
  cairo_line_to(cr, right, bottom);
  cairo_stroke(cr);
  const std::size_t n = c.logits.size();
  auto xpos = [&](std::size_t i) {
    const double pad = 36;
    return n == 1 ? (left + right) / 2 : left + pad + (right - left - 2 * pad) * i / (n - 1.0);
  };
  const std::size_t step = label_step(cr, c, right - left);
  for (std::size_t i = 0; i < n; i += step) {
    text(cr, c.classes[i], xpos(i), bottom + 20, Align::kCenter);
    if (step == 1) {
      set_hex(cr, "#9ca3af");
      text(cr, logit_label(c.logits[i]), xpos(i), bottom + 36, Align::kCenter);
      set_hex(cr, "#374151");
    }
  }
  cairo_set_font_size(cr, 14);
  text(cr, step == 1 ? "class (logit)" : "class", (left + right) / 2, h - 18, Align::kCenter);
  cairo_save(cr);
  cairo_translate(cr, 24, (top + bottom) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text(cr, "probability", 0, 0, Align::kCenter);
  cairo_restore(cr);
  // One line per temperature.
  // NaN probabilities (a NaN logit makes its row NaN) leave a gap.
  for (std::size_t k = 0; k < probs.size(); ++k) {
    set_line_color(cr, k, probs.size());
    cairo_set_line_width(cr, n > 60 ? 1.5 : 2.5);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    bool pen = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isnan(probs[k][i])) {
        pen = false;
        continue;
      }
      const double y = bottom - (bottom - top) * probs[k][i];
      if (!pen)
        cairo_move_to(cr, xpos(i), y);
      else
        cairo_line_to(cr, xpos(i), y);
      pen = true;
    }
    cairo_stroke(cr);
    if (n > 60) continue;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isnan(probs[k][i])) continue;
      cairo_arc(cr, xpos(i), bottom - (bottom - top) * probs[k][i], 4, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  bool all_nan = true;
  for (const auto& row : probs) {
    for (float p : row) all_nan = all_nan && std::isnan(p);
  }
  if (all_nan) {
    set_hex(cr, "#374151");
    text(cr, "a NaN logit makes every probability of the row NaN: nothing to draw",
         (left + right) / 2, (top + bottom) / 2, Align::kCenter);
  }
  // Legend.
  const double lx = right + 24;
  cairo_set_font_size(cr, 13);
  set_hex(cr, "#111827");
  text(cr, "temperature", lx, top + 4, Align::kLeft);
  // Every line in the legend while they fit, else the scale with its first and last τ and
  // every few in between.
  const std::size_t fit = static_cast<std::size_t>(std::max(1.0, (bottom - top - 28) / 22.0));
  const std::size_t every = (probs.size() + fit - 1) / fit;
  for (std::size_t k = 0, row = 0; k < probs.size(); ++k) {
    const bool label = k % every == 0 || k + 1 == probs.size();
    const double y = every == 1 ? top + 28 + 22.0 * k
                                : top + 28 + (bottom - top - 28) * k / (probs.size() - 1.0);
    set_line_color(cr, k, probs.size());
    cairo_set_line_width(cr, 3);
    cairo_move_to(cr, lx, y - 4);
    cairo_line_to(cr, lx + 24, y - 4);
    cairo_stroke(cr);
    if (label && (every == 1 || row * 22.0 <= y - top)) {
      set_hex(cr, "#111827");
      text(cr, tau_label(c.temperatures[k]), lx + 32, y, Align::kLeft);
      ++row;
    }
  }
}

// The heat view: one row per τ, one column per class, the cell's colour its probability.
void draw_heat(cairo_t* cr, const Chart& c, const std::vector<std::vector<float>>& probs) {
  const double w = c.width, h = c.height;
  const double left = 110, right = w - 90, top = 64, bottom = h - 60;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, 18);
  set_hex(cr, "#111827");
  text(cr, c.title, (left + right) / 2, 36, Align::kCenter);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 12);
  const std::size_t n = c.logits.size(), m = probs.size();
  const double cw = (right - left) / n, ch = (bottom - top) / m;
  for (std::size_t k = 0; k < m; ++k) {
    for (std::size_t i = 0; i < n; ++i) {
      set_prob(cr, probs[k][i]);
      cairo_rectangle(cr, left + cw * i, top + ch * k, cw + 0.5, ch + 0.5);
      cairo_fill(cr);
    }
  }
  set_hex(cr, "#374151");
  const std::size_t tau_every = static_cast<std::size_t>(std::ceil(16.0 / ch));
  for (std::size_t k = 0; k < m; k += std::max<std::size_t>(1, tau_every)) {
    text(cr, tau_label(c.temperatures[k]), left - 8, top + ch * (k + 0.5) + 4, Align::kRight);
  }
  const std::size_t step = label_step(cr, c, right - left);
  for (std::size_t i = 0; i < n; i += step) {
    text(cr, c.classes[i], left + cw * (i + 0.5), bottom + 18, Align::kCenter);
  }
  cairo_set_font_size(cr, 14);
  text(cr, "class", (left + right) / 2, h - 14, Align::kCenter);
  // The probability scale.
  const double sx = right + 24, sw = 16;
  for (int j = 0; j < 100; ++j) {
    set_prob(cr, 1 - j / 99.0);
    cairo_rectangle(cr, sx, top + (bottom - top) * j / 100.0, sw, (bottom - top) / 100.0 + 0.5);
    cairo_fill(cr);
  }
  cairo_set_font_size(cr, 12);
  set_hex(cr, "#374151");
  text(cr, "p = 1", sx + sw / 2, top - 6, Align::kCenter);
  text(cr, "0", sx + sw / 2, bottom + 16, Align::kCenter);
}

}  // namespace

void write_chart(const Chart& c, const std::string& base) {
  std::vector<std::vector<float>> probs;
  for (double tau : c.temperatures) {
    logitkit::SoftmaxOptions o;
    o.temperature = tau;
    std::vector<float> p(c.logits.size());
    logitkit::softmax(logitkit::one_row<const float>(c.logits.data(), c.logits.size()),
                      logitkit::one_row(p.data(), p.size()), o);
    probs.push_back(p);
  }
  const std::string svg = base + ".svg", png = base + ".png";
  const std::string svg_tmp = svg + ".tmp", png_tmp = png + ".tmp";
  cairo_surface_t* s = cairo_svg_surface_create(svg_tmp.c_str(), c.width, c.height);
  auto render = [&](cairo_t* cr) { c.heat ? draw_heat(cr, c, probs) : draw(cr, c, probs); };
  cairo_t* cr = cairo_create(s);
  render(cr);
  cairo_destroy(cr);
  cairo_surface_finish(s);
  const bool svg_ok = cairo_surface_status(s) == CAIRO_STATUS_SUCCESS;
  cairo_surface_destroy(s);
  if (!svg_ok) {
    std::remove(svg_tmp.c_str());
    throw UsageError("cannot write '" + svg + "'");
  }
  s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, c.width, c.height);
  cr = cairo_create(s);
  render(cr);
  cairo_destroy(cr);
  const bool png_ok = cairo_surface_write_to_png(s, png_tmp.c_str()) == CAIRO_STATUS_SUCCESS;
  cairo_surface_destroy(s);
  if (!png_ok || std::rename(svg_tmp.c_str(), svg.c_str()) != 0 ||
      std::rename(png_tmp.c_str(), png.c_str()) != 0) {
    std::remove(svg_tmp.c_str());
    std::remove(png_tmp.c_str());
    throw UsageError("cannot write '" + png + "'");
  }
}

int run_plot(const PlotArgs& a) {
  Chart c;
  c.title = a.title;
  c.width = static_cast<int>(parse_flag_integer(a.width, "--width", 320, 8000));
  c.height = static_cast<int>(parse_flag_integer(a.height, "--height", 240, 8000));
  const std::vector<std::string> logits =
      a.logits.empty() ? std::vector<std::string>{"2.0", "1.0", "0.5", "-0.5", "-1.0"} : a.logits;
  // inf, -inf and nan are read as everywhere (docs/cli.md): -inf has probability 0, +inf takes
  // the limit, NaN makes the row NaN (drawn as a gap).
  for (std::size_t i = 0; i < logits.size(); ++i) {
    float v;
    const Parsed p = parse_number(logits[i], v);
    if (p != Parsed::kOk) {
      throw UsageError("plot: logit " + std::to_string(i + 1) + ": " +
                       number_problem(p, logits[i], "float32"));
    }
    c.logits.push_back(v);
  }
  if (a.classes.empty()) {
    // 0-based, the token numbers `sample` prints.
    for (std::size_t i = 0; i < c.logits.size(); ++i) c.classes.push_back(std::to_string(i));
  } else if (a.classes.size() != c.logits.size()) {
    throw UsageError("plot: " + std::to_string(a.classes.size()) + " class names for " +
                     std::to_string(c.logits.size()) + " logits");
  } else {
    c.classes = a.classes;
  }
  c.heat = a.view == "heat" || (a.view == "auto" && c.logits.size() > 40);
  const std::vector<std::string> taus = a.temperatures.empty()
                                            ? std::vector<std::string>{"0.2", "0.5", "1", "2", "5"}
                                            : a.temperatures;
  for (std::size_t i = 0; i < taus.size(); ++i) {
    const std::string flag = "--temperatures entry " + std::to_string(i + 1);
    const double tau = parse_flag_number(taus[i], flag.c_str());
    // The library checks τ; its message gets the entry and the value as typed.
    logitkit::SoftmaxOptions o;
    o.temperature = tau;
    std::vector<float> p(c.logits.size());
    try {
      logitkit::softmax(logitkit::one_row<const float>(c.logits.data(), c.logits.size()),
                        logitkit::one_row(p.data(), p.size()), o);
    } catch (const std::invalid_argument& e) {
      throw UsageError(flag + " " + show_token(taus[i]) + ": " + with_typed_value(e.what(), taus[i]));
    }
    c.temperatures.push_back(tau);
  }
  std::string base = a.output;
  for (const char* ext : {".svg", ".png"}) {
    if (base.size() > 4 && base.compare(base.size() - 4, 4, ext) == 0) base.resize(base.size() - 4);
  }
  write_chart(c, base);
  std::printf("wrote %s.svg and %s.png (%d x %d)\n", base.c_str(), base.c_str(), c.width, c.height);
  return 0;
}

}  // namespace lkcli
