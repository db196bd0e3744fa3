// libFuzzer target: the lexer and parser on arbitrary bytes. Every input must parse or give
// diagnostics (each renders), never crash, hang or overflow the stack; the AST of a clean parse
// prints.
#include "frontend/Parser.h"
#include "tdsl/Diagnostics.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace tdsl;
  auto file = std::make_shared<const SourceFile>(
      SourceFile{"fuzz.tdsl", std::string(reinterpret_cast<const char *>(data), size)});
  DiagnosticEngine diags;
  ast::File ast = frontend::parseFile(file, diags);
  for (const Diagnostic &d : diags.diagnostics())
    (void)d.render();
  if (!diags.hasErrors())
    (void)frontend::printAst(ast);
  return 0;
}
