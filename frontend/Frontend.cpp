// The frontend's entry points: parse, then check. Sema runs only on a file that parsed cleanly:
// a statement dropped by the parser's recovery would otherwise surface as spurious "undefined
// name" or "never assigned" errors.
#include "frontend/Frontend.h"

#include "frontend/Parser.h"
#include "frontend/Sema.h"

namespace tdsl::frontend {

std::optional<ir::Module> compileSource(const std::shared_ptr<const SourceFile> &file,
                                        DiagnosticEngine &diags) {
  ast::File tree = parseFile(file, diags);
  if (diags.hasErrors())
    return std::nullopt;
  ir::Module module = analyze(tree, diags);
  if (diags.hasErrors())
    return std::nullopt;
  return module;
}

std::optional<std::string> dumpAst(const std::shared_ptr<const SourceFile> &file,
                                   const std::string &kernel, DiagnosticEngine &diags) {
  ast::File tree = parseFile(file, diags);
  if (diags.hasErrors())
    return std::nullopt;
  if (!kernel.empty()) {
    bool found = false;
    for (const ast::Kernel &k : tree.kernels)
      found |= k.name == kernel;
    if (!found) {
      diags.error(ErrorCode::NoSuchKernel, SourceSpan{file, 0, 0},
                  "no kernel named '" + kernel + "' in " + file->name);
      return std::nullopt;
    }
  }
  return printAst(tree, kernel);
}

} // namespace tdsl::frontend
