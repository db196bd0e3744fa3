// Source locations and user-facing diagnostics. Every error a user can cause is reported here,
// with `file:line:col`, the source line, a caret under the span, and a hint where there is one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl {

/// The stable code of a kind of user error, from the catalogue in tdsl/ErrorCodes.def (documented
/// in docs/errors.md). Shown as `error[E012]`; None for diagnostics that have no code (notes).
enum class ErrorCode : uint16_t {
  None = 0,
#define TDSL_ERROR(number, name, summary) name = number,
#include "tdsl/ErrorCodes.def"
#undef TDSL_ERROR
};

/// "E012"; empty for ErrorCode::None.
std::string errorCodeString(ErrorCode code);
/// The catalogue's one-line summary of a code; empty for None or a number not in the catalogue.
std::string_view errorCodeSummary(ErrorCode code);
/// Every code of the catalogue, in increasing order.
const std::vector<ErrorCode> &allErrorCodes();

/// The byte offsets where the lines of a text start, computed once per text (thread-safe), so
/// that turning offsets into line:column is a binary search, not a scan of the file.
class LineStarts {
public:
  LineStarts() = default;
  LineStarts(const LineStarts &) {} // A copy computes its own.
  LineStarts &operator=(const LineStarts &);
  /// The starts for `text` (always begins with 0); recomputed if `text` is not the one cached.
  std::shared_ptr<const std::vector<uint32_t>> of(std::string_view text) const;

private:
  mutable std::mutex mutex;
  mutable std::shared_ptr<const std::vector<uint32_t>> starts;
  mutable const char *cachedData = nullptr;
  mutable size_t cachedSize = 0;
};

/// A .tdsl source text and its name (a path, or "<string>").
struct SourceFile {
  std::string name;
  std::string text;
  LineStarts lines = {}; // A cache; not part of the file's value.

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
  std::string hint;                 // Empty when there is no suggestion.
  ErrorCode code = ErrorCode::None; // Every error has one; notes have none.

  /// file:line:col: error[E012]: message, the source line (a window of it when the line is
  /// long), a caret line, then "  hint: ...".
  std::string render() const;
};

/// Collects diagnostics so that all independent errors of a file are reported together.
class DiagnosticEngine {
public:
  void error(ErrorCode code, const SourceSpan &span, std::string message, std::string hint = {});
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
/// what() is the message alone; the CLI prints it as `error[E082]: message`.
class RuntimeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error; // No code: a failure of the environment (CUDA, ...).
  RuntimeError(ErrorCode code, const std::string &message)
      : std::runtime_error(message), errorCode(code) {}
  ErrorCode code() const { return errorCode; }

private:
  ErrorCode errorCode = ErrorCode::None;
};

} // namespace tdsl
