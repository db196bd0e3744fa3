// `tdsl completion bash|zsh`: a shell completion script generated from the option table, so it
// cannot fall behind the commands and flags it completes.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace tdsl::tool {

/// The completion script for `shell` ("bash" or "zsh") of every command and option of `app`.
std::string completionScript(CLI::App &app, const std::string &shell);

} // namespace tdsl::tool
