// The tdsl lexer: UTF-8 source text -> tokens with byte spans. It never fails: a byte that
// cannot start a token becomes an Error token, and every problem is queued as a LexError for
// the caller to report, so the parser decides how to recover.
#pragma once

#include "tdsl/Diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tdsl::frontend {

enum class TokenKind : uint8_t {
  Eof,
  Newline, // One token for a run of line breaks, blank lines and comment-only lines.
  Error,   // Bytes that form no token; the LexError explaining them was queued.
  Identifier,
  IntLiteral,
  FloatLiteral,
  // Keywords.
  KwKernel,
  KwFor,
  KwAnd,
  KwOr,
  KwNot,
  KwTrue,
  KwFalse,
  KwInf,
  // Punctuation.
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Semicolon,
  Arrow,
  Assign,
  EqEq,
  NotEq,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  Plus,
  Minus,
  Star,
  Slash,
  SlashSlash,
  Percent,
  At,
  StarStar,
  QuestionQuestion,
};

/// How a token kind is named in messages: "'('", "identifier", "end of file", ...
std::string_view tokenKindName(TokenKind kind);

struct Token {
  TokenKind kind = TokenKind::Eof;
  uint32_t begin = 0; // Byte offsets [begin, end) in the source.
  uint32_t end = 0;
  int64_t intValue = 0;    // IntLiteral (0 when the literal overflowed; the error was queued).
  double floatValue = 0.0; // FloatLiteral.

  bool is(TokenKind k) const { return kind == k; }
};

/// A lexical error: where, what is wrong, and how to fix it.
struct LexError {
  ErrorCode code = ErrorCode::None;
  uint32_t begin = 0;
  uint32_t end = 0;
  std::string message;
  std::string hint;
};

class Lexer {
public:
  explicit Lexer(std::shared_ptr<const SourceFile> file);

  /// The next token; Eof forever once the text is exhausted.
  Token next();
  /// The errors queued since the last call (in source order).
  std::vector<LexError> takeErrors();

  std::string_view text(const Token &token) const;
  SourceSpan span(const Token &token) const;
  SourceSpan span(uint32_t begin, uint32_t end) const;
  const std::shared_ptr<const SourceFile> &file() const { return source; }

private:
  Token make(TokenKind kind, uint32_t begin) const;
  void skipComment();
  Token lexNumber();
  Token lexIdentifier();
  Token lexPunctuation();
  Token lexBadBytes();
  void error(ErrorCode code, uint32_t begin, uint32_t end, std::string message,
             std::string hint = {});

  std::shared_ptr<const SourceFile> source;
  std::string_view src;
  uint32_t pos = 0;
  std::vector<LexError> errors;
};

/// Lexes the whole file (up to and including Eof), reporting every error to `diags`.
std::vector<Token> lexAll(const std::shared_ptr<const SourceFile> &file, DiagnosticEngine &diags);

} // namespace tdsl::frontend
