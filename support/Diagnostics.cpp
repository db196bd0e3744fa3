#include "tdsl/Diagnostics.h"

#include <algorithm>

namespace tdsl {

std::pair<uint32_t, uint32_t> SourceFile::lineColumn(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, text.size());
  uint32_t line = 1, lineStart = 0;
  for (uint32_t i = 0; i < offset; ++i)
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  return {line, offset - lineStart + 1};
}

std::string_view SourceFile::lineText(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, text.size());
  size_t start = offset == 0 ? std::string::npos : text.rfind('\n', offset - 1);
  start = start == std::string::npos ? 0 : start + 1;
  size_t end = text.find('\n', start);
  if (end == std::string::npos)
    end = text.size();
  return std::string_view(text).substr(start, end - start);
}

SourceSpan SourceSpan::to(const SourceSpan &other) const {
  if (!valid())
    return other;
  if (!other.valid())
    return *this;
  return SourceSpan{file, std::min(begin, other.begin), std::max(end, other.end)};
}

std::string SourceSpan::str() const {
  if (!valid())
    return "<unknown>";
  auto [line, col] = file->lineColumn(begin);
  return file->name + ":" + std::to_string(line) + ":" + std::to_string(col);
}

static std::string_view severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  }
  return "error";
}

std::string Diagnostic::render() const {
  std::string out = span.str() + ": " + std::string(severityName(severity)) + ": " + message + "\n";
  if (span.valid()) {
    std::string_view line = span.file->lineText(span.begin);
    auto [lineNo, col] = span.file->lineColumn(span.begin);
    (void)lineNo;
    // Non-printable bytes are shown as '?' so the caret stays aligned and the terminal sane.
    std::string shown;
    for (char c : line)
      shown += (c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)) ? c : '?';
    out += "    " + shown + "\n    ";
    for (uint32_t i = 1; i < col && i - 1 < line.size(); ++i)
      out += line[i - 1] == '\t' ? '\t' : ' ';
    out += '^';
    uint32_t lineRemaining = line.size() >= col ? uint32_t(line.size() - col) : 0;
    uint32_t width = span.end > span.begin ? span.end - span.begin - 1 : 0;
    out += std::string(std::min(width, lineRemaining), '~');
    out += "\n";
  }
  if (!hint.empty())
    out += "    hint: " + hint + "\n";
  return out;
}

void DiagnosticEngine::error(const SourceSpan &span, std::string message, std::string hint) {
  all.push_back(Diagnostic{Severity::Error, span, std::move(message), std::move(hint)});
  ++errorCount;
}

void DiagnosticEngine::note(const SourceSpan &span, std::string message) {
  all.push_back(Diagnostic{Severity::Note, span, std::move(message), {}});
}

std::string DiagnosticEngine::render() const {
  std::string out;
  for (const Diagnostic &d : all)
    out += d.render();
  return out;
}

static std::string joinRendered(const std::vector<Diagnostic> &diagnostics) {
  std::string out;
  for (const Diagnostic &d : diagnostics)
    out += d.render();
  return out;
}

CompileError::CompileError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(joinRendered(diagnostics)), diags(std::move(diagnostics)) {}

} // namespace tdsl
