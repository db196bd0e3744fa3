// The roofline as SVG (`tdsl bench --plot`): log-log axes, the machine's two ceilings, each timed
// kernel a labelled point. Labels are placed where they overlap nothing: beside their point when
// there is room, further out with a leader line when not, and as numbers with a legend under the
// plot when the points crowd too much for either.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tdsl::tool {

/// One timed kernel on the roofline.
struct RooflinePoint {
  std::string name;
  double intensity = 0; // FLOPs per byte moved.
  double gflops = 0, gbps = 0;
};

struct PlotSize {
  int width = 800, height = 560; // Pixels; the plot needs at least 320 x 240.
};

/// "800x560" as a size; nullopt for anything else or below 320 x 240.
std::optional<PlotSize> parsePlotSize(const std::string &text);

/// The SVG document.
std::string rooflineSvg(const std::vector<RooflinePoint> &points, double peakGflops,
                        double bandwidthGbps, const std::string &title, PlotSize size = {});

} // namespace tdsl::tool
