// Colour for errors on a terminal, in clang's palette: the location bold, `error` red, `warning`
// magenta, `note` cyan, carets green, `hint:` cyan. The text is Diagnostic::render's, unchanged
// but for the escape sequences around these parts.
#include "Terminal.h"

#include <cstdlib>
#include <unistd.h>

namespace tdsl::tool {

namespace {

constexpr const char *kBold = "\033[1m";
constexpr const char *kRed = "\033[1;31m";
constexpr const char *kGreen = "\033[1;32m";
constexpr const char *kMagenta = "\033[1;35m";
constexpr const char *kCyan = "\033[1;36m";
constexpr const char *kReset = "\033[0m";

std::string paint(const std::string &text, const char *colour, bool on) {
  return on ? colour + text + kReset : text;
}

std::string label(Severity severity, ErrorCode code, bool colour) {
  std::string codeText = code == ErrorCode::None ? "" : "[" + errorCodeString(code) + "]";
  switch (severity) {
  case Severity::Error:
    return paint("error" + codeText, kRed, colour);
  case Severity::Warning:
    return paint("warning" + codeText, kMagenta, colour);
  case Severity::Note:
    return paint("note" + codeText, kCyan, colour);
  }
  return {};
}

std::string hintLine(const std::string &hint, bool colour) {
  return "    " + paint("hint:", kCyan, colour) + " " + hint + "\n";
}

/// One diagnostic in colour, or as rendered if its text is not in the layout expected (so a
/// change of Diagnostic::render can cost colour, never text).
std::string paintDiagnostic(const Diagnostic &d) {
  std::string plain = d.render();
  std::string location = d.span.str() + ":";
  std::string header = location + " " + label(d.severity, d.code, false) + ": " + d.message + "\n";
  if (plain.rfind(header, 0) != 0)
    return plain;
  std::string out = paint(location, kBold, true) + " " + label(d.severity, d.code, true) + ": " +
                    d.message + "\n";
  size_t at = header.size();
  if (d.span.valid()) {
    size_t sourceEnd = plain.find('\n', at);
    size_t caretEnd = sourceEnd == std::string::npos ? sourceEnd : plain.find('\n', sourceEnd + 1);
    if (caretEnd == std::string::npos)
      return plain;
    out += plain.substr(at, sourceEnd + 1 - at);
    out +=
        "    " + paint(plain.substr(sourceEnd + 5, caretEnd - sourceEnd - 5), kGreen, true) + "\n";
    at = caretEnd + 1;
  }
  std::string rest = plain.substr(at);
  if (!d.hint.empty() && rest == hintLine(d.hint, false))
    return out + hintLine(d.hint, true);
  return rest.empty() ? out : plain;
}

} // namespace

bool colourFor(const std::string &mode) {
  if (mode != "auto")
    return mode == "always";
  const char *noColour = std::getenv("NO_COLOR"); // https://no-color.org
  const char *term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) && !(noColour && *noColour) &&
         !(term && std::string(term) == "dumb");
}

std::string formatDiagnostics(const CompileError &error, bool colour) {
  if (!colour)
    return error.what();
  std::string out;
  for (const Diagnostic &d : error.diagnostics())
    out += paintDiagnostic(d);
  return out;
}

std::string formatError(ErrorCode code, const std::string &message, const std::string &hint,
                        bool colour) {
  std::string out = label(Severity::Error, code, colour) + ": " + message + "\n";
  return hint.empty() ? out : out + hintLine(hint, colour);
}

} // namespace tdsl::tool
