// `tdsl aot FILE --cpu LEVELS -o DIR`: the kernels of FILE compiled ahead of time into DIR/NAME.o,
// DIR/libNAME.a and DIR/NAME.h (tdsl::compileAheadOfTime); this is the command line over it.
#pragma once

#include "tdsl/Aot.h"

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

struct AotCommandOptions {
  std::string file, cpu = "host", gpu = "sm_80,sm_90";
  AotOptions aot;
};

CLI::App *addAotCommand(CLI::App &app, AotCommandOptions &opts);
int aotCommand(AotCommandOptions opts);

} // namespace tdsl::tool
