// Lexer tests: every token, literal forms and values, spans, newline handling, and the errors
// (with hints) for bytes and literals that form no valid token.
#include "frontend/Lexer.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace tdsl;
using namespace tdsl::frontend;

namespace {

struct Lexed {
  std::shared_ptr<SourceFile> file;
  std::vector<Token> tokens;
  DiagnosticEngine diags;

  std::vector<TokenKind> kinds() const {
    std::vector<TokenKind> out;
    for (const Token &t : tokens)
      out.push_back(t.kind);
    return out;
  }
  std::string text(size_t i) const {
    return file->text.substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
  }
  /// "line:col: message" for every error.
  std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const Diagnostic &d : diags.diagnostics()) {
      std::string where = d.span.str();
      out.push_back(where.substr(where.find(':') + 1) + ": " + d.message);
    }
    return out;
  }
};

Lexed lex(std::string text) {
  Lexed l;
  l.file = std::make_shared<SourceFile>(SourceFile{"t.tdsl", std::move(text)});
  l.tokens = lexAll(l.file, l.diags);
  return l;
}

using K = TokenKind;

TEST(Lexer, EmptyInputIsJustEof) {
  Lexed l = lex("");
  EXPECT_EQ(l.kinds(), std::vector<K>{K::Eof});
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, EveryPunctuationToken) {
  Lexed l = lex("( ) [ ] { } , : ; -> = == != < <= > >= + - * / // % @ ** ??");
  EXPECT_EQ(l.kinds(), (std::vector<K>{K::LParen,    K::RParen,
                                       K::LBracket,  K::RBracket,
                                       K::LBrace,    K::RBrace,
                                       K::Comma,     K::Colon,
                                       K::Semicolon, K::Arrow,
                                       K::Assign,    K::EqEq,
                                       K::NotEq,     K::Less,
                                       K::LessEq,    K::Greater,
                                       K::GreaterEq, K::Plus,
                                       K::Minus,     K::Star,
                                       K::Slash,     K::SlashSlash,
                                       K::Percent,   K::At,
                                       K::StarStar,  K::QuestionQuestion,
                                       K::Eof}));
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, LongestMatchWithoutSpaces) {
  Lexed l = lex("a**-b//c->d<=e==f!=g>=h??i***j");
  EXPECT_EQ(l.kinds(), (std::vector<K>{K::Identifier,
                                       K::StarStar,
                                       K::Minus,
                                       K::Identifier,
                                       K::SlashSlash,
                                       K::Identifier,
                                       K::Arrow,
                                       K::Identifier,
                                       K::LessEq,
                                       K::Identifier,
                                       K::EqEq,
                                       K::Identifier,
                                       K::NotEq,
                                       K::Identifier,
                                       K::GreaterEq,
                                       K::Identifier,
                                       K::QuestionQuestion,
                                       K::Identifier,
                                       K::StarStar,
                                       K::Star,
                                       K::Identifier,
                                       K::Eof}));
}

TEST(Lexer, KeywordsAndIdentifiers) {
  Lexed l = lex("kernel for and or not true false inf kernels _x x1 f32 sum Inf");
  EXPECT_EQ(l.kinds(),
            (std::vector<K>{K::KwKernel, K::KwFor, K::KwAnd, K::KwOr, K::KwNot, K::KwTrue,
                            K::KwFalse, K::KwInf, K::Identifier, K::Identifier, K::Identifier,
                            K::Identifier, K::Identifier, K::Identifier, K::Eof}));
  EXPECT_EQ(l.text(8), "kernels");
  EXPECT_EQ(l.text(13), "Inf");
}

TEST(Lexer, IntegerLiterals) {
  Lexed l = lex("0 42 007 9223372036854775807");
  ASSERT_EQ(l.tokens.size(), 5u);
  EXPECT_EQ(l.tokens[0].intValue, 0);
  EXPECT_EQ(l.tokens[1].intValue, 42);
  EXPECT_EQ(l.tokens[2].intValue, 7);
  EXPECT_EQ(l.tokens[3].intValue, INT64_MAX);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(l.tokens[i].kind, K::IntLiteral);
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, FloatLiterals) {
  Lexed l = lex("1.0 .5 3. 1e-5 2.5E3 1E+2 0.0 1.e2 00.25");
  std::vector<double> expected{1.0, 0.5, 3.0, 1e-5, 2500.0, 100.0, 0.0, 100.0, 0.25};
  ASSERT_EQ(l.tokens.size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(l.tokens[i].kind, K::FloatLiteral) << l.text(i);
    EXPECT_EQ(l.tokens[i].floatValue, expected[i]) << l.text(i);
  }
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, IntegerFollowedByDotIsAFloat) {
  Lexed l = lex("x[3.]");
  EXPECT_EQ(l.kinds(),
            (std::vector<K>{K::Identifier, K::LBracket, K::FloatLiteral, K::RBracket, K::Eof}));
}

TEST(Lexer, IntegerOverflowIsAnErrorAtTheLiteral) {
  Lexed l = lex("a + 9223372036854775808");
  ASSERT_EQ(l.errors().size(), 1u);
  EXPECT_EQ(l.errors()[0], "1:5: integer literal '9223372036854775808' is too large");
  EXPECT_NE(l.diags.diagnostics()[0].hint.find("64-bit"), std::string::npos);
  EXPECT_EQ(l.tokens[2].kind, K::IntLiteral); // Still a literal: the parser goes on.
}

TEST(Lexer, FourHundredDigitInteger) {
  Lexed l = lex(std::string(400, '7'));
  ASSERT_EQ(l.errors().size(), 1u);
  EXPECT_NE(l.errors()[0].find("is too large"), std::string::npos);
  EXPECT_NE(l.errors()[0].find("..."), std::string::npos); // The message shortens the literal.
  EXPECT_LT(l.diags.diagnostics()[0].message.size(), 100u);
}

TEST(Lexer, FloatOverflowIsAnErrorUnderflowIsZero) {
  Lexed l = lex("1e999 1e-999 0.000000001e-400 " + std::string(400, '9') + ".5");
  ASSERT_EQ(l.errors().size(), 2u);
  EXPECT_EQ(l.errors()[0], "1:1: float literal '1e999' is too large for f64");
  EXPECT_NE(l.errors()[1].find("1:31: float literal '999"), std::string::npos);
  EXPECT_EQ(l.tokens[1].floatValue, 0.0);
  EXPECT_EQ(l.tokens[2].floatValue, 0.0);
}

TEST(Lexer, HugeFloatLiteralIsFine) {
  Lexed l = lex("0." + std::string(1'000'000, '3'));
  EXPECT_FALSE(l.diags.hasErrors());
  EXPECT_NEAR(l.tokens[0].floatValue, 1.0 / 3.0, 1e-15);
}

TEST(Lexer, InvalidNumberSuffixes) {
  Lexed l = lex("12abc 0x1F 1e 2.5e+ 1.0f");
  std::vector<std::string> errors = l.errors();
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0], "1:1: invalid suffix 'abc' on number '12'");
  EXPECT_EQ(errors[1], "1:7: invalid suffix 'x1F' on number '0'");
  EXPECT_EQ(errors[2], "1:12: invalid suffix 'e' on number '1'");
  EXPECT_EQ(errors[3], "1:15: invalid suffix 'e' on number '2.5'");
  EXPECT_EQ(errors[4], "1:21: invalid suffix 'f' on number '1.0'");
  EXPECT_NE(l.diags.diagnostics()[1].hint.find("decimal"), std::string::npos);
  EXPECT_NE(l.diags.diagnostics()[2].hint.find("exponent"), std::string::npos);
  EXPECT_EQ(l.tokens[0].kind, K::Error);
  EXPECT_EQ(l.text(0), "12abc"); // One token for the whole word.
}

TEST(Lexer, Spans) {
  Lexed l = lex("  foo12 **\n  3.5");
  ASSERT_EQ(l.tokens.size(), 5u);
  EXPECT_EQ(l.tokens[0].begin, 2u);
  EXPECT_EQ(l.tokens[0].end, 7u);
  EXPECT_EQ(l.tokens[1].begin, 8u);
  EXPECT_EQ(l.tokens[1].end, 10u);
  EXPECT_EQ(l.tokens[2].kind, K::Newline);
  EXPECT_EQ(l.tokens[2].begin, 10u);
  EXPECT_EQ(l.tokens[3].begin, 13u);
  EXPECT_EQ(l.tokens[3].end, 16u);
  EXPECT_EQ(l.tokens[4].begin, 16u); // Eof at the end of the text.
}

TEST(Lexer, NewlinesCommentsAndBlankLinesCoalesce) {
  Lexed l = lex("a # comment ( [\n\n   # another\n\t\n b;c\n");
  EXPECT_EQ(l.kinds(), (std::vector<K>{K::Identifier, K::Newline, K::Identifier, K::Semicolon,
                                       K::Identifier, K::Newline, K::Eof}));
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, CrLfLineEndings) {
  Lexed l = lex("a = b\r\nc = d\r\n");
  EXPECT_EQ(l.kinds(),
            (std::vector<K>{K::Identifier, K::Assign, K::Identifier, K::Newline, K::Identifier,
                            K::Assign, K::Identifier, K::Newline, K::Eof}));
  EXPECT_FALSE(l.diags.hasErrors());
}

TEST(Lexer, CommentsMayHoldUtf8) {
  Lexed l = lex("x # softmax — naïve, ∑ over k\ny");
  EXPECT_FALSE(l.diags.hasErrors());
  EXPECT_EQ(l.kinds(), (std::vector<K>{K::Identifier, K::Newline, K::Identifier, K::Eof}));
}

TEST(Lexer, InvalidUtf8OrNulInCommentIsAnError) {
  Lexed l = lex(std::string("x # bad \xff\xfe here\ny # nul \0 too\n", 30));
  std::vector<std::string> errors = l.errors();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "1:9: invalid UTF-8 byte 0xFF in a comment");
  EXPECT_EQ(errors[1], "2:9: unexpected NUL byte in a comment");
  // The comments still end at their line breaks.
  EXPECT_EQ(l.kinds(),
            (std::vector<K>{K::Identifier, K::Newline, K::Identifier, K::Newline, K::Eof}));
}

TEST(Lexer, NulByteIsALocatedError) {
  Lexed l = lex(std::string("a = b\0\0\0 + c", 12));
  ASSERT_EQ(l.errors().size(), 1u); // One error for the run of NULs.
  EXPECT_EQ(l.errors()[0], "1:6: unexpected NUL byte");
  EXPECT_NE(l.diags.diagnostics()[0].hint.find("UTF-16"), std::string::npos);
  EXPECT_EQ(l.kinds(), (std::vector<K>{K::Identifier, K::Assign, K::Identifier, K::Error, K::Plus,
                                       K::Identifier, K::Eof}));
}

TEST(Lexer, InvalidUtf8IsALocatedError) {
  // A lone continuation byte, an overlong encoding, a surrogate, a truncated sequence at the end.
  for (std::string bad : {"\x80", "\xc0\x80", "\xed\xa0\x80", "\xf8", "\xe2\x82"}) {
    Lexed l = lex("ab " + bad);
    ASSERT_EQ(l.errors().size(), 1u) << bad;
    EXPECT_NE(l.errors()[0].find("1:4: invalid UTF-8 byte 0x"), std::string::npos) << bad;
  }
}

TEST(Lexer, NonAsciiOutsideCommentsIsAnError) {
  Lexed l = lex("café = 1\ny = a − b\nz = αβγ");
  std::vector<std::string> errors = l.errors();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "1:4: unexpected character U+00E9 'é'");
  EXPECT_EQ(errors[1], "2:7: unexpected character U+2212 '−'");
  EXPECT_EQ(errors[2], "3:5: unexpected character U+03B1 'α'"); // One error for the run.
  EXPECT_NE(l.diags.diagnostics()[1].hint.find("'-'"), std::string::npos);
  EXPECT_NE(l.diags.diagnostics()[2].hint.find("ASCII"), std::string::npos);
}

TEST(Lexer, ControlCharacterIsAnError) {
  Lexed l = lex("a \x01 b");
  ASSERT_EQ(l.errors().size(), 1u);
  EXPECT_EQ(l.errors()[0], "1:3: unexpected control character 0x01");
}

TEST(Lexer, StrayPunctuationHasHints) {
  struct Case {
    const char *text, *message, *hint;
  };
  for (Case c :
       {Case{"!a", "unexpected '!'", "'not'"}, Case{"a && b", "unexpected '&&'", "'and'"},
        Case{"a || b", "unexpected '||'", "'or'"}, Case{"a ^ 2", "unexpected '^'", "'**'"},
        Case{"a ? b", "unexpected '?'", "'?\?'"}, Case{"\"s", "unexpected '\"'", "strings"},
        Case{"a \\", "unexpected '\\'", "parentheses"}, Case{"x.T", "unexpected '.'", ""},
        Case{"$", "unexpected character '$'", ""}, Case{"~a", "unexpected '~'", "'not'"}}) {
    Lexed l = lex(c.text);
    ASSERT_EQ(l.diags.diagnostics().size(), 1u) << c.text;
    EXPECT_EQ(l.diags.diagnostics()[0].message, c.message) << c.text;
    EXPECT_NE(l.diags.diagnostics()[0].hint.find(c.hint), std::string::npos) << c.text;
  }
}

TEST(Lexer, ByteOrderMarks) {
  Lexed utf8 = lex("\xef\xbb\xbfkernel");
  EXPECT_FALSE(utf8.diags.hasErrors());
  EXPECT_EQ(utf8.kinds(), (std::vector<K>{K::KwKernel, K::Eof}));
  Lexed utf16 = lex(std::string("\xff\xfek\0e\0r\0", 8));
  ASSERT_EQ(utf16.errors().size(), 1u); // One error, not one per NUL byte.
  EXPECT_EQ(utf16.errors()[0], "1:1: the file is UTF-16 encoded");
}

TEST(Lexer, MegabyteIdentifier) {
  std::string name(1 << 20, 'a');
  Lexed l = lex(name + " = 1");
  EXPECT_FALSE(l.diags.hasErrors());
  ASSERT_EQ(l.tokens.size(), 4u);
  EXPECT_EQ(l.tokens[0].end, 1u << 20);
}

TEST(Lexer, RandomBytesNeverCrash) {
  uint32_t seed = 12345;
  for (int round = 0; round < 200; ++round) {
    std::string text;
    for (int i = 0; i < 200; ++i) {
      seed = seed * 1664525u + 1013904223u;
      text += static_cast<char>(seed >> 24);
    }
    Lexed l = lex(text);
    ASSERT_EQ(l.tokens.back().kind, K::Eof);
    for (const Token &t : l.tokens)
      ASSERT_LE(t.end, text.size());
  }
}

TEST(Lexer, LexerStaysAtEof) {
  auto file = std::make_shared<SourceFile>(SourceFile{"t", "a"});
  Lexer lexer(file);
  EXPECT_EQ(lexer.next().kind, K::Identifier);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(lexer.next().kind, K::Eof);
}

TEST(Lexer, TokenKindNames) {
  EXPECT_EQ(tokenKindName(K::StarStar), "'**'");
  EXPECT_EQ(tokenKindName(K::QuestionQuestion), "'?\?'");
  EXPECT_EQ(tokenKindName(K::Newline), "end of line");
  EXPECT_EQ(tokenKindName(K::Eof), "end of file");
}

} // namespace
