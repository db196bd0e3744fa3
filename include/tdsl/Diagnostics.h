// Source locations and user-facing diagnostics. Every error a user can cause is reported here,
// with `file:line:col`, the source line, a caret under the span, and a hint where there is one.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl {

/// A .tdsl source text and its name (a path, or "<string>").
struct SourceFile {
  std::string name;
  std::string text;

  /// 1-based line and column of a byte offset (columns count bytes).
  std::pair<uint32_t, uint32_t> lineColumn(uint32_t offset) const;
  /// The text of the line holding `offset`, without its newline.
  std::string_view lineText(uint32_t offset) const;
};

/// A half-open byte range [begin, end) in one source file. A default span means "no location".
struct SourceSpan {
  std::shared_ptr<const SourceFile> file;
  uint32_t begin = 0;
  uint32_t end = 0;

  bool valid() const { return file != nullptr; }
  /// The smallest span covering both (same file).
  SourceSpan to(const SourceSpan &other) const;
  /// "file:line:col"
  std::string str() const;
};

enum class Severity : uint8_t { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceSpan span;
  std::string message;
  std::string hint; // Empty when there is no suggestion.

  /// file:line:col: error: message, the source line, a caret line, then "  hint: ...".
  std::string render() const;
};

/// Collects diagnostics so that all independent errors of a file are reported together.
class DiagnosticEngine {
public:
  void error(const SourceSpan &span, std::string message, std::string hint = {});
  void note(const SourceSpan &span, std::string message);

  bool hasErrors() const { return errorCount > 0; }
  const std::vector<Diagnostic> &diagnostics() const { return all; }
  /// Every diagnostic rendered, in the order reported.
  std::string render() const;

private:
  std::vector<Diagnostic> all;
  int errorCount = 0;
};

/// Thrown by the public API when a program has errors; carries every diagnostic.
class CompileError : public std::runtime_error {
public:
  explicit CompileError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic> &diagnostics() const { return diags; }

private:
  std::vector<Diagnostic> diags;
};

/// A user error found while running a compiled kernel (shape mismatch, bad .npy file, ...).
class RuntimeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace tdsl
