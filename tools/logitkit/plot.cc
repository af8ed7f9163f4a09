// SPDX-License-Identifier: Apache-2.0
// `logitkit plot` and the chart renderer: title, axes, grid, one line per temperature, legend.
#include "tools/logitkit/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <cmath>
#include <cstdio>

#include "logitkit/softmax.h"
#include "tools/logitkit/commands.h"
#include "tools/logitkit/table.h"

namespace lkcli {

const char* const kChartColors[5] = {"#ef4444", "#f59e0b", "#3b82f6", "#10b981", "#8b5cf6"};

namespace {

void set_hex(cairo_t* cr, const char* hex) {
  unsigned r, g, b;
  std::sscanf(hex + 1, "%2x%2x%2x", &r, &g, &b);
  cairo_set_source_rgb(cr, r / 255.0, g / 255.0, b / 255.0);
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
  for (std::size_t i = 0; i < n; ++i) {
    text(cr, c.classes[i], xpos(i), bottom + 20, Align::kCenter);
    set_hex(cr, "#9ca3af");
    std::string logit = "(";  // built in steps: GCC 12 warns falsely on "(" + s + ")"
    logit += num(c.logits[i], 4);
    logit += ')';
    text(cr, logit, xpos(i), bottom + 36, Align::kCenter);
    set_hex(cr, "#374151");
  }
  cairo_set_font_size(cr, 14);
  text(cr, "class (logit)", (left + right) / 2, h - 18, Align::kCenter);
  cairo_save(cr);
  cairo_translate(cr, 24, (top + bottom) / 2);
  cairo_rotate(cr, -M_PI / 2);
  text(cr, "probability", 0, 0, Align::kCenter);
  cairo_restore(cr);
  // One line per temperature.
  for (std::size_t k = 0; k < probs.size(); ++k) {
    set_hex(cr, kChartColors[k % 5]);
    cairo_set_line_width(cr, 2.5);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (std::size_t i = 0; i < n; ++i) {
      const double y = bottom - (bottom - top) * probs[k][i];
      if (i == 0)
        cairo_move_to(cr, xpos(i), y);
      else
        cairo_line_to(cr, xpos(i), y);
    }
    cairo_stroke(cr);
    for (std::size_t i = 0; i < n; ++i) {
      cairo_arc(cr, xpos(i), bottom - (bottom - top) * probs[k][i], 4, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  // Legend.
  const double lx = right + 24;
  cairo_set_font_size(cr, 13);
  set_hex(cr, "#111827");
  text(cr, "temperature", lx, top + 4, Align::kLeft);
  for (std::size_t k = 0; k < probs.size(); ++k) {
    const double y = top + 28 + 22.0 * k;
    set_hex(cr, kChartColors[k % 5]);
    cairo_set_line_width(cr, 3);
    cairo_move_to(cr, lx, y - 4);
    cairo_line_to(cr, lx + 24, y - 4);
    cairo_stroke(cr);
    set_hex(cr, "#111827");
    text(cr, tau_label(c.temperatures[k]), lx + 32, y, Align::kLeft);
  }
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
  cairo_t* cr = cairo_create(s);
  draw(cr, c, probs);
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
  draw(cr, c, probs);
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
  c.width = a.width;
  c.height = a.height;
  if (a.width < 320 || a.height < 240 || a.width > 8000 || a.height > 8000) {
    throw UsageError("plot: --width must be in [320, 8000] and --height in [240, 8000]");
  }
  const std::vector<std::string> logits =
      a.logits.empty() ? std::vector<std::string>{"2.0", "1.0", "0.5", "-0.5", "-1.0"} : a.logits;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    float v;
    if (!parse_number(logits[i], v) || !std::isfinite(v)) {
      throw UsageError("plot: logit " + std::to_string(i + 1) +
                       ": malformed or non-finite number '" + logits[i] + "'");
    }
    c.logits.push_back(v);
  }
  if (a.classes.empty()) {
    for (std::size_t i = 0; i < c.logits.size(); ++i)
      c.classes.push_back("class " + std::to_string(i + 1));
  } else if (a.classes.size() != c.logits.size()) {
    throw UsageError("plot: " + std::to_string(a.classes.size()) + " class names for " +
                     std::to_string(c.logits.size()) + " logits");
  } else {
    c.classes = a.classes;
  }
  const std::vector<std::string> taus = a.temperatures.empty()
                                            ? std::vector<std::string>{"0.2", "0.5", "1", "2", "5"}
                                            : a.temperatures;
  for (const auto& t : taus) c.temperatures.push_back(parse_temperature(t, "--temperatures"));
  std::string base = a.output;
  for (const char* ext : {".svg", ".png"}) {
    if (base.size() > 4 && base.compare(base.size() - 4, 4, ext) == 0) base.resize(base.size() - 4);
  }
  write_chart(c, base);
  std::printf("wrote %s.svg and %s.png (%d x %d)\n", base.c_str(), base.c_str(), c.width, c.height);
  return 0;
}

}  // namespace lkcli
