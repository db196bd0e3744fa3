// Rendering of diagnostics: location, the source line, caret and tildes under the span (aligned
// across tabs, UTF-8 and control bytes), spans at line and file ends, and several diagnostics.
#include "tdsl/Diagnostics.h"

#include <gtest/gtest.h>

namespace tdsl {
namespace {

std::shared_ptr<const SourceFile> source(std::string text, std::string name = "t.tdsl") {
  return std::make_shared<const SourceFile>(SourceFile{std::move(name), std::move(text)});
}

/// The span of the first occurrence of `needle` in the file.
SourceSpan spanOf(const std::shared_ptr<const SourceFile> &file, std::string_view needle) {
  size_t at = file->text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  return SourceSpan{file, uint32_t(at), uint32_t(at + needle.size())};
}

std::string renderError(const SourceSpan &span, std::string message, std::string hint = {}) {
  return Diagnostic{Severity::Error, span, std::move(message), std::move(hint)}.render();
}

TEST(SourceFile, LineColumnCountsBytesFromOne) {
  auto file = source("ab\ncde\n\nf");
  EXPECT_EQ(file->lineColumn(0), std::make_pair(1u, 1u));
  EXPECT_EQ(file->lineColumn(2), std::make_pair(1u, 3u)); // The newline itself.
  EXPECT_EQ(file->lineColumn(3), std::make_pair(2u, 1u));
  EXPECT_EQ(file->lineColumn(7), std::make_pair(3u, 1u)); // The empty line.
  EXPECT_EQ(file->lineColumn(8), std::make_pair(4u, 1u));
  EXPECT_EQ(file->lineColumn(9), std::make_pair(4u, 2u));   // End of file.
  EXPECT_EQ(file->lineColumn(500), std::make_pair(4u, 2u)); // Clamped.
}

TEST(SourceFile, LineTextDropsTheNewlineAndACarriageReturn) {
  auto file = source("ab\r\ncd\n\nlast");
  EXPECT_EQ(file->lineText(0), "ab");
  EXPECT_EQ(file->lineText(1), "ab");
  EXPECT_EQ(file->lineText(4), "cd");
  EXPECT_EQ(file->lineText(6), "cd");
  EXPECT_EQ(file->lineText(7), "");
  EXPECT_EQ(file->lineText(8), "last");
  EXPECT_EQ(file->lineText(12), "last");
  EXPECT_EQ(source("")->lineText(0), "");
}

TEST(SourceSpan, StrAndTo) {
  auto file = source("a = b + c\nd = e\n", "k.tdsl");
  SourceSpan b = spanOf(file, "b"), e = spanOf(file, "e");
  EXPECT_EQ(b.str(), "k.tdsl:1:5");
  EXPECT_EQ(e.str(), "k.tdsl:2:5");
  SourceSpan both = b.to(e);
  EXPECT_EQ(both.begin, b.begin);
  EXPECT_EQ(both.end, e.end);
  EXPECT_EQ(e.to(b).begin, b.begin);
  EXPECT_EQ(SourceSpan{}.to(b).begin, b.begin);
  EXPECT_EQ(b.to(SourceSpan{}).end, b.end);
  EXPECT_EQ(SourceSpan{}.str(), "<unknown>");
}

TEST(DiagnosticRender, CaretUnderASingleCharacterWithHint) {
  auto file = source("kernel f(x: f32[N]) -> y: f32[N] {\n    y = x + z\n}\n");
  EXPECT_EQ(renderError(spanOf(file, "z"), "unknown name 'z'", "did you mean 'x'?"),
            "t.tdsl:2:13: error: unknown name 'z'\n"
            "        y = x + z\n"
            "                ^\n"
            "    hint: did you mean 'x'?\n");
}

TEST(DiagnosticRender, TildesCoverTheRestOfTheSpan) {
  auto file = source("y = x + zz * 2\n");
  EXPECT_EQ(renderError(spanOf(file, "x + zz"), "mismatched types"),
            "t.tdsl:1:5: error: mismatched types\n"
            "    y = x + zz * 2\n"
            "        ^~~~~~\n");
}

TEST(DiagnosticRender, EmptySpanIsJustACaret) {
  auto file = source("y = x\n");
  EXPECT_EQ(renderError(SourceSpan{file, 4, 4}, "here"), "t.tdsl:1:5: error: here\n"
                                                         "    y = x\n"
                                                         "        ^\n");
}

TEST(DiagnosticRender, TabsAreRepeatedInTheCaretLine) {
  auto file = source("\ty =\tqq\n");
  EXPECT_EQ(renderError(spanOf(file, "qq"), "unknown name 'qq'"),
            "t.tdsl:1:6: error: unknown name 'qq'\n"
            "    \ty =\tqq\n"
            "    \t   \t^~\n");
}

TEST(DiagnosticRender, ControlBytesShowAsQuestionMarks) {
  auto file = source(std::string("a\x01\x7f b", 5) + "\n");
  EXPECT_EQ(renderError(spanOf(file, "b"), "bad"), "t.tdsl:1:5: error: bad\n"
                                                   "    a?? b\n"
                                                   "        ^\n");
  auto nul = source(std::string("x\0y", 3));
  EXPECT_EQ(renderError(SourceSpan{nul, 1, 2}, "NUL byte"), "t.tdsl:1:2: error: NUL byte\n"
                                                            "    x?y\n"
                                                            "     ^\n");
}

TEST(DiagnosticRender, Utf8CharactersTakeOneColumn) {
  // "é" is two bytes: the column in the location counts bytes, the caret counts characters.
  auto file = source("y = x # é € 𝄞 z\n");
  EXPECT_EQ(renderError(spanOf(file, "z"), "after a comment"),
            "t.tdsl:1:21: error: after a comment\n"
            "    y = x # é € 𝄞 z\n"
            "                  ^\n");
  // A span over a multi-byte character marks it once.
  EXPECT_EQ(renderError(spanOf(file, "é €"), "these"), "t.tdsl:1:9: error: these\n"
                                                       "    y = x # é € 𝄞 z\n"
                                                       "            ^~~\n");
}

TEST(DiagnosticRender, InvalidUtf8BytesShowAsQuestionMarks) {
  // A stray continuation byte, a truncated sequence and a byte that never starts one.
  auto file = source("\x80 \xe2\x82 \xff z");
  EXPECT_EQ(renderError(spanOf(file, "z"), "bad bytes"), "t.tdsl:1:8: error: bad bytes\n"
                                                         "    ? ?? ? z\n"
                                                         "           ^\n");
}

TEST(DiagnosticRender, SpanAtEndOfFileWithoutNewline) {
  auto file = source("y = x +");
  EXPECT_EQ(renderError(SourceSpan{file, 7, 7}, "expected an expression"),
            "t.tdsl:1:8: error: expected an expression\n"
            "    y = x +\n"
            "           ^\n");
}

TEST(DiagnosticRender, SpanAtEndOfFileAfterNewlineIsAnEmptyLine) {
  auto file = source("y = x +\n");
  EXPECT_EQ(renderError(SourceSpan{file, 8, 8}, "unexpected end of file"),
            "t.tdsl:2:1: error: unexpected end of file\n"
            "    \n"
            "    ^\n");
}

TEST(DiagnosticRender, SpanOnTheNewlineOfALine) {
  auto file = source("y = (x\nz = 1\n");
  EXPECT_EQ(renderError(SourceSpan{file, 6, 7}, "expected ')'"), "t.tdsl:1:7: error: expected ')'\n"
                                                                 "    y = (x\n"
                                                                 "          ^\n");
}

TEST(DiagnosticRender, SpanOnAnEmptyLine) {
  auto file = source("a = 1\n\nb = 2\n");
  EXPECT_EQ(renderError(SourceSpan{file, 6, 7}, "empty"), "t.tdsl:2:1: error: empty\n"
                                                          "    \n"
                                                          "    ^\n");
}

TEST(DiagnosticRender, MultiLineSpanIsCutAtTheFirstLineEnd) {
  auto file = source("y = f(a,\n      b)\n");
  EXPECT_EQ(renderError(spanOf(file, "f(a,\n      b)"), "bad call"), "t.tdsl:1:5: error: bad call\n"
                                                                     "    y = f(a,\n"
                                                                     "        ^~~~\n");
}

TEST(DiagnosticRender, CrlfLinesShowNoCarriageReturn) {
  auto file = source("a = 1\r\nb = c\r\n");
  EXPECT_EQ(renderError(spanOf(file, "c"), "unknown name 'c'"),
            "t.tdsl:2:5: error: unknown name 'c'\n"
            "    b = c\n"
            "        ^\n");
}

TEST(DiagnosticRender, NoLocation) {
  EXPECT_EQ(renderError(SourceSpan{}, "no kernel named 'f'", "kernels: g, h"),
            "<unknown>: error: no kernel named 'f'\n"
            "    hint: kernels: g, h\n");
}

TEST(DiagnosticRender, SeverityNames) {
  auto file = source("x\n");
  SourceSpan span{file, 0, 1};
  Diagnostic warning{Severity::Warning, span, "w", {}};
  Diagnostic note{Severity::Note, span, "n", {}};
  EXPECT_EQ(warning.render(), "t.tdsl:1:1: warning: w\n    x\n    ^\n");
  EXPECT_EQ(note.render(), "t.tdsl:1:1: note: n\n    x\n    ^\n");
}

TEST(DiagnosticEngine, CollectsAndRendersInOrder) {
  auto file = source("y = a + b\n");
  DiagnosticEngine diag;
  EXPECT_FALSE(diag.hasErrors());
  diag.note(spanOf(file, "y"), "y declared here");
  EXPECT_FALSE(diag.hasErrors()); // Notes are not errors.
  diag.error(ErrorCode::UndefinedName, spanOf(file, "a"), "unknown name 'a'");
  diag.error(ErrorCode::UndefinedName, spanOf(file, "b"), "unknown name 'b'",
             "declare it as an input");
  EXPECT_TRUE(diag.hasErrors());
  ASSERT_EQ(diag.diagnostics().size(), 3u);
  EXPECT_EQ(diag.diagnostics()[2].hint, "declare it as an input");
  EXPECT_EQ(diag.render(), "t.tdsl:1:1: note: y declared here\n"
                           "    y = a + b\n"
                           "    ^\n"
                           "t.tdsl:1:5: error[E030]: unknown name 'a'\n"
                           "    y = a + b\n"
                           "        ^\n"
                           "t.tdsl:1:9: error[E030]: unknown name 'b'\n"
                           "    y = a + b\n"
                           "            ^\n"
                           "    hint: declare it as an input\n");
}

TEST(CompileError, CarriesEveryDiagnosticAndRendersThemAll) {
  auto file = source("y = a + b\n");
  DiagnosticEngine diag;
  diag.error(ErrorCode::UndefinedName, spanOf(file, "a"), "unknown name 'a'");
  diag.error(ErrorCode::UndefinedName, spanOf(file, "b"), "unknown name 'b'");
  CompileError error(diag.diagnostics());
  EXPECT_EQ(error.diagnostics().size(), 2u);
  EXPECT_EQ(std::string(error.what()), diag.render());
}

TEST(RuntimeError, IsARuntimeError) {
  try {
    throw RuntimeError("bad .npy file");
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "bad .npy file");
  }
}

TEST(RuntimeError, CarriesItsCode) {
  RuntimeError plain("CUDA is not available");
  EXPECT_EQ(plain.code(), ErrorCode::None);
  RuntimeError coded(ErrorCode::MalformedNpy, "cannot read 'x.npy': truncated");
  EXPECT_EQ(coded.code(), ErrorCode::MalformedNpy);
  EXPECT_STREQ(coded.what(), "cannot read 'x.npy': truncated"); // The message alone.
}

TEST(ErrorCodes, SpelledWithThreeDigits) {
  EXPECT_EQ(errorCodeString(ErrorCode::InvalidEncoding), "E001");
  EXPECT_EQ(errorCodeString(ErrorCode::UndefinedName), "E030");
  EXPECT_EQ(errorCodeString(ErrorCode::None), "");
  EXPECT_EQ(errorCodeSummary(ErrorCode::None), "");
  EXPECT_EQ(errorCodeSummary(ErrorCode::UndefinedName), "a name that is not defined");
}

TEST(ErrorCodes, CatalogueIsSortedUniqueAndSummarized) {
  const std::vector<ErrorCode> &codes = allErrorCodes();
  ASSERT_FALSE(codes.empty());
  for (size_t i = 0; i < codes.size(); ++i) {
    EXPECT_NE(codes[i], ErrorCode::None);
    EXPECT_LT(static_cast<unsigned>(codes[i]), 100u) << "codes are E0xx";
    EXPECT_FALSE(errorCodeSummary(codes[i]).empty()) << errorCodeString(codes[i]);
    if (i > 0) {
      EXPECT_LT(codes[i - 1], codes[i]);
    }
  }
}

TEST(Diagnostic, ShowsItsCodeAfterTheSeverity) {
  auto file = source("y = a\n");
  Diagnostic d{
      Severity::Error, spanOf(file, "a"), "undefined name 'a'", {}, ErrorCode::UndefinedName};
  EXPECT_EQ(d.render(), "t.tdsl:1:5: error[E030]: undefined name 'a'\n"
                        "    y = a\n"
                        "        ^\n");
}

TEST(Diagnostic, ShowsAWindowOfALongLine) {
  std::string text = "y = " + std::string(100000, 'a') + " + bad + " + std::string(100000, 'b');
  auto file = source(text);
  std::string out = renderError(spanOf(file, "bad"), "undefined name 'bad'");
  std::vector<std::string> lines;
  for (size_t at = 0, next; at < out.size(); at = next + 1) {
    next = out.find('\n', at);
    lines.push_back(out.substr(at, next - at));
  }
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "t.tdsl:1:100008: error: undefined name 'bad'");
  EXPECT_LT(lines[1].size(), 200u); // Bounded, not 200 kB.
  EXPECT_EQ(lines[1].substr(0, 7), "    ...");
  EXPECT_EQ(lines[1].substr(lines[1].size() - 3), "...");
  // The caret and tildes stand under "bad" in the shown window.
  size_t caret = lines[2].find('^');
  ASSERT_NE(caret, std::string::npos);
  EXPECT_EQ(lines[1].substr(caret, 3), "bad");
  EXPECT_EQ(lines[2].substr(caret), "^~~");
}

TEST(Diagnostic, WindowStartsAtTheLineStartWhenTheCaretIsNear) {
  std::string text = "y = bad + " + std::string(1000, 'c');
  auto file = source(text);
  std::string out = renderError(spanOf(file, "bad"), "undefined");
  EXPECT_NE(out.find("\n    y = bad + ccc"), std::string::npos) << out;
  EXPECT_NE(out.find("c...\n        ^~~\n"), std::string::npos) << out;
}

TEST(Diagnostic, WindowKeepsUtf8CharactersWhole) {
  // Multi-byte characters around the window's edges are never cut in half.
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "\xce\xb1"; // α
  text += " bad ";
  for (int i = 0; i < 200; ++i)
    text += "\xce\xb1";
  auto file = source(text);
  std::string out = renderError(spanOf(file, "bad"), "undefined");
  std::string shown = out.substr(out.find('\n') + 1);
  shown = shown.substr(0, shown.find('\n'));
  EXPECT_EQ(shown.substr(0, 7), "    ...");
  std::string body = shown.substr(7, shown.size() - 10);
  ASSERT_GE(body.size(), 2u);
  EXPECT_EQ(body.substr(0, 2), "\xce\xb1");
  EXPECT_EQ(body.substr(body.size() - 2), "\xce\xb1");
  std::string marks = out.substr(out.find('\n', out.find('\n') + 1) + 1);
  // The caret's column counts characters: 3 for "...", then one per α, then the space.
  size_t alphasBefore = (body.find(" bad") / 2);
  EXPECT_EQ(marks.find('^'), 4u + 3u + alphasBefore + 1u) << out;
}

TEST(SourceFile, ManyLookupsOnAHugeFileAreCheap) {
  // 20,000 diagnostics' worth of lookups on a 2 MB file: a scan per lookup would take seconds.
  std::string text;
  for (int i = 0; i < 100000; ++i)
    text += "t = x + undefined_name\n";
  auto file = source(text);
  uint32_t lines = 0;
  for (uint32_t offset = 0; offset < text.size(); offset += 7)
    lines = std::max(lines, file->lineColumn(offset).first);
  EXPECT_EQ(lines, 100000u);
  EXPECT_EQ(file->lineColumn(uint32_t(text.size()) - 1).second, 23u);
  EXPECT_EQ(file->lineText(uint32_t(text.size()) - 5), "t = x + undefined_name");
}

TEST(DiagnosticEngine, BoundsLongMessagesAndHints) {
  auto file = source("y = a\n");
  DiagnosticEngine diag;
  std::string name(1 << 20, 'a');
  diag.error(ErrorCode::UndefinedName, spanOf(file, "a"), "undefined name '" + name + "'",
             "call it: " + name + "(...)");
  diag.note(spanOf(file, "y"), name);
  for (const Diagnostic &d : diag.diagnostics()) {
    EXPECT_LE(d.message.size(), 600u);
    EXPECT_LE(d.hint.size(), 600u);
  }
  EXPECT_EQ(diag.diagnostics()[0].message.substr(0, 18), "undefined name 'aa");
  EXPECT_EQ(diag.diagnostics()[0].message.substr(597), "...");
  EXPECT_LT(diag.render().size(), 2000u);
}

TEST(SourceFile, ACopyComputesItsOwnLineStarts) {
  SourceFile a{"a.tdsl", "x\ny\n"};
  EXPECT_EQ(a.lineColumn(2).first, 2u);
  SourceFile b = a;
  b.text = "p\nq\nr\n";
  EXPECT_EQ(b.lineColumn(4).first, 3u);
  EXPECT_EQ(a.lineColumn(2).first, 2u);
}

} // namespace
} // namespace tdsl
