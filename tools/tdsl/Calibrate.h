// `tdsl calibrate`: this machine's ceilings for the roofline, from tdsl::calibrate (peak FLOP/s
// and copy bandwidth of the CPU, on one thread and on every hardware thread, or of the CUDA
// device; measured once and cached with a fingerprint of the machine). Also the terminal
// progress line that long commands show.
#pragma once

#include "tdsl/tdsl.h"

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

/// A one-line progress display on stderr, shown only when stderr is a terminal (quiet in pipes
/// and files, and under TERM=dumb); redrawn at most every 0.2 s, erased by done().
class Progress {
public:
  explicit Progress(std::string what);
  ~Progress() { done(); }
  void update(const std::string &status);
  void done();
  /// Whether progress is shown in this process.
  static bool enabled();

private:
  std::string what;
  double last = -1;
  bool shown = false;
};

/// tdsl::calibrate with its progress shown on a terminal ("calibrating: ...").
Ceilings calibrateShowingProgress(const Target &target, bool force);

struct CalibrateOptions {
  bool force = false, json = false;
  std::string target = "cpu";
};
CLI::App *addCalibrateCommand(CLI::App &app, CalibrateOptions &opts);
int calibrateCommand(const CalibrateOptions &opts);

} // namespace tdsl::tool
