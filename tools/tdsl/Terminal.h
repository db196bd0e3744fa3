// How tdsl writes its errors to stderr: the compiler's diagnostics and the command line's own
// errors in one format, in colour on a terminal (labels, carets, hints) and plain elsewhere.
#pragma once

#include "tdsl/tdsl.h"

#include <string>

namespace tdsl::tool {

/// Whether stderr gets colour for `--color=MODE`: "always", "never", or "auto" (a terminal, with
/// NO_COLOR unset or empty and TERM not "dumb").
bool colourFor(const std::string &mode);

/// Every diagnostic of a compile error, as Diagnostic::render writes it, coloured if `colour`.
std::string formatDiagnostics(const CompileError &error, bool colour);

/// `error[E083]: message` and, when `hint` is not empty, an indented `hint: ...` line.
std::string formatError(ErrorCode code, const std::string &message, const std::string &hint,
                        bool colour);

} // namespace tdsl::tool
