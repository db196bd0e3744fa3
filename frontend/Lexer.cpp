// The tdsl lexer. Hand-written, one token per call, driven lazily by the parser so that lexical
// and syntax errors come out in source order. Bad bytes never stop it: a run of them becomes one
// Error token with one queued explanation, so a binary file gives a few errors, not millions.
#include "frontend/Lexer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tdsl::frontend {

std::string_view tokenKindName(TokenKind kind) {
  switch (kind) {
  case TokenKind::Eof:
    return "end of file";
  case TokenKind::Newline:
    return "end of line";
  case TokenKind::Error:
    return "invalid text";
  case TokenKind::Identifier:
    return "identifier";
  case TokenKind::IntLiteral:
    return "integer literal";
  case TokenKind::FloatLiteral:
    return "float literal";
  case TokenKind::KwKernel:
    return "'kernel'";
  case TokenKind::KwFor:
    return "'for'";
  case TokenKind::KwAnd:
    return "'and'";
  case TokenKind::KwOr:
    return "'or'";
  case TokenKind::KwNot:
    return "'not'";
  case TokenKind::KwTrue:
    return "'true'";
  case TokenKind::KwFalse:
    return "'false'";
  case TokenKind::KwInf:
    return "'inf'";
  case TokenKind::LParen:
    return "'('";
  case TokenKind::RParen:
    return "')'";
  case TokenKind::LBracket:
    return "'['";
  case TokenKind::RBracket:
    return "']'";
  case TokenKind::LBrace:
    return "'{'";
  case TokenKind::RBrace:
    return "'}'";
  case TokenKind::Comma:
    return "','";
  case TokenKind::Colon:
    return "':'";
  case TokenKind::Semicolon:
    return "';'";
  case TokenKind::Arrow:
    return "'->'";
  case TokenKind::Assign:
    return "'='";
  case TokenKind::EqEq:
    return "'=='";
  case TokenKind::NotEq:
    return "'!='";
  case TokenKind::Less:
    return "'<'";
  case TokenKind::LessEq:
    return "'<='";
  case TokenKind::Greater:
    return "'>'";
  case TokenKind::GreaterEq:
    return "'>='";
  case TokenKind::Plus:
    return "'+'";
  case TokenKind::Minus:
    return "'-'";
  case TokenKind::Star:
    return "'*'";
  case TokenKind::Slash:
    return "'/'";
  case TokenKind::SlashSlash:
    return "'//'";
  case TokenKind::Percent:
    return "'%'";
  case TokenKind::At:
    return "'@'";
  case TokenKind::StarStar:
    return "'**'";
  case TokenKind::QuestionQuestion:
    return "'?\?'";
  }
  return "token";
}

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }
/// Whitespace inside a line. '\r' is here so that CRLF files lex like LF files.
bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
/// Bytes that can never start a token: NUL, other control characters, and everything non-ASCII.
bool isBadByte(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || u == 0x7f || (u < 0x20 && c != '\n' && !isBlank(c));
}

/// Length of the valid UTF-8 sequence at `s[i]` (1 to 4) and its code point, or 0 when the bytes
/// there are not valid UTF-8 (overlong forms, surrogates and truncated sequences included).
int decodeUtf8(std::string_view s, size_t i, uint32_t &codePoint) {
  auto at = [&](size_t k) -> unsigned {
    return k < s.size() ? static_cast<unsigned char>(s[k]) : 0;
  };
  unsigned b0 = at(i);
  if (b0 < 0x80) {
    codePoint = b0;
    return 1;
  }
  int length;
  unsigned lo = 0x80, hi = 0xbf; // The allowed range of the second byte.
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    codePoint = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    codePoint = b0 & 0x0f;
    if (b0 == 0xe0)
      lo = 0xa0;
    if (b0 == 0xed)
      hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    codePoint = b0 & 0x07;
    if (b0 == 0xf0)
      lo = 0x90;
    if (b0 == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  for (int k = 1; k < length; ++k) {
    unsigned b = at(i + k);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
      return 0;
    codePoint = (codePoint << 6) | (b & 0x3f);
  }
  return length;
}

std::string hexByte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}

std::string codePointName(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", cp);
  return buf;
}

/// A fix for a non-ASCII character that looks like ASCII punctuation, when there is one.
std::string lookalikeHint(uint32_t cp) {
  switch (cp) {
  case 0x2212:
  case 0x2013:
  case 0x2014:
    return "use the ASCII minus sign '-'";
  case 0x00D7:
  case 0x00B7:
  case 0x22C5:
    return "use '*' for multiplication";
  case 0x00F7:
    return "use '/' for division";
  case 0x2264:
    return "use '<='";
  case 0x2265:
    return "use '>='";
  case 0x2260:
    return "use '!='";
  case 0x2018:
  case 0x2019:
  case 0x201C:
  case 0x201D:
    return "tdsl has no strings; a typographic quote may have come from a word processor";
  case 0x00A0:
  case 0x2002:
  case 0x2003:
  case 0x2009:
  case 0x200B:
  case 0x3000:
    return "this is an unusual space; replace it with an ordinary space";
  default:
    return "outside comments, tdsl source is ASCII: identifiers are ASCII letters, digits and '_'";
  }
}

/// The literal's text for a message, shortened when it is huge.
std::string shortened(std::string_view text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax)
    return std::string(text);
  return std::string(text.substr(0, kMax - 3)) + "...";
}

} // namespace

Lexer::Lexer(std::shared_ptr<const SourceFile> file) : source(std::move(file)), src(source->text) {
  // Offsets are 32-bit; a bigger file is refused up front rather than mislocated.
  if (src.size() >= std::numeric_limits<uint32_t>::max()) {
    error(ErrorCode::CannotReadSource, 0, 0, "source file is too large (the limit is 4 GiB)");
    src = {};
    return;
  }
  if (src.size() >= 2 &&
      ((src[0] == '\xff' && src[1] == '\xfe') || (src[0] == '\xfe' && src[1] == '\xff'))) {
    error(ErrorCode::InvalidEncoding, 0, 2, "the file is UTF-16 encoded", "save it as UTF-8");
    pos = static_cast<uint32_t>(src.size());
    return;
  }
  if (src.substr(0, 3) == "\xef\xbb\xbf") // A UTF-8 byte-order mark is harmless: skip it.
    pos = 3;
}

void Lexer::error(ErrorCode code, uint32_t begin, uint32_t end, std::string message,
                  std::string hint) {
  errors.push_back(LexError{code, begin, end, std::move(message), std::move(hint)});
}

std::vector<LexError> Lexer::takeErrors() {
  std::vector<LexError> out;
  out.swap(errors);
  return out;
}

std::string_view Lexer::text(const Token &token) const {
  return src.substr(token.begin, token.end - token.begin);
}

SourceSpan Lexer::span(const Token &token) const { return span(token.begin, token.end); }

SourceSpan Lexer::span(uint32_t begin, uint32_t end) const {
  return SourceSpan{source, begin, end};
}

Token Lexer::make(TokenKind kind, uint32_t begin) const {
  Token t;
  t.kind = kind;
  t.begin = begin;
  t.end = pos;
  return t;
}

Token Lexer::next() {
  const uint32_t size = static_cast<uint32_t>(src.size());
  while (true) {
    while (pos < size && isBlank(src[pos]))
      ++pos;
    if (pos >= size) {
      Token eof;
      eof.begin = eof.end = size;
      return eof;
    }
    char c = src[pos];
    if (c == '#') {
      skipComment();
      continue;
    }
    if (c == '\n') {
      // Blank lines and comment-only lines after a line break add nothing: one token for all.
      uint32_t begin = pos++;
      while (pos < size) {
        if (src[pos] == '\n' || isBlank(src[pos]))
          ++pos;
        else if (src[pos] == '#')
          skipComment();
        else
          break;
      }
      Token t;
      t.kind = TokenKind::Newline;
      t.begin = begin;
      t.end = begin + 1;
      return t;
    }
    if (isDigit(c) || (c == '.' && pos + 1 < size && isDigit(src[pos + 1])))
      return lexNumber();
    if (isIdentStart(c))
      return lexIdentifier();
    if (isBadByte(c))
      return lexBadBytes();
    return lexPunctuation();
  }
}

void Lexer::skipComment() {
  // Comments may hold any UTF-8 text; NUL bytes and invalid UTF-8 are still errors (the source
  // must be UTF-8 text), reported once per comment.
  const size_t size = src.size();
  bool reported = false;
  while (pos < size && src[pos] != '\n') {
    auto u = static_cast<unsigned char>(src[pos]);
    if (u < 0x80) {
      if (u == 0 && !reported) {
        error(ErrorCode::InvalidEncoding, pos, pos + 1, "unexpected NUL byte in a comment",
              "tdsl source must be UTF-8 text; the file may be binary or UTF-16 encoded");
        reported = true;
      }
      ++pos;
      continue;
    }
    uint32_t cp;
    int length = decodeUtf8(src, pos, cp);
    if (length == 0) {
      if (!reported) {
        error(ErrorCode::InvalidEncoding, pos, pos + 1,
              "invalid UTF-8 byte " + hexByte(u) + " in a comment",
              "tdsl source must be UTF-8 text; re-save the file as UTF-8");
        reported = true;
      }
      length = 1;
    }
    pos += length;
  }
}

// NUMBER := DIGITS [ '.' DIGITS? ] EXPONENT? | '.' DIGITS EXPONENT?
// EXPONENT := ('e' | 'E') ('+' | '-')? DIGITS
Token Lexer::lexNumber() {
  const uint32_t begin = pos;
  const size_t size = src.size();
  bool isFloat = false;
  while (pos < size && isDigit(src[pos]))
    ++pos;
  if (pos < size && src[pos] == '.') {
    isFloat = true;
    ++pos;
    while (pos < size && isDigit(src[pos]))
      ++pos;
  }
  if (pos < size && (src[pos] == 'e' || src[pos] == 'E')) {
    size_t k = pos + 1;
    if (k < size && (src[k] == '+' || src[k] == '-'))
      ++k;
    if (k < size && isDigit(src[k])) {
      isFloat = true;
      pos = static_cast<uint32_t>(k);
      while (pos < size && isDigit(src[pos]))
        ++pos;
    }
  }
  const uint32_t numberEnd = pos;
  std::string_view number = src.substr(begin, numberEnd - begin);

  if (pos < size && isIdentChar(src[pos])) {
    // `12abc`, `1e`, `0x1F`: one Error token for the whole word so the parser does not cascade.
    while (pos < size && isIdentChar(src[pos]))
      ++pos;
    std::string_view suffix = src.substr(numberEnd, pos - numberEnd);
    std::string hint;
    if ((suffix[0] == 'e' || suffix[0] == 'E') && !isFloat)
      hint = "an exponent needs digits: 1e5, 2.5e-3";
    else if (suffix[0] == 'e' || suffix[0] == 'E')
      hint = "an exponent needs digits (2.5e-3), and a number has only one";
    else if (number == "0" &&
             (suffix[0] == 'x' || suffix[0] == 'X' || suffix[0] == 'b' || suffix[0] == 'o'))
      hint = "only decimal literals are supported";
    else if (suffix == "f" || suffix == "F" || suffix == "L" || suffix == "l" || suffix == "u")
      hint = "tdsl literals have no type suffix; a literal adopts the type of the other operand";
    else
      hint = "a name cannot start with a digit; put an operator or a space after the number";
    error(ErrorCode::MalformedNumber, begin, pos,
          "invalid suffix '" + shortened(suffix) + "' on number '" + shortened(number) + "'",
          std::move(hint));
    return make(TokenKind::Error, begin);
  }

  if (!isFloat) {
    Token t = make(TokenKind::IntLiteral, begin);
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), t.intValue);
    if (ec != std::errc() || ptr != number.data() + number.size()) {
      t.intValue = 0;
      error(ErrorCode::IntLiteralTooLarge, begin, pos,
            "integer literal '" + shortened(number) + "' is too large",
            "integers are 64-bit: the largest is 9223372036854775807; write a float (1e30) if "
            "that is what you mean");
    }
    return t;
  }

  Token t = make(TokenKind::FloatLiteral, begin);
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), t.floatValue,
                                   std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    // Overflow or underflow. The decimal magnitude tells which: the position of the first
    // non-zero digit relative to the point, plus the written exponent.
    std::string_view mantissa = number.substr(0, number.find_first_of("eE"));
    std::string_view whole = mantissa.substr(0, mantissa.find('.'));
    std::string_view fraction =
        whole.size() < mantissa.size() ? mantissa.substr(whole.size() + 1) : std::string_view();
    int64_t magnitude = 0;
    bool seenNonZero = false;
    if (size_t k = whole.find_first_not_of('0'); k != std::string_view::npos) {
      magnitude = static_cast<int64_t>(whole.size() - k);
      seenNonZero = true;
    } else if (size_t f = fraction.find_first_not_of('0'); f != std::string_view::npos) {
      magnitude = -static_cast<int64_t>(f);
      seenNonZero = true;
    }
    int64_t exponent = 0;
    if (mantissa.size() < number.size()) {
      std::string_view e = number.substr(mantissa.size() + 1);
      bool negative = !e.empty() && e[0] == '-';
      for (char d : e)
        if (isDigit(d))
          exponent = std::min<int64_t>(exponent * 10 + (d - '0'), 1'000'000'000);
      if (negative)
        exponent = -exponent;
    }
    if (seenNonZero && magnitude + exponent > 0) {
      error(ErrorCode::FloatLiteralTooLarge, begin, pos,
            "float literal '" + shortened(number) + "' is too large for f64",
            "write 'inf' for infinity");
      t.floatValue = std::numeric_limits<double>::infinity();
    } else {
      t.floatValue = 0.0; // Too small: rounds to zero like in C and Python.
    }
  } else if (ec != std::errc() || ptr != number.data() + number.size()) {
    // Cannot happen for text matching the grammar above; report rather than assert.
    error(ErrorCode::MalformedNumber, begin, pos,
          "malformed float literal '" + shortened(number) + "'");
  }
  return t;
}

Token Lexer::lexIdentifier() {
  const uint32_t begin = pos;
  while (pos < src.size() && isIdentChar(src[pos]))
    ++pos;
  std::string_view word = src.substr(begin, pos - begin);
  TokenKind kind = TokenKind::Identifier;
  if (word == "kernel")
    kind = TokenKind::KwKernel;
  else if (word == "for")
    kind = TokenKind::KwFor;
  else if (word == "and")
    kind = TokenKind::KwAnd;
  else if (word == "or")
    kind = TokenKind::KwOr;
  else if (word == "not")
    kind = TokenKind::KwNot;
  else if (word == "true")
    kind = TokenKind::KwTrue;
  else if (word == "false")
    kind = TokenKind::KwFalse;
  else if (word == "inf")
    kind = TokenKind::KwInf;
  return make(kind, begin);
}

Token Lexer::lexPunctuation() {
  const uint32_t begin = pos;
  const char c = src[pos++];
  const char n = pos < src.size() ? src[pos] : '\0';
  auto two = [&](TokenKind kind) {
    ++pos;
    return make(kind, begin);
  };
  switch (c) {
  case '(':
    return make(TokenKind::LParen, begin);
  case ')':
    return make(TokenKind::RParen, begin);
  case '[':
    return make(TokenKind::LBracket, begin);
  case ']':
    return make(TokenKind::RBracket, begin);
  case '{':
    return make(TokenKind::LBrace, begin);
  case '}':
    return make(TokenKind::RBrace, begin);
  case ',':
    return make(TokenKind::Comma, begin);
  case ':':
    return make(TokenKind::Colon, begin);
  case ';':
    return make(TokenKind::Semicolon, begin);
  case '+':
    return make(TokenKind::Plus, begin);
  case '%':
    return make(TokenKind::Percent, begin);
  case '@':
    return make(TokenKind::At, begin);
  case '-':
    return n == '>' ? two(TokenKind::Arrow) : make(TokenKind::Minus, begin);
  case '=':
    return n == '=' ? two(TokenKind::EqEq) : make(TokenKind::Assign, begin);
  case '<':
    return n == '=' ? two(TokenKind::LessEq) : make(TokenKind::Less, begin);
  case '>':
    return n == '=' ? two(TokenKind::GreaterEq) : make(TokenKind::Greater, begin);
  case '*':
    return n == '*' ? two(TokenKind::StarStar) : make(TokenKind::Star, begin);
  case '/':
    return n == '/' ? two(TokenKind::SlashSlash) : make(TokenKind::Slash, begin);
  case '?':
    if (n == '?')
      return two(TokenKind::QuestionQuestion);
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '?'",
          "did you mean '?\?', the default for an out-of-bounds access (x[i - 1] ?? 0.0)?");
    return make(TokenKind::Error, begin);
  case '!':
    if (n == '=')
      return two(TokenKind::NotEq);
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '!'",
          "use 'not' for negation and '!=' for inequality");
    return make(TokenKind::Error, begin);
  case '&':
    if (n == '&')
      ++pos;
    error(ErrorCode::UnexpectedCharacter, begin, pos,
          "unexpected '" + std::string(src.substr(begin, pos - begin)) + "'",
          "use 'and' to combine conditions");
    return make(TokenKind::Error, begin);
  case '|':
    if (n == '|')
      ++pos;
    error(ErrorCode::UnexpectedCharacter, begin, pos,
          "unexpected '" + std::string(src.substr(begin, pos - begin)) + "'",
          "use 'or' to combine conditions");
    return make(TokenKind::Error, begin);
  case '^':
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '^'", "use '**' for powers");
    return make(TokenKind::Error, begin);
  case '~':
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '~'", "use 'not' for negation");
    return make(TokenKind::Error, begin);
  case '\'':
  case '"':
    error(ErrorCode::UnexpectedCharacter, begin, pos, std::string("unexpected '") + c + "'",
          "tdsl has no strings");
    return make(TokenKind::Error, begin);
  case '\\':
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '\\'",
          "there are no line continuations: a line break inside ( ) or [ ] does not end a "
          "statement, so wrap the expression in parentheses");
    return make(TokenKind::Error, begin);
  case '.':
    error(ErrorCode::UnexpectedCharacter, begin, pos, "unexpected '.'",
          "a float literal needs a digit next to the point (0.5, 3.); tdsl has no attributes or "
          "methods");
    return make(TokenKind::Error, begin);
  default:
    error(ErrorCode::UnexpectedCharacter, begin, pos,
          std::string("unexpected character '") + c + "'");
    return make(TokenKind::Error, begin);
  }
}

Token Lexer::lexBadBytes() {
  const uint32_t begin = pos;
  auto first = static_cast<unsigned char>(src[pos]);
  uint32_t cp = 0;
  int firstLength = first >= 0x80 ? decodeUtf8(src, pos, cp) : 1;
  std::string message, hint;
  ErrorCode code = ErrorCode::InvalidEncoding;
  if (first == 0) {
    message = "unexpected NUL byte";
    hint = "tdsl source must be UTF-8 text; the file may be binary or UTF-16 encoded";
  } else if (first < 0x80) {
    message = "unexpected control character " + hexByte(first);
    hint = "remove it; only spaces, tabs and line breaks may separate tokens";
  } else if (firstLength == 0) {
    message = "invalid UTF-8 byte " + hexByte(first);
    hint = "tdsl source must be UTF-8 text; re-save the file as UTF-8";
  } else {
    code = ErrorCode::UnexpectedCharacter;
    message = "unexpected character " + codePointName(cp) + " '" +
              std::string(src.substr(pos, firstLength)) + "'";
    hint = lookalikeHint(cp);
  }
  // Swallow the whole run of bad bytes: one error for a garbled word, not one per byte.
  while (pos < src.size() && isBadByte(src[pos])) {
    int length = static_cast<unsigned char>(src[pos]) >= 0x80 ? decodeUtf8(src, pos, cp) : 1;
    pos += length == 0 ? 1 : length;
  }
  error(code, begin, pos, std::move(message), std::move(hint));
  return make(TokenKind::Error, begin);
}

std::vector<Token> lexAll(const std::shared_ptr<const SourceFile> &file, DiagnosticEngine &diags) {
  Lexer lexer(file);
  std::vector<Token> tokens;
  while (true) {
    tokens.push_back(lexer.next());
    for (LexError &e : lexer.takeErrors())
      diags.error(e.code, lexer.span(e.begin, e.end), std::move(e.message), std::move(e.hint));
    if (tokens.back().is(TokenKind::Eof))
      return tokens;
  }
}

} // namespace tdsl::frontend
