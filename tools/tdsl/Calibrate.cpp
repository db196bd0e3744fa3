// `tdsl calibrate`: the command line over tdsl::calibrate (api/Calibrate.cpp), and the terminal
// progress line.
#include "Calibrate.h"
#include "Units.h"

#include "runtime/Cuda.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <unistd.h>

namespace tdsl::tool {
namespace {

using Clock = std::chrono::steady_clock;

/// A note when other work competes for the CPU while measuring it (figures then read low).
std::string loadNote() {
  double load = 0;
  std::ifstream in("/proc/loadavg");
  if (!(in >> load))
    return {};
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  if (load < 0.5 * threads)
    return {};
  return "note: load average " + significant(load) + " on " + std::to_string(threads) +
         " hardware threads while measuring: the ceilings may read low (tdsl calibrate --force "
         "on a quiet machine)\n";
}

} // namespace

bool Progress::enabled() {
  static const bool on = [] {
    const char *term = std::getenv("TERM");
    return ::isatty(STDERR_FILENO) && !(term && std::string(term) == "dumb");
  }();
  return on;
}

Progress::Progress(std::string what) : what(std::move(what)) {}

void Progress::update(const std::string &status) {
  if (!enabled())
    return;
  double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  if (last >= 0 && now - last < 0.2)
    return;
  last = now;
  std::string line = "\r\033[K" + what + ": " + status;
  (void)!::write(STDERR_FILENO, line.data(), line.size());
  shown = true;
}

void Progress::done() {
  if (!shown)
    return;
  const char erase[] = "\r\033[K";
  (void)!::write(STDERR_FILENO, erase, sizeof erase - 1);
  shown = false;
}

Ceilings calibrateShowingProgress(const Target &target, bool force) {
  std::optional<Progress> progress;
  CalibrationOptions options;
  options.force = force;
  options.progress = [&](const std::string &status) {
    if (!progress) // Called once the device answered: its name is known.
      progress.emplace(target.kind == Target::Kind::Cuda
                           ? "calibrating " + runtime::cuda::device().info().name
                           : std::string("calibrating"));
    progress->update(status);
  };
  Ceilings c = calibrate(target, options);
  if (progress)
    progress->done();
  return c;
}

CLI::App *addCalibrateCommand(CLI::App &app, CalibrateOptions &opts) {
  CLI::App *cmd = app.add_subcommand(
      "calibrate", "measure this machine's peak FLOP/s and copy bandwidth (cached)");
  cmd->add_flag("--force", opts.force, "measure again even if cached for this machine");
  cmd->add_flag("--json", opts.json, "print one JSON object");
  cmd->add_option("--target", opts.target, "cpu or cuda (the GPU's ceilings)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  return cmd;
}

int calibrateCommand(const CalibrateOptions &opts) {
  const bool cuda = opts.target == "cuda";
  Ceilings c = calibrateShowingProgress(cuda ? Target::cuda() : Target::cpu(), opts.force);
  const bool fromCache = c.fromCache;
  if (!fromCache && !cuda)
    std::cerr << loadNote();
  if (opts.json) {
    std::cout << c.json() << std::endl;
    return 0;
  }
  if (cuda) {
    std::cout << "device     " << c.fingerprint << "\n"
              << "peak       " << flopRateText(c.peakGflops1 * 1e9) << " (f32 FMA, every SM)\n";
    if (c.matrixPeakGflops > 0)
      std::cout << "tensor     " << flopRateText(c.matrixPeakGflops * 1e9)
                << " (bf16 products, f32 accumulation, tensor cores)\n";
    std::cout << "bandwidth  " << byteRateText(c.bandwidthGbps1 * 1e9)
              << " (device-to-device copy, read + write)\n"
              << "ridge      " << significant(c.peakGflops1 / c.bandwidthGbps1) << " FLOP/byte\n"
              << (fromCache ? "cached     " : "saved      ") << c.path << "\n";
    return 0;
  }
  std::cout << "machine    " << c.fingerprint << "\n"
            << "peak       " << flopRateText(c.peakGflops1 * 1e9) << " on 1 thread, "
            << flopRateText(c.peakGflopsAll * 1e9) << " on " << c.threads << " (f32 FMA, " << c.isa
            << ")\n"
            << "bandwidth  " << byteRateText(c.bandwidthGbps1 * 1e9) << " on 1 thread, "
            << byteRateText(c.bandwidthGbpsAll * 1e9) << " on " << c.threads
            << " (copy, read + write)\n"
            << "ridge      " << significant(c.peakGflops1 / c.bandwidthGbps1)
            << " FLOP/byte on 1 thread, " << significant(c.peakGflopsAll / c.bandwidthGbpsAll)
            << " on " << c.threads << "\n"
            << (fromCache ? "cached     " : "saved      ") << c.path << "\n";
  return 0;
}

} // namespace tdsl::tool
