// Errors of the command line itself (an unknown command or option, a missing or malformed
// argument, an input left out): reported like the compiler's errors, `error[E0xx]: message` and a
// hint (often a did-you-mean), with their own exit status so scripts can tell them apart.
#pragma once

#include "tdsl/tdsl.h"

#include <string>
#include <vector>

namespace CLI {
class App;
class ParseError;
} // namespace CLI

namespace tdsl::tool {

/// The exit statuses of tdsl, listed in `tdsl --help` and the README.
enum ExitStatus : int {
  kSuccess = 0,
  kProgramError = 1, // The program or its data: compile errors, .npy files, a --check mismatch.
  kUsageError = 2,   // The command line: fix the command, not the program.
  kInternalError = 3 // A bug in tdsl.
};

/// An error of the command line: exit status 2, printed as `error[E0xx]: message` and its hint.
struct UsageError : RuntimeError {
  UsageError(ErrorCode code, const std::string &message, std::string hint = {})
      : RuntimeError(code, message), hint(std::move(hint)) {}
  std::string hint; // Empty when there is nothing to suggest.
};

/// Whether a RuntimeError with this code is about the command line (exit status 2): the codes
/// that UsageError throws, and those the library reports for a flag's value (--kernel, --shape).
bool isUsageCode(ErrorCode code);

/// "did you mean 'X'?" for the candidate nearest to `word` (tdsl::nearestName: `rn` -> `run`,
/// `--inp` -> `--in`), else `otherwise`.
std::string didYouMean(const std::string &word, const std::vector<std::string> &candidates,
                       const std::string &otherwise);

/// "a, b and c".
std::string listWords(const std::vector<std::string> &words);

/// CLI11's parse error as a UsageError of the command (sub)command it arose in: E091 for an
/// unknown command, option or argument (with a did-you-mean), E092 for one left out, E083 for a
/// bad value.
UsageError translateParseError(const CLI::ParseError &error, CLI::App &app);

} // namespace tdsl::tool
