// Recursive-descent parser for .tdsl files. Each parse function carries its grammar rule.
//
// Error handling: a syntax error is reported once, then a SyntaxError unwinds to the nearest
// recovery point (the statement, or the kernel header), which skips to the next newline or ';'
// at bracket depth 0, the next '}', or the next 'kernel'. The offending statement is dropped;
// the rest of the file is still checked. Errors that do not confuse the parser (an unknown dtype,
// chained comparisons) are reported without unwinding. Lexical errors are reported as tokens are
// lexed, and an Error token makes the parser fail quietly. After kMaxErrors errors parsing stops.
//
// Robustness: newlines are skipped while inside ( ) or [ ] (and in a kernel header); recursion
// is capped (kMaxNesting) and so is the height of every expression tree (kMaxHeight), so hostile
// input cannot overflow the stack here nor in the passes that walk the tree later.
#include "frontend/Parser.h"
#include "frontend/Lexer.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace tdsl::frontend {

namespace {

using ast::Expr;
using ast::ExprPtr;

constexpr int kMaxErrors = 100;
constexpr int kMaxNesting = 256; // Parenthesis / prefix-operator nesting in one expression.
constexpr int kMaxHeight = 1000; // Height of an expression tree (long operator chains).

/// Thrown after a syntax error was reported; caught at a recovery point.
struct SyntaxError {};
/// Thrown when the error limit is reached; parsing stops.
struct TooManyErrors {};

std::string shortened(std::string_view text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax)
    return std::string(text);
  return std::string(text.substr(0, kMax - 3)) + "...";
}

std::optional<ast::ReduceKind> reduceKindOf(std::string_view name) {
  if (name == "sum")
    return ast::ReduceKind::Sum;
  if (name == "prod")
    return ast::ReduceKind::Prod;
  if (name == "max")
    return ast::ReduceKind::Max;
  if (name == "min")
    return ast::ReduceKind::Min;
  if (name == "mean")
    return ast::ReduceKind::Mean;
  if (name == "argmax")
    return ast::ReduceKind::ArgMax;
  if (name == "argmin")
    return ast::ReduceKind::ArgMin;
  return std::nullopt;
}

// Precedence levels of the spec's table (unary minus, ** and postfix bind tighter still).
constexpr int kOrLevel = 1;
constexpr int kNotLevel = 3;
constexpr int kComparisonLevel = 4;
constexpr int kAdditiveLevel = 5;

/// A binary operator token's operator and precedence level.
std::optional<std::pair<ast::BinaryOp, int>> binaryOperator(TokenKind k) {
  using ast::BinaryOp;
  switch (k) {
  case TokenKind::KwOr:
    return std::pair{BinaryOp::Or, 1};
  case TokenKind::KwAnd:
    return std::pair{BinaryOp::And, 2};
  case TokenKind::EqEq:
    return std::pair{BinaryOp::Eq, 4};
  case TokenKind::NotEq:
    return std::pair{BinaryOp::Ne, 4};
  case TokenKind::Less:
    return std::pair{BinaryOp::Lt, 4};
  case TokenKind::LessEq:
    return std::pair{BinaryOp::Le, 4};
  case TokenKind::Greater:
    return std::pair{BinaryOp::Gt, 4};
  case TokenKind::GreaterEq:
    return std::pair{BinaryOp::Ge, 4};
  case TokenKind::Plus:
    return std::pair{BinaryOp::Add, 5};
  case TokenKind::Minus:
    return std::pair{BinaryOp::Sub, 5};
  case TokenKind::Star:
    return std::pair{BinaryOp::Mul, 6};
  case TokenKind::Slash:
    return std::pair{BinaryOp::Div, 6};
  case TokenKind::SlashSlash:
    return std::pair{BinaryOp::FloorDiv, 6};
  case TokenKind::Percent:
    return std::pair{BinaryOp::Mod, 6};
  case TokenKind::At:
    return std::pair{BinaryOp::MatMul, 6};
  default:
    return std::nullopt;
  }
}

constexpr const char *kDTypeList = "dtypes are f16, bf16, f32, f64, u8, i8, i16, i32, i64 and bool";

/// A suggestion for a dtype name that does not exist.
std::string dtypeHint(std::string_view name) {
  std::string_view guess;
  if (name == "float" || name == "float32" || name == "f")
    guess = "f32";
  else if (name == "double" || name == "float64")
    guess = "f64";
  else if (name == "half" || name == "float16")
    guess = "f16";
  else if (name == "bfloat16")
    guess = "bf16";
  else if (name == "int" || name == "int32")
    guess = "i32";
  else if (name == "long" || name == "int64")
    guess = "i64";
  else if (name == "uint8" || name == "byte")
    guess = "u8";
  else if (name == "int8")
    guess = "i8";
  else if (name == "short" || name == "int16")
    guess = "i16";
  else if (name == "bool_" || name == "boolean")
    guess = "bool";
  std::string hint = kDTypeList;
  if (!guess.empty())
    hint = "did you mean '" + std::string(guess) + "'? " + hint;
  return hint;
}

class Parser {
public:
  Parser(const std::shared_ptr<const SourceFile> &file, DiagnosticEngine &diags)
      : lexer(file), diags(diags) {}

  ast::File parseFile();

private:
  // --- Tokens -------------------------------------------------------------------------------
  /// The token at index `i`, lexing (and reporting lexical errors) on demand.
  const Token &tok(size_t i) {
    if (i >= tokens.size())
      lexUpTo(i);
    return i < tokens.size() ? tokens[i] : tokens.back();
  }
  [[gnu::noinline]] void lexUpTo(size_t i) {
    while (tokens.size() <= i && (tokens.empty() || !tokens.back().is(TokenKind::Eof))) {
      tokens.push_back(lexer.next());
      for (LexError &e : lexer.takeErrors())
        error(e.code, lexer.span(e.begin, e.end), std::move(e.message), std::move(e.hint));
    }
  }
  /// The current token. Inside brackets, line breaks are not tokens.
  Token peek() {
    if (nesting > 0)
      while (tok(pos).is(TokenKind::Newline))
        ++pos;
    return tok(pos);
  }
  bool at(TokenKind k) { return peek().is(k); }
  Token consume() {
    Token t = peek();
    if (!t.is(TokenKind::Eof)) {
      lastConsumed = pos;
      consumedAny = true;
      ++pos;
    }
    return t;
  }
  bool accept(TokenKind k) {
    if (!at(k))
      return false;
    consume();
    return true;
  }
  SourceSpan span(const Token &t) const { return lexer.span(t); }
  SourceSpan span(uint32_t begin, uint32_t end) const { return lexer.span(begin, end); }
  uint32_t lastEnd() { return consumedAny ? tok(lastConsumed).end : 0; }
  std::string_view text(const Token &t) const { return lexer.text(t); }

  /// Where to point at a missing token: the current token, or just after the previous token
  /// when the current one is on a later line (or is the end of the line or file).
  SourceSpan here() {
    Token t = peek();
    bool lineBreak =
        t.is(TokenKind::Newline) || t.is(TokenKind::Eof) || (consumedAny && pos > lastConsumed + 1);
    if (!lineBreak || !consumedAny)
      return span(t);
    // Just after the last token that is not a line break (the end of file may follow several).
    size_t i = lastConsumed;
    while (i > 0 && tok(i).is(TokenKind::Newline))
      --i;
    uint32_t end = tok(i).is(TokenKind::Newline) ? tok(i).begin : tok(i).end;
    return span(end, end);
  }
  std::string describe(const Token &t) {
    switch (t.kind) {
    case TokenKind::Identifier:
    case TokenKind::IntLiteral:
    case TokenKind::FloatLiteral:
      return "'" + shortened(text(t)) + "'";
    default:
      return std::string(tokenKindName(t.kind));
    }
  }

  // --- Errors -------------------------------------------------------------------------------
  void error(ErrorCode code, const SourceSpan &where, std::string message, std::string hint = {}) {
    if (errorCount >= kMaxErrors) {
      diags.note(where, "too many errors; stopping here");
      throw TooManyErrors{};
    }
    ++errorCount;
    diags.error(code, where, std::move(message), std::move(hint));
  }
  [[noreturn]] void fail(ErrorCode code, const SourceSpan &where, std::string message,
                         std::string hint = {}) {
    error(code, where, std::move(message), std::move(hint));
    throw SyntaxError{};
  }
  // Failure paths that build messages live out of line so that the recursive functions keep
  // small stack frames (sanitizer builds give every string temporary its own padded slot).
  /// At `where`, or at the current token when not given.
  [[noreturn, gnu::noinline]] void failTooDeep(const std::optional<SourceSpan> &where, int limit) {
    fail(ErrorCode::NestingTooDeep, where ? *where : here(),
         "expression nested too deeply (more than " + std::to_string(limit) + " levels)",
         "split it into several statements");
  }
  [[noreturn, gnu::noinline]] void failPostfix(const Token &t, const Expr &e);

  /// "expected WHAT, found X" at the current token; quiet when the lexer already complained.
  [[noreturn, gnu::noinline]] void failExpected(std::string_view what, std::string hint = {}) {
    Token t = peek();
    if (t.is(TokenKind::Error))
      throw SyntaxError{};
    fail(ErrorCode::UnexpectedToken, here(),
         "expected " + std::string(what) + ", found " + describe(t), std::move(hint));
  }
  /// Consumes the closing bracket matching `open`, or reports it missing with a note at `open`.
  void expectClose(TokenKind close, const Token &open, std::string hint = {}) {
    if (accept(close))
      return;
    Token t = peek();
    if (t.is(TokenKind::Error))
      throw SyntaxError{};
    std::string closeName(tokenKindName(close)), openName(tokenKindName(open.kind));
    error(ErrorCode::UnclosedBracket, here(),
          "expected " + closeName + " to close " + openName + ", found " + describe(t),
          std::move(hint));
    diags.note(span(open), openName + " opened here");
    throw SyntaxError{};
  }

  // --- Nesting guards -----------------------------------------------------------------------
  /// Inside ( ) or [ ] line breaks are not statement ends.
  struct NewlinesIgnored {
    Parser &p;
    explicit NewlinesIgnored(Parser &p) : p(p) { ++p.nesting; }
    ~NewlinesIgnored() { --p.nesting; }
    NewlinesIgnored(const NewlinesIgnored &) = delete;
    NewlinesIgnored &operator=(const NewlinesIgnored &) = delete;
  };
  /// One level of expression recursion; fails past kMaxNesting instead of overflowing the stack.
  struct Recursion {
    Parser &p;
    explicit Recursion(Parser &p) : p(p) {
      if (++p.depth > kMaxNesting) {
        --p.depth;
        p.failTooDeep(std::nullopt, kMaxNesting);
      }
    }
    ~Recursion() { --p.depth; }
    Recursion(const Recursion &) = delete;
    Recursion &operator=(const Recursion &) = delete;
  };

  // --- Recovery -----------------------------------------------------------------------------
  void recoverStatement();
  bool recoverKernelHeader();
  void skipToKernel();

  // --- Grammar ------------------------------------------------------------------------------
  void parseKernel(ast::File &file);
  void parseBody(ast::Kernel &kernel, const std::optional<Token> &open);
  ast::Param parseParam(std::string_view role);
  ast::TypeSpec parseType();
  ast::Stmt parseStatement();
  ast::IndexDecl parseIndexDecl(TokenKind close, std::string_view context);
  ExprPtr parseExpr();
  ExprPtr parseBinary(int minLevel);
  [[gnu::noinline]] void reportChainedComparison(const Expr &lhs, const Token &op, const Expr &rhs);
  ExprPtr parseUnary();
  ExprPtr parsePower();
  ExprPtr parsePostfix(bool allowDefault);
  ExprPtr parsePrimary();
  [[gnu::noinline]] ExprPtr parseAccess(ExprPtr name);
  [[gnu::noinline]] ExprPtr parseCall(ExprPtr name);
  [[gnu::noinline]] ExprPtr parseDefault(ExprPtr access);

  // --- Node construction --------------------------------------------------------------------
  [[gnu::noinline]] ExprPtr leaf(Expr::Kind kind, const Token &t) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->span = span(t);
    heights[e.get()] = 1;
    return e;
  }
  /// Records the height of a node whose args are set; fails when the tree grows too tall.
  [[gnu::noinline]] ExprPtr finish(ExprPtr e) {
    int h = 0;
    for (const ExprPtr &a : e->args)
      h = std::max(h, heightOf(*a));
    for (const ast::IndexDecl &v : e->vars)
      if (v.extent)
        h = std::max(h, heightOf(*v.extent));
    if (h + 1 > kMaxHeight)
      failTooDeep(e->span, kMaxHeight);
    heights[e.get()] = h + 1;
    return e;
  }
  int heightOf(const Expr &e) {
    auto it = heights.find(&e);
    return it == heights.end() ? 1 : it->second;
  }
  [[gnu::noinline]] ExprPtr binary(ast::BinaryOp op, ExprPtr lhs, ExprPtr rhs) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Binary;
    e->binaryOp = op;
    e->span = lhs->span.to(rhs->span);
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return finish(std::move(e));
  }
  [[gnu::noinline]] ExprPtr unary(ast::UnaryOp op, const Token &opToken, ExprPtr operand) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Unary;
    e->unaryOp = op;
    e->span = span(opToken).to(operand->span);
    e->args.push_back(std::move(operand));
    return finish(std::move(e));
  }

  Lexer lexer;
  DiagnosticEngine &diags;
  std::vector<Token> tokens;
  size_t pos = 0;          // The current token.
  size_t lastConsumed = 0; // The last token consumed (valid when consumedAny).
  bool consumedAny = false;
  int nesting = 0; // Open ( [ (and kernel headers): line breaks are skipped while > 0.
  int depth = 0;   // Expression recursion depth.
  int errorCount = 0;
  std::unordered_map<const Expr *, int> heights;
};

// file := (NEWLINE | ';')* (kernel (NEWLINE | ';')*)* EOF
ast::File Parser::parseFile() {
  ast::File file;
  file.source = lexer.file();
  try {
    while (true) {
      Token t = peek();
      if (t.is(TokenKind::Eof))
        break;
      if (t.is(TokenKind::Newline) || t.is(TokenKind::Semicolon)) {
        consume();
        continue;
      }
      if (t.is(TokenKind::KwKernel)) {
        parseKernel(file);
        continue;
      }
      if (!t.is(TokenKind::Error)) {
        std::string hint =
            t.is(TokenKind::RBrace)
                ? "there is no kernel body open here to close"
                : "a file is a sequence of kernels: kernel NAME(x: f32[N]) -> y: f32[N] { ... }";
        error(ErrorCode::UnexpectedToken, span(t),
              "expected 'kernel' at the top level, found " + describe(t), std::move(hint));
      }
      consume();
      skipToKernel();
    }
  } catch (TooManyErrors &) {
  }
  return file;
}

void Parser::skipToKernel() {
  while (!tok(pos).is(TokenKind::Eof) && !tok(pos).is(TokenKind::KwKernel))
    ++pos;
}

/// After an error in a statement: skip to the next newline or ';' outside brackets (counted from
/// the error on), or to a '}' or 'kernel' that ends the body ('}' never occurs inside an
/// expression, so it ends the body whatever the brackets). Starts right after the last consumed
/// token so that a line break skipped inside brackets still ends the statement.
void Parser::recoverStatement() {
  size_t i = consumedAny ? lastConsumed + 1 : 0;
  int brackets = 0, braces = 0;
  for (;; ++i) {
    const Token &t = tok(i);
    switch (t.kind) {
    case TokenKind::Eof:
    case TokenKind::KwKernel:
      pos = i;
      return;
    case TokenKind::Newline:
    case TokenKind::Semicolon:
      if (brackets == 0 && braces == 0) {
        pos = i;
        return;
      }
      break;
    case TokenKind::RBrace:
      if (braces == 0) {
        pos = i;
        return;
      }
      --braces;
      break;
    case TokenKind::LBrace:
      ++braces;
      break;
    case TokenKind::LParen:
    case TokenKind::LBracket:
      ++brackets;
      break;
    case TokenKind::RParen:
    case TokenKind::RBracket:
      if (brackets > 0)
        --brackets;
      break;
    default:
      break;
    }
  }
}

/// After an error in a kernel header: skip to its '{' (returns true, '{' consumed), or give up
/// at a '}' (consumed), the next 'kernel' or the end of the file (returns false).
bool Parser::recoverKernelHeader() {
  size_t i = consumedAny ? lastConsumed + 1 : 0;
  int open = 0;
  for (;; ++i) {
    const Token &t = tok(i);
    switch (t.kind) {
    case TokenKind::Eof:
    case TokenKind::KwKernel:
      pos = i;
      return false;
    case TokenKind::LBrace:
      if (open == 0) {
        pos = i;
        consume();
        return true;
      }
      ++open;
      break;
    case TokenKind::RBrace:
      if (open == 0) {
        pos = i;
        consume();
        return false;
      }
      --open;
      break;
    case TokenKind::LParen:
    case TokenKind::LBracket:
      ++open;
      break;
    case TokenKind::RParen:
    case TokenKind::RBracket:
      if (open > 0)
        --open;
      break;
    default:
      break;
    }
  }
}

// kernel  := 'kernel' NAME '(' [param (',' param)* [',']] ')' '->' outputs '{' body '}'
// outputs := param | '(' param (',' param)* [','] ')'
void Parser::parseKernel(ast::File &file) {
  Token keyword = consume();
  ast::Kernel kernel;
  std::optional<Token> open;
  bool headerOk = true;
  const char *shapeHint = "a kernel is written kernel NAME(x: f32[N]) -> y: f32[N] { ... }";
  try {
    NewlinesIgnored ignored(*this); // A header may span lines.
    Token name = peek();
    if (!name.is(TokenKind::Identifier))
      failExpected("the kernel's name after 'kernel'", shapeHint);
    consume();
    kernel.name = std::string(text(name));
    kernel.nameSpan = span(name);

    if (!at(TokenKind::LParen))
      failExpected("'(' and the parameter list after the kernel's name", shapeHint);
    Token lparen = consume();
    while (!at(TokenKind::RParen)) {
      kernel.params.push_back(parseParam("parameter"));
      if (!accept(TokenKind::Comma))
        break;
    }
    expectClose(TokenKind::RParen, lparen, "parameters are separated by ','");

    if (!accept(TokenKind::Arrow))
      failExpected("'->' and the kernel's outputs after the parameter list", shapeHint);
    if (at(TokenKind::LParen)) {
      Token lp = consume();
      kernel.tupleOutputs = true;
      do {
        if (at(TokenKind::RParen) && !kernel.outputs.empty())
          break; // A trailing comma.
        kernel.outputs.push_back(parseParam("output"));
      } while (accept(TokenKind::Comma));
      expectClose(TokenKind::RParen, lp, "outputs are separated by ','");
    } else {
      kernel.outputs.push_back(parseParam("output"));
    }

    if (at(TokenKind::LBrace)) {
      open = consume();
    } else if (pos > lastConsumed + 1 && !at(TokenKind::Eof) && !at(TokenKind::KwKernel)) {
      // `-> y: f32[N]` then a new line without '{': report it and read the body anyway.
      error(ErrorCode::UnexpectedToken, here(),
            "expected '{' to start the body of kernel '" + kernel.name + "', found " +
                describe(peek()));
    } else {
      failExpected("'{' to start the body of kernel '" + kernel.name + "'",
                   at(TokenKind::Comma) ? "several outputs go in parentheses: -> (a: f32[N], b: "
                                          "f32[N])"
                                        : "");
    }
  } catch (SyntaxError &) {
    headerOk = false;
    nesting = 0;
    depth = 0;
    if (!recoverKernelHeader())
      return;
    open = tok(lastConsumed);
  }
  parseBody(kernel, open);
  kernel.span = span(keyword).to(span(lastEnd(), lastEnd()));
  // Only kernels whose header parsed go into the tree: a half-known signature would only make
  // later stages report confusing errors (they do not run on a file with syntax errors anyway).
  if (headerOk)
    file.kernels.push_back(std::move(kernel));
}

// body := (NEWLINE | ';' | stmt)* '}'
void Parser::parseBody(ast::Kernel &kernel, const std::optional<Token> &open) {
  while (true) {
    Token t = peek();
    if (t.is(TokenKind::Newline) || t.is(TokenKind::Semicolon)) {
      consume();
      continue;
    }
    if (t.is(TokenKind::RBrace)) {
      consume();
      return;
    }
    if (t.is(TokenKind::Eof) || t.is(TokenKind::KwKernel)) {
      error(ErrorCode::UnclosedBracket, here(),
            "expected '}' to close the body of kernel '" + kernel.name + "', found " + describe(t));
      if (open)
        diags.note(span(*open), "the body of '" + kernel.name + "' opened here");
      return;
    }
    size_t before = pos;
    heights.clear(); // Only nodes of the statement being parsed are looked up.
    try {
      kernel.body.push_back(parseStatement());
    } catch (SyntaxError &) {
      nesting = 0;
      depth = 0;
      recoverStatement();
      if (pos == before && !tok(pos).is(TokenKind::Eof)) // Cannot happen; never loop forever.
        ++pos;
    }
  }
}

// param := NAME ':' type
ast::Param Parser::parseParam(std::string_view role) {
  std::string example = role == "output" ? "y: f32[N]" : "x: f32[N]";
  Token name = peek();
  if (!name.is(TokenKind::Identifier))
    failExpected("a" + std::string(role == "output" ? "n " : " ") + std::string(role) + " name",
                 "write `" + example + "`");
  consume();
  ast::Param param;
  param.name = std::string(text(name));
  param.span = span(name);
  if (!accept(TokenKind::Colon)) {
    if (parseDType(param.name))
      fail(ErrorCode::UnexpectedToken, span(name),
           "this " + std::string(role) + " has a type but no name", "write `" + example + "`");
    failExpected("':' and a type after " + std::string(role) + " '" + shortened(param.name) + "'",
                 "write `" + example + "`");
  }
  param.type = parseType();
  return param;
}

// type := DTYPE ['[' expr (',' expr)* ']']
ast::TypeSpec Parser::parseType() {
  ast::TypeSpec type;
  Token name = peek();
  if (!name.is(TokenKind::Identifier))
    failExpected("a dtype", kDTypeList);
  consume();
  type.span = span(name);
  if (std::optional<DType> dtype = parseDType(text(name)))
    type.dtype = *dtype;
  else
    error(ErrorCode::UnknownDType, span(name), "unknown dtype '" + shortened(text(name)) + "'",
          dtypeHint(text(name)));
  if (at(TokenKind::LBracket)) {
    Token lbracket = consume();
    NewlinesIgnored ignored(*this);
    if (at(TokenKind::RBracket))
      fail(ErrorCode::UnexpectedToken, here(), "expected a dimension",
           "a scalar is written as the dtype alone (f32), without brackets");
    do
      type.dims.push_back(parseExpr());
    while (accept(TokenKind::Comma));
    expectClose(TokenKind::RBracket, lbracket, "dimensions are separated by ','");
    type.span = type.span.to(span(lastEnd(), lastEnd()));
  }
  return type;
}

// stmt := NAME '[' idx (',' idx)* ']' '=' expr
//       | NAME '=' expr
//       | '(' NAME (',' NAME)* [','] ')' '=' expr
ast::Stmt Parser::parseStatement() {
  ast::Stmt stmt;
  Token first = peek();
  if (first.is(TokenKind::Identifier)) {
    consume();
    stmt.targets.push_back({std::string(text(first)), span(first)});
    if (at(TokenKind::LBracket)) {
      Token lbracket = consume();
      NewlinesIgnored ignored(*this);
      stmt.indexed = true;
      if (at(TokenKind::RBracket))
        fail(ErrorCode::UnexpectedToken, here(), "expected an index variable",
             "a scalar is defined by its name alone: `s = ...`");
      do
        stmt.indices.push_back(parseIndexDecl(TokenKind::RBracket, "the statement's target"));
      while (accept(TokenKind::Comma));
      expectClose(TokenKind::RBracket, lbracket);
    }
  } else if (first.is(TokenKind::LParen)) {
    Token lparen = consume();
    NewlinesIgnored ignored(*this);
    stmt.tuple = true;
    do {
      if (at(TokenKind::RParen) && !stmt.targets.empty())
        break; // A trailing comma.
      Token name = peek();
      if (!name.is(TokenKind::Identifier))
        failExpected("a name in the list of targets", "write `(a, b) = kernel(x)`");
      consume();
      stmt.targets.push_back({std::string(text(name)), span(name)});
    } while (accept(TokenKind::Comma));
    expectClose(TokenKind::RParen, lparen, "targets are separated by ','");
  } else {
    std::string hint = "a statement is `NAME = EXPR`, `NAME[i, j] = EXPR` or `(A, B) = KERNEL(X)`";
    if (first.is(TokenKind::KwFor))
      hint = "tdsl has no loops: the index variables of `y[i, j] = ...` range over y's whole "
             "shape";
    failExpected("a statement", std::move(hint));
  }

  if (!at(TokenKind::Assign)) {
    Token t = peek();
    std::string hint = "a statement is `NAME = EXPR`, `NAME[i, j] = EXPR` or `(A, B) = KERNEL(X)`";
    if (t.is(TokenKind::EqEq))
      hint = "'==' compares; a definition uses '='";
    else if (t.is(TokenKind::Colon))
      hint = "a statement has no type annotation: its dtype is its expression's (cast with "
             "f32(...) to change it)";
    else if (t.is(TokenKind::LParen) && !stmt.tuple)
      hint = "a statement must define a name: `y = f(x)`";
    else if (t.is(TokenKind::Plus) || t.is(TokenKind::Minus) || t.is(TokenKind::Star) ||
             t.is(TokenKind::Slash)) {
      if (tok(pos + 1).is(TokenKind::Assign))
        hint = "there is no compound assignment: every name is defined once, so define a new "
               "name";
    }
    failExpected("'=' after the statement's target", std::move(hint));
  }
  consume();
  stmt.value = parseExpr();
  if (stmt.tuple && stmt.value->kind != Expr::Kind::Call)
    error(ErrorCode::InvalidTargets, stmt.value->span,
          "a list of targets must be assigned a kernel call", "write `(a, b) = kernel(x)`");

  Token t = peek();
  switch (t.kind) {
  case TokenKind::Newline:
  case TokenKind::Semicolon:
  case TokenKind::RBrace:
  case TokenKind::Eof:
  case TokenKind::KwKernel:
    break;
  case TokenKind::Error:
    throw SyntaxError{};
  case TokenKind::RParen:
  case TokenKind::RBracket:
    fail(ErrorCode::UnmatchedClosingBracket, span(t), "unmatched " + describe(t),
         "remove it, or add the opening bracket it closes");
  default: {
    std::string hint = "statements are separated by line breaks or ';'";
    if (t.is(TokenKind::Identifier) && text(t) == "if")
      hint = "for a conditional value use where(cond, a, b)";
    else if (t.is(TokenKind::Identifier) || t.is(TokenKind::IntLiteral) ||
             t.is(TokenKind::FloatLiteral) || t.is(TokenKind::LParen))
      hint = "is an operator missing? " + hint;
    fail(ErrorCode::TrailingTokens, span(t),
         "unexpected " + describe(t) + " after the end of the statement", std::move(hint));
  }
  }
  stmt.span = span(first).to(stmt.value->span);
  return stmt;
}

// idx := NAME ['<' additive]       (and in a reduction: NAME '<=' additive)
ast::IndexDecl Parser::parseIndexDecl(TokenKind close, std::string_view context) {
  const bool onTarget = close == TokenKind::RBracket;
  std::string hint = onTarget ? "the target's subscripts are fresh index variables, as in "
                                "y[i, j] = ...; shift the right side instead (y[i] = x[i + 1])"
                              : "the variables after 'for' are fresh names, as in "
                                "sum(x[i, k] for k), sum(x[i, k] for k < 3) or "
                                "sum(x[i, k] for k <= j)";
  Token name = peek();
  if (!name.is(TokenKind::Identifier))
    failExpected(onTarget ? "an index variable" : "a reduction variable", hint);
  consume();
  ast::IndexDecl decl;
  decl.name = std::string(text(name));
  decl.span = span(name);
  if (accept(TokenKind::Less)) {
    decl.extent = parseBinary(kAdditiveLevel);
    return decl;
  }
  if (!onTarget && accept(TokenKind::LessEq)) {
    decl.inclusive = true;
    decl.extent = parseBinary(kAdditiveLevel);
    return decl;
  }
  Token t = peek();
  if (t.is(TokenKind::Comma) || t.is(close))
    return decl;
  if (t.is(TokenKind::LessEq))
    hint = "an extent is exclusive: write `" + shortened(decl.name) + " < N`";
  else if (t.is(TokenKind::Identifier) && text(t) == "in")
    hint = "an explicit extent is written `for " + shortened(decl.name) + " < N`";
  failExpected(std::string(onTarget ? "',', '<' or " : "',', '<', '<=' or ") +
                   std::string(tokenKindName(close)) + " after " +
                   (onTarget ? "index variable '" : "reduction variable '") + shortened(decl.name) +
                   "' in " + std::string(context),
               std::move(hint));
}

// expr := binary(1)
ExprPtr Parser::parseExpr() {
  Recursion r(*this);
  return parseBinary(kOrLevel);
}

// The binary levels by precedence climbing (one function rather than one per level keeps the
// stack shallow for nested parentheses):
//   binary(L) := ['not' binary(3) if L <= 3 | unary] (OP binary(level(OP) + 1))*  with level >= L
//   levels: 1 or, 2 and, 3 not (prefix), 4 == != < <= > >= (non-associative), 5 + -,
//           6 * / // % @
ExprPtr Parser::parseBinary(int minLevel) {
  ExprPtr lhs;
  if (minLevel <= kNotLevel && at(TokenKind::KwNot)) {
    Token op = consume();
    Recursion r(*this);
    lhs = unary(ast::UnaryOp::Not, op, parseBinary(kNotLevel));
  } else {
    lhs = parseUnary();
  }
  bool afterComparison = false;
  while (true) {
    Token opToken = peek();
    std::optional<std::pair<ast::BinaryOp, int>> op = binaryOperator(opToken.kind);
    if (!op || op->second < minLevel)
      return lhs;
    consume();
    ExprPtr rhs = parseBinary(op->second + 1);
    if (op->second == kComparisonLevel && afterComparison)
      reportChainedComparison(*lhs, opToken, *rhs); // Not fatal: keep parsing the statement.
    afterComparison = op->second == kComparisonLevel;
    lhs = binary(op->first, std::move(lhs), std::move(rhs));
  }
}

/// `a < b < c`: comparisons do not chain. The hint spells out the `and` form when it is short.
void Parser::reportChainedComparison(const Expr &lhs, const Token &op, const Expr &rhs) {
  std::string hint = "combine two comparisons with 'and'";
  std::string_view source = lexer.file()->text;
  auto textOf = [&](const Expr &e) {
    return std::string(source.substr(e.span.begin, e.span.end - e.span.begin));
  };
  if (lhs.kind == Expr::Kind::Binary && lhs.args.size() == 2) {
    std::string a = textOf(*lhs.args[0]), b = textOf(*lhs.args[1]), c = textOf(rhs);
    if (a.size() + b.size() + c.size() < 60)
      hint += ": `" + a + " " + std::string(ast::binaryOpSpelling(lhs.binaryOp)) + " " + b +
              " and " + b + " " + std::string(text(op)) + " " + c + "`";
  }
  error(ErrorCode::ChainedComparison, span(op), "comparison operators cannot be chained",
        std::move(hint));
}

// unary := '-' unary | power
ExprPtr Parser::parseUnary() {
  if (at(TokenKind::Plus)) {
    Token plus = consume();
    error(ErrorCode::InvalidOperatorUse, span(plus), "unary '+' is not supported", "remove it");
    Recursion r(*this);
    return parseUnary();
  }
  if (!at(TokenKind::Minus))
    return parsePower();
  Token op = consume();
  Recursion r(*this);
  return unary(ast::UnaryOp::Neg, op, parseUnary());
}

// power := postfix ['**' unary]        (right-associative; `2 ** -1` parses, `-x ** 2` is -(x**2))
ExprPtr Parser::parsePower() {
  ExprPtr base = parsePostfix(/*allowDefault=*/true);
  if (!accept(TokenKind::StarStar))
    return base;
  Recursion r(*this);
  return binary(ast::BinaryOp::Pow, std::move(base), parseUnary());
}

// postfix := primary ('[' args ']' | '(' args ')' | '??' default)*
// Only a bare name may be subscripted or called; `??` needs an access on its left.
ExprPtr Parser::parsePostfix(bool allowDefault) {
  const bool startsWithName = at(TokenKind::Identifier);
  ExprPtr e = parsePrimary();
  bool bareName = startsWithName && e->kind == Expr::Kind::Name;
  while (true) {
    Token t = peek();
    if (t.is(TokenKind::LBracket)) {
      if (!bareName)
        failPostfix(t, *e);
      e = parseAccess(std::move(e));
    } else if (t.is(TokenKind::LParen)) {
      if (!bareName)
        failPostfix(t, *e);
      e = parseCall(std::move(e));
    } else if (t.is(TokenKind::QuestionQuestion) && allowDefault) {
      e = parseDefault(std::move(e));
    } else {
      return e;
    }
    bareName = false;
  }
}

/// A subscript or call applied to something other than a bare name.
void Parser::failPostfix(const Token &t, const Expr &e) {
  if (t.is(TokenKind::LParen))
    fail(ErrorCode::InvalidPostfix, span(t), "only a function or kernel name can be called",
         "is an operator missing before '('?");
  if (e.kind == Expr::Kind::Access)
    fail(ErrorCode::InvalidPostfix, span(t),
         "a tensor access takes all its subscripts in one pair of brackets",
         "write x[i, j], not x[i][j]");
  fail(ErrorCode::InvalidPostfix, span(t), "only a tensor name can be subscripted",
       "define the expression as a tensor first (t = ...), then subscript t");
}

// primary := INT | FLOAT | 'true' | 'false' | 'inf' | NAME | '(' expr ')'
ExprPtr Parser::parsePrimary() {
  Token t = peek();
  switch (t.kind) {
  case TokenKind::IntLiteral: {
    consume();
    ExprPtr e = leaf(Expr::Kind::IntLit, t);
    e->intValue = t.intValue;
    return e;
  }
  case TokenKind::FloatLiteral: {
    consume();
    ExprPtr e = leaf(Expr::Kind::FloatLit, t);
    e->floatValue = t.floatValue;
    return e;
  }
  case TokenKind::KwTrue:
  case TokenKind::KwFalse: {
    consume();
    ExprPtr e = leaf(Expr::Kind::BoolLit, t);
    e->boolValue = t.is(TokenKind::KwTrue);
    return e;
  }
  case TokenKind::KwInf:
    consume();
    return leaf(Expr::Kind::Inf, t);
  case TokenKind::Identifier: {
    consume();
    ExprPtr e = leaf(Expr::Kind::Name, t);
    e->name = std::string(text(t));
    e->nameSpan = e->span;
    return e;
  }
  case TokenKind::LParen: {
    Token lparen = consume();
    NewlinesIgnored ignored(*this);
    if (at(TokenKind::RParen))
      fail(ErrorCode::UnexpectedToken, here(), "expected an expression inside '( )'");
    ExprPtr e = parseExpr();
    if (at(TokenKind::Comma))
      fail(ErrorCode::UnexpectedToken, span(peek()), "unexpected ',' in parentheses",
           "tuples exist only as the targets of a kernel call: (a, b) = kernel(x)");
    expectClose(TokenKind::RParen, lparen);
    e->span = span(lparen).to(span(lastEnd(), lastEnd())); // The parentheses belong to it.
    return e;
  }
  case TokenKind::KwNot:
    fail(ErrorCode::InvalidOperatorUse, span(t),
         "'not' binds more loosely than arithmetic and comparisons", "parenthesize it: (not x)");
  case TokenKind::Newline:
    failExpected("an expression",
                 "a line break ends the statement unless it is inside ( ) or [ ]: wrap a long "
                 "expression in parentheses");
  default:
    failExpected("an expression");
  }
}

// access := NAME '[' expr (',' expr)* ']'
ExprPtr Parser::parseAccess(ExprPtr name) {
  Token lbracket = consume();
  auto e = std::make_unique<Expr>();
  e->kind = Expr::Kind::Access;
  e->name = std::move(name->name);
  e->nameSpan = name->span;
  {
    NewlinesIgnored ignored(*this);
    if (at(TokenKind::RBracket))
      fail(ErrorCode::UnexpectedToken, here(), "expected a subscript",
           "a scalar (0-d tensor) is read by its name alone, without brackets");
    do
      e->args.push_back(parseExpr());
    while (accept(TokenKind::Comma));
    expectClose(TokenKind::RBracket, lbracket, "subscripts are separated by ','");
  }
  e->span = e->nameSpan.to(span(lastEnd(), lastEnd()));
  return finish(std::move(e));
}

// call   := NAME '(' [expr (',' expr)* [',']] ')'
// reduce := ('sum' | 'prod' | 'max' | 'min' | 'mean') '(' expr 'for' idx (',' idx)* ')'
//         | ('argmax' | 'argmin') '(' expr 'for' idx ')'
ExprPtr Parser::parseCall(ExprPtr name) {
  Token lparen = consume();
  auto e = std::make_unique<Expr>();
  e->kind = Expr::Kind::Call;
  e->name = std::move(name->name);
  e->nameSpan = name->span;
  {
    NewlinesIgnored ignored(*this);
    if (!at(TokenKind::RParen)) {
      e->args.push_back(parseExpr());
      if (at(TokenKind::KwFor)) {
        Token forToken = peek();
        std::optional<ast::ReduceKind> kind = reduceKindOf(e->name);
        if (!kind)
          fail(ErrorCode::InvalidReduction, span(forToken),
               "'" + shortened(e->name) + "' is not a reduction",
               "the reductions are sum, prod, max, min, mean, argmax and argmin");
        consume();
        e->kind = Expr::Kind::Reduce;
        e->reduceKind = *kind;
        do
          e->vars.push_back(parseIndexDecl(TokenKind::RParen, "the reduction"));
        while (accept(TokenKind::Comma));
        if (e->vars.size() > 1 &&
            (*kind == ast::ReduceKind::ArgMax || *kind == ast::ReduceKind::ArgMin))
          error(ErrorCode::ArgReductionAxes, e->vars[1].span.to(e->vars.back().span),
                "'" + e->name + "' takes one reduction variable, not " +
                    std::to_string(e->vars.size()),
                "a position is along one variable, as in " + e->name + "(x[i, k] for k)");
      } else {
        while (accept(TokenKind::Comma)) {
          if (at(TokenKind::RParen))
            break; // A trailing comma.
          e->args.push_back(parseExpr());
          if (at(TokenKind::KwFor))
            fail(ErrorCode::InvalidReduction, span(peek()), "'for' after several arguments",
                 "a reduction takes one expression before 'for': sum(a[i] * b[i] for i)");
        }
      }
    }
    expectClose(TokenKind::RParen, lparen,
                e->kind == Expr::Kind::Reduce ? "" : "arguments are separated by ','");
  }
  e->span = e->nameSpan.to(span(lastEnd(), lastEnd()));
  return finish(std::move(e));
}

// default := '-' (INT | FLOAT | 'inf') | postfix-without-'??'
ExprPtr Parser::parseDefault(ExprPtr access) {
  Token op = consume();
  if (access->kind != Expr::Kind::Access) {
    std::string hint = access->kind == Expr::Kind::Default
                           ? "for a chain of fallbacks, parenthesize: a[i] ?? (b[i] ?? 0.0)"
                           : "a default applies to a tensor access, as in x[i - 1] ?? 0.0";
    error(ErrorCode::InvalidOperatorUse, access->span,
          "the left side of '?\?' must be a tensor access", std::move(hint));
  }
  ExprPtr fallback;
  if (at(TokenKind::Minus)) {
    Token minus = consume();
    Token t = peek();
    if (t.is(TokenKind::Error))
      throw SyntaxError{};
    if (!t.is(TokenKind::IntLiteral) && !t.is(TokenKind::FloatLiteral) && !t.is(TokenKind::KwInf))
      fail(ErrorCode::UnexpectedToken, here(),
           "the default after '?\?' must be a literal, a name or a parenthesized expression",
           "parenthesize it: x[i] ?? (-y)");
    fallback = unary(ast::UnaryOp::Neg, minus, parsePrimary());
  } else {
    Recursion r(*this);
    fallback = parsePostfix(/*allowDefault=*/false);
  }
  auto e = std::make_unique<Expr>();
  e->kind = Expr::Kind::Default;
  e->span = access->span.to(fallback->span);
  (void)op;
  e->args.push_back(std::move(access));
  e->args.push_back(std::move(fallback));
  return finish(std::move(e));
}

} // namespace

ast::File parseFile(const std::shared_ptr<const SourceFile> &file, DiagnosticEngine &diags) {
  return Parser(file, diags).parseFile();
}

} // namespace tdsl::frontend
