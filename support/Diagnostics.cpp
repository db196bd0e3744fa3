// Source positions and the rendering of diagnostics: the source line as the terminal shows it,
// with a caret and tildes under the span that stay aligned across tabs, UTF-8 and control bytes.
#include "tdsl/Diagnostics.h"

#include <algorithm>

namespace tdsl {

std::string errorCodeString(ErrorCode code) {
  if (code == ErrorCode::None)
    return {};
  std::string digits = std::to_string(static_cast<unsigned>(code));
  return "E" + std::string(digits.size() < 3 ? 3 - digits.size() : 0, '0') + digits;
}

std::string_view errorCodeSummary(ErrorCode code) {
  switch (code) {
#define TDSL_ERROR(number, name, summary)                                                          \
  case ErrorCode::name:                                                                            \
    return summary;
#include "tdsl/ErrorCodes.def"
#undef TDSL_ERROR
  case ErrorCode::None:
    break;
  }
  return {};
}

const std::vector<ErrorCode> &allErrorCodes() {
  static const std::vector<ErrorCode> codes = {
#define TDSL_ERROR(number, name, summary) ErrorCode::name,
#include "tdsl/ErrorCodes.def"
#undef TDSL_ERROR
  };
  return codes;
}

LineStarts &LineStarts::operator=(const LineStarts &) {
  std::lock_guard lock(mutex);
  starts.reset();
  cachedData = nullptr;
  cachedSize = 0;
  return *this;
}

std::shared_ptr<const std::vector<uint32_t>> LineStarts::of(std::string_view text) const {
  std::lock_guard lock(mutex);
  if (starts && cachedData == text.data() && cachedSize == text.size())
    return starts;
  auto computed = std::make_shared<std::vector<uint32_t>>();
  computed->push_back(0);
  for (size_t i = text.find('\n'); i != std::string_view::npos; i = text.find('\n', i + 1))
    computed->push_back(static_cast<uint32_t>(i + 1));
  starts = std::move(computed);
  cachedData = text.data();
  cachedSize = text.size();
  return starts;
}

std::pair<uint32_t, uint32_t> SourceFile::lineColumn(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, text.size());
  const auto starts = lines.of(text);
  // The last line start at or before `offset`.
  const auto it = std::upper_bound(starts->begin(), starts->end(), offset) - 1;
  return {static_cast<uint32_t>(it - starts->begin()) + 1, offset - *it + 1};
}

std::string_view SourceFile::lineText(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, text.size());
  const auto starts = lines.of(text);
  const auto it = std::upper_bound(starts->begin(), starts->end(), offset) - 1;
  const size_t start = *it;
  size_t end = it + 1 == starts->end() ? text.size() : *(it + 1) - 1; // Before the newline.
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

/// Lines longer than this many bytes are shown as a window around the caret.
constexpr size_t kMaxShownLine = 160;
/// Bytes of a long line shown before the caret (the window then runs to kMaxShownLine bytes).
constexpr size_t kContextBefore = 60;

/// Moves `i` back to the start of the UTF-8 character holding it.
size_t characterStart(std::string_view line, size_t i) {
  while (i > 0 && i < line.size() && (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80)
    --i;
  return i;
}

} // namespace

std::string Diagnostic::render() const {
  std::string out = span.str() + ": " + std::string(severityName(severity));
  if (code != ErrorCode::None)
    out += "[" + errorCodeString(code) + "]";
  out += ": " + message + "\n";
  if (span.valid()) {
    std::string_view line = span.file->lineText(span.begin);
    size_t caretByte = span.file->lineColumn(span.begin).second - 1; // <= line.size()
    // The span's bytes on this line; a span reaching past the line end is cut at the end.
    size_t spanEnd = span.end > span.begin
                         ? std::min<size_t>(caretByte + (span.end - span.begin), line.size())
                         : caretByte;
    // A long line is cut to a window around the caret, with "..." where text is left out, so
    // that a megabyte line neither floods the terminal nor costs time per diagnostic.
    std::string shown, marks;
    bool cutRight = false;
    if (line.size() > kMaxShownLine) {
      const size_t from =
          characterStart(line, caretByte > kContextBefore ? caretByte - kContextBefore : 0);
      const size_t to = characterStart(line, std::min(line.size(), from + kMaxShownLine));
      if (from > 0) {
        shown += "...";
        marks += "   ";
      }
      caretByte -= from;
      spanEnd = std::max(std::min(spanEnd, to), from) - from;
      cutRight = to < line.size();
      line = line.substr(from, to - from);
    }
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
    if (cutRight)
      shown += "...";
    out += "    " + shown + "\n    " + marks + "\n";
  }
  if (!hint.empty())
    out += "    hint: " + hint + "\n";
  return out;
}

/// Messages and hints longer than this are cut (a name or literal quoted from a hostile file can
/// be megabytes long).
constexpr size_t kMaxMessage = 600;

static std::string bounded(std::string text) {
  if (text.size() <= kMaxMessage)
    return text;
  size_t cut = kMaxMessage - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut; // Never split a UTF-8 character.
  text.resize(cut);
  return text + "...";
}

void DiagnosticEngine::error(ErrorCode code, const SourceSpan &span, std::string message,
                             std::string hint) {
  all.push_back(Diagnostic{Severity::Error, span, bounded(std::move(message)),
                           bounded(std::move(hint)), code});
  ++errorCount;
}

void DiagnosticEngine::note(const SourceSpan &span, std::string message) {
  all.push_back(Diagnostic{Severity::Note, span, bounded(std::move(message)), {}});
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
