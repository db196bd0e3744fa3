// Lexer and recursive-descent parser for .tdsl files.
#pragma once

#include "frontend/AST.h"

namespace tdsl::frontend {

/// Parses a whole file. Errors go to `diags` with recovery at the next statement or kernel, so
/// independent syntax errors are all reported; the returned tree holds what parsed cleanly.
ast::File parseFile(const std::shared_ptr<const SourceFile> &file, DiagnosticEngine &diags);

/// The stable text form of the tree (all kernels, or only `kernel` when not empty).
std::string printAst(const ast::File &file, const std::string &kernel = {});

} // namespace tdsl::frontend
