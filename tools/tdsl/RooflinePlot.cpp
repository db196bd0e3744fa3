#include "RooflinePlot.h"
#include "Units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <utility>

namespace tdsl::tool {

namespace {

constexpr double kFontSize = 12;
/// A generous width of one character of a 12 px sans-serif font: labels are placed by boxes of
/// this estimate, so that the real text (narrower in every common font) stays inside them.
constexpr double kCharWidth = 7.5;
constexpr double kPointRadius = 6;

std::string xmlEscape(const std::string &text) {
  std::string out;
  for (char c : text)
    out += c == '<'   ? "&lt;"
           : c == '>' ? "&gt;"
           : c == '&' ? "&amp;"
           : c == '"' ? "&quot;"
                      : std::string(1, c);
  return out;
}

std::string fmt(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box &o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  bool inside(const Box &o) const { return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1; }
};

/// The box of `text` drawn at (x, baseline y) with `anchor` "start" or "end".
Box textBox(const std::string &text, double x, double y, bool end) {
  double w = kCharWidth * static_cast<double>(text.size());
  double x0 = end ? x - w : x;
  return {x0, y - kFontSize, x0 + w, y + 0.3 * kFontSize};
}

struct Segment {
  double x0, y0, x1, y1;
  /// Whether the segment passes through `b` (clipped against each side in turn).
  bool crosses(const Box &b) const {
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    for (auto [p, q] : {std::pair{-dx, x0 - b.x0}, std::pair{dx, b.x1 - x0},
                        std::pair{-dy, y0 - b.y0}, std::pair{dy, b.y1 - y0}}) {
      if (p == 0) {
        if (q < 0)
          return false;
      } else if (p < 0) {
        t0 = std::max(t0, q / p);
      } else {
        t1 = std::min(t1, q / p);
      }
    }
    return t0 <= t1;
  }
};

/// Labels placed so far and what they must avoid.
class Layout {
public:
  explicit Layout(Box area) : area_(area) {}
  void block(Box b) { taken_.push_back(b); }
  void block(Segment s) { lines_.push_back(s); }
  bool free(const Box &b) const {
    return b.inside(area_) &&
           std::none_of(taken_.begin(), taken_.end(),
                        [&](const Box &t) { return t.overlaps(b); }) &&
           std::none_of(lines_.begin(), lines_.end(),
                        [&](const Segment &l) { return l.crosses(b); });
  }

private:
  Box area_;
  std::vector<Box> taken_;
  std::vector<Segment> lines_;
};

struct Placed {
  double x, y;
  bool end;    // text-anchor="end".
  bool leader; // Far from its point: draw a line to it.
};

/// A place for `text` near the point (px, py): beside it (right, left, above, below), then on
/// rings further out with a leader line; nullopt when every place overlaps something.
std::optional<Placed> place(const Layout &layout, const std::string &text, double px, double py) {
  const double gap = kPointRadius + 3;
  std::vector<Placed> candidates = {
      {px + gap, py + 4, false, false},
      {px - gap, py + 4, true, false},
      {px + 2, py - gap, false, false},
      {px - 2, py - gap, true, false},
      {px + 2, py + gap + kFontSize, false, false},
      {px - 2, py + gap + kFontSize, true, false},
  };
  for (double r = 2 * kFontSize; r <= 10 * kFontSize; r += kFontSize)
    for (double dy : {-r, r, -r / 2, r / 2, 0.0})
      for (bool end : {false, true})
        candidates.push_back({px + (end ? -1 : 1) * (gap + r), py + dy + 4, end, true});
  for (const Placed &c : candidates)
    if (layout.free(textBox(text, c.x, c.y, c.end)))
      return c;
  return std::nullopt;
}

} // namespace

std::optional<PlotSize> parsePlotSize(const std::string &text) {
  int width = 0, height = 0;
  char x = 0, rest = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &width, &x, &height, &rest) != 3 || x != 'x' ||
      width < 320 || height < 240 || width > 20000 || height > 20000)
    return std::nullopt;
  return PlotSize{width, height};
}

std::string rooflineSvg(const std::vector<RooflinePoint> &points, double peakGflops,
                        double bandwidthGbps, const std::string &title, PlotSize size) {
  const double width = size.width, plotHeight = size.height;
  // The title, wrapped at spaces into lines that fit the width; the plot starts below them.
  std::vector<std::string> titleLines{""};
  {
    const size_t fits = static_cast<size_t>((width - 20) / (kCharWidth * 14 / kFontSize));
    std::istringstream words("Roofline: " + title);
    for (std::string word; words >> word;) {
      std::string &last = titleLines.back();
      if (!last.empty() && last.size() + 1 + word.size() > fits)
        titleLines.push_back(word);
      else
        last += (last.empty() ? "" : " ") + word;
    }
  }
  const double left = 80, right = 30, bottom = 70;
  const double top = 33 + 17 * static_cast<double>(titleLines.size());
  double ridge = peakGflops / bandwidthGbps;
  // Axes: powers of two covering the ridge, every point and some room.
  double xMin = std::min(1.0 / 16, ridge / 64), xMax = std::max(64.0, ridge * 16);
  double yMax = peakGflops * 2, yMin = std::min(xMin * bandwidthGbps, peakGflops / 1024);
  for (const RooflinePoint &p : points) {
    if (p.intensity > 0) {
      xMin = std::min(xMin, p.intensity / 2);
      xMax = std::max(xMax, p.intensity * 2);
    }
    if (p.gflops > 0)
      yMin = std::min(yMin, p.gflops / 2);
  }
  xMin = std::exp2(std::floor(std::log2(xMin)));
  xMax = std::exp2(std::ceil(std::log2(xMax)));
  yMin = std::pow(10, std::floor(std::log10(yMin)));
  yMax = std::pow(10, std::ceil(std::log10(yMax)));
  auto X = [&](double v) {
    return left + (std::log(v) - std::log(xMin)) / (std::log(xMax) - std::log(xMin)) *
                      (width - left - right);
  };
  auto Y = [&](double v) {
    return plotHeight - bottom -
           (std::log(v) - std::log(yMin)) / (std::log(yMax) - std::log(yMin)) *
               (plotHeight - top - bottom);
  };
  // Tick labels every power of two (x) or ten (y), thinned so that neighbours keep a gap.
  std::vector<double> xTicks, yTicks;
  double lastX = -1e9;
  for (double x = xMin; x <= xMax * 1.001; x *= 2)
    if (X(x) - lastX >= 5 * kCharWidth) {
      xTicks.push_back(x);
      lastX = X(x);
    }
  for (double y = yMin; y <= yMax * 1.001; y *= 10)
    yTicks.push_back(y);

  Layout layout({left + 2, top + 2, width - right - 2, plotHeight - bottom - 2});
  std::ostringstream body;
  auto line = [&](double x1, double y1, double x2, double y2, const char *style) {
    body << "<line x1=\"" << fmt(x1) << "\" y1=\"" << fmt(y1) << "\" x2=\"" << fmt(x2) << "\" y2=\""
         << fmt(y2) << "\" " << style << "/>\n";
  };
  auto text = [&](double x, double y, const char *anchor, const std::string &words,
                  const char *extra = "") {
    body << "<text x=\"" << fmt(x) << "\" y=\"" << fmt(y) << "\" text-anchor=\"" << anchor << "\""
         << extra << ">" << xmlEscape(words) << "</text>\n";
  };
  for (double x : xTicks) {
    line(X(x), top, X(x), plotHeight - bottom, "stroke=\"#e4e4e4\"");
    char label[32];
    std::snprintf(label, sizeof label, x < 1 ? "1/%g" : "%g", x < 1 ? 1 / x : x);
    text(X(x), plotHeight - bottom + 18, "middle", label);
  }
  for (double y : yTicks) {
    line(left, Y(y), width - right, Y(y), "stroke=\"#e4e4e4\"");
    text(left - 8, Y(y) + 4, "end", significant(y, 3));
  }
  body << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width - left - right
       << "\" height=\"" << plotHeight - top - bottom << "\" fill=\"none\" stroke=\"black\"/>\n";
  text((left + width - right) / 2, plotHeight - 22, "middle", "arithmetic intensity (FLOP/byte)");
  body << "<text transform=\"translate(20," << fmt((top + plotHeight - bottom) / 2)
       << ") rotate(-90)\" text-anchor=\"middle\">GFLOP/s</text>\n";

  // The roofline: bandwidth slope up to the ridge, then the peak.
  double xStart = std::max(xMin, yMin / bandwidthGbps);
  body << "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"3\" points=\""
       << fmt(X(xStart)) << "," << fmt(Y(xStart * bandwidthGbps)) << " " << fmt(X(ridge)) << ","
       << fmt(Y(peakGflops)) << " " << fmt(X(xMax)) << "," << fmt(Y(peakGflops)) << "\"/>\n";
  layout.block(Segment{X(xStart), Y(xStart * bandwidthGbps), X(ridge), Y(peakGflops)});
  layout.block(Segment{X(ridge), Y(peakGflops), X(xMax), Y(peakGflops)});

  // Every point is placed before any label, so that no label covers one.
  struct Mark {
    double x, y;
  };
  std::vector<Mark> marks;
  for (const RooflinePoint &p : points) {
    double x = std::clamp(p.intensity > 0 ? p.intensity : xMin, xMin, xMax);
    double y = std::clamp(p.gflops > 0 ? p.gflops : yMin, yMin, yMax);
    marks.push_back({X(x), Y(y)});
    layout.block(
        Box{X(x) - kPointRadius, Y(y) - kPointRadius, X(x) + kPointRadius, Y(y) + kPointRadius});
  }

  // The ceilings' labels: the peak's above its line (else under it) at the right end, moving
  // left until free; the bandwidth's under the slope, right of where it enters the plot (the
  // slope rises away from it), moving right until free.
  const char *ceilingStyle = " fill=\"#c0392b\"";
  auto ceilingLabel = [&](const std::string &words, std::vector<Placed> spots) {
    for (const Placed &spot : spots)
      if (layout.free(textBox(words, spot.x, spot.y, spot.end))) {
        text(spot.x, spot.y, spot.end ? "end" : "start", words, ceilingStyle);
        layout.block(textBox(words, spot.x, spot.y, spot.end));
        return;
      }
    // No free spot (points crowd the line): the first, over what is there.
    text(spots[0].x, spots[0].y, spots[0].end ? "end" : "start", words, ceilingStyle);
  };
  std::vector<Placed> peakSpots, bandwidthSpots;
  for (double shift = 0; shift < (width - left - right) / 2; shift += 2 * kFontSize)
    for (double dy : {-8.0, 8.0 + kFontSize}) {
      peakSpots.push_back({X(xMax) - 6 - shift, Y(peakGflops) + dy, true, false});
      bandwidthSpots.push_back({X(xStart) + 8 + shift,
                                Y(xStart * bandwidthGbps) + 16 + (dy > 0 ? kFontSize : 0), false,
                                false});
    }
  ceilingLabel("peak " + flopRateText(peakGflops * 1e9), peakSpots);
  ceilingLabel(byteRateText(bandwidthGbps * 1e9), bandwidthSpots);

  std::vector<std::optional<Placed>> labels;
  bool crowded = false;
  for (size_t i = 0; i < points.size() && !crowded; ++i) {
    labels.push_back(place(layout, points[i].name, marks[i].x, marks[i].y));
    if (labels.back())
      layout.block(textBox(points[i].name, labels.back()->x, labels.back()->y, labels.back()->end));
    else
      crowded = true;
  }
  // Too crowded for names: each point gets its number (placed the same way) and the legend
  // under the plot names them, one a line.
  std::vector<std::string> legend;
  if (crowded) {
    labels.clear();
    for (size_t i = 0; i < points.size(); ++i) {
      std::string number = std::to_string(i + 1);
      labels.push_back(place(layout, number, marks[i].x, marks[i].y));
      if (labels.back())
        layout.block(textBox(number, labels.back()->x, labels.back()->y, labels.back()->end));
      legend.push_back(number + "  " + points[i].name);
    }
  }
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string label = crowded ? std::to_string(i + 1) : points[i].name;
    body << "<circle cx=\"" << fmt(marks[i].x) << "\" cy=\"" << fmt(marks[i].y) << "\" r=\""
         << kPointRadius << "\" fill=\"#2c7fb8\" stroke=\"black\"/>\n";
    if (!labels[i])
      continue; // Even its number found no room; the legend still names it.
    if (labels[i]->leader)
      line(marks[i].x, marks[i].y, labels[i]->end ? labels[i]->x + 2 : labels[i]->x - 2,
           labels[i]->y - 4, "stroke=\"#777\"");
    text(labels[i]->x, labels[i]->y, labels[i]->end ? "end" : "start", label,
         " class=\"point-label\"");
  }
  const double legendTop = plotHeight + 4, lineHeight = kFontSize + 6;
  for (size_t i = 0; i < legend.size(); ++i)
    text(left, legendTop + lineHeight * static_cast<double>(i + 1), "start", legend[i],
         " class=\"legend\"");
  const double height = plotHeight + (legend.empty() ? 0 : lineHeight * legend.size() + 12);

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\""
      << fmt(height) << "\" viewBox=\"0 0 " << width << " " << fmt(height)
      << "\" font-family=\"sans-serif\" font-size=\"" << kFontSize << "\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << body.str();
  for (size_t i = 0; i < titleLines.size(); ++i)
    svg << "<text x=\"" << fmt(width / 2) << "\" y=\"" << 20 + 17 * i
        << "\" text-anchor=\"middle\" font-size=\"14\" class=\"title\">" << xmlEscape(titleLines[i])
        << "</text>\n";
  svg << "</svg>\n";
  return svg.str();
}

} // namespace tdsl::tool
