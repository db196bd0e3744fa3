// Source positions and the rendering of diagnostics: the source line as the terminal shows it,
// with a caret and tildes under the span that stay aligned across tabs, UTF-8 and control bytes.
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
  if (end > start && text[end - 1] == '\r') // A CRLF line ending is one newline.
    --end;
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

namespace {

/// Bytes in the UTF-8 sequence starting at `line[i]`, or 0 when it is not a valid one.
size_t utf8Length(std::string_view line, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(line[k]); };
  const unsigned char lead = byte(i);
  size_t length = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (lead >= 0xF5 || i + length > line.size())
    return 0;
  for (size_t k = 1; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80)
      return 0;
  return length;
}

/// One character of a source line as displayed: its bytes, the bytes it occupies in the source,
/// and whether it is a tab (which the caret line repeats so that both expand alike).
struct Glyph {
  std::string shown;
  size_t sourceBytes;
  bool tab;
};

/// Splits a line into glyphs of one terminal column each (tabs aside). Control bytes and invalid
/// UTF-8 show as '?' so that the caret stays aligned and the terminal sane.
std::vector<Glyph> glyphs(std::string_view line) {
  std::vector<Glyph> out;
  for (size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == '\t') {
      out.push_back({"\t", 1, true});
      ++i;
    } else if (c < 0x80) {
      out.push_back({std::string(1, c >= 0x20 && c != 0x7f ? char(c) : '?'), 1, false});
      ++i;
    } else if (size_t length = utf8Length(line, i)) {
      out.push_back({std::string(line.substr(i, length)), length, false});
      i += length;
    } else {
      out.push_back({"?", 1, false});
      ++i;
    }
  }
  return out;
}

} // namespace

std::string Diagnostic::render() const {
  std::string out = span.str() + ": " + std::string(severityName(severity)) + ": " + message + "\n";
  if (span.valid()) {
    const std::string_view line = span.file->lineText(span.begin);
    const size_t caretByte = span.file->lineColumn(span.begin).second - 1; // <= line.size()
    // The span's bytes on this line; a span reaching past the line end is cut at the end.
    const size_t spanEnd = span.end > span.begin
                               ? std::min<size_t>(caretByte + (span.end - span.begin), line.size())
                               : caretByte;
    std::string shown, marks;
    size_t byte = 0;
    bool caretPlaced = false;
    for (const Glyph &g : glyphs(line)) {
      shown += g.shown;
      const size_t next = byte + g.sourceBytes;
      if (!caretPlaced && next > caretByte) {
        marks += '^'; // Under the character holding the span's first byte.
        caretPlaced = true;
      } else if (!caretPlaced) {
        marks += g.tab ? '\t' : ' '; // A tab stays a tab so both lines expand alike.
      } else if (byte < spanEnd) {
        marks += '~';
      }
      byte = next;
    }
    if (!caretPlaced)
      marks += '^'; // At the end of the line (or of the file).
    out += "    " + shown + "\n    " + marks + "\n";
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
