// The frontend's entry points: .tdsl text -> AST -> checked tensor IR, with diagnostics.
#pragma once

#include "ir/Kernel.h"
#include "tdsl/Diagnostics.h"

#include <memory>
#include <optional>
#include <string>

namespace tdsl::frontend {

/// Lexes, parses and checks a whole file. Every independent error is reported to `diags`;
/// returns nullopt when there was any error. Never throws on any input (a TDSL_CHECK firing is a
/// bug).
std::optional<ir::Module> compileSource(const std::shared_ptr<const SourceFile> &file,
                                        DiagnosticEngine &diags);

/// The AST of the file (or of the kernel named `kernel`, when not empty) in its stable text form,
/// for `tdsl emit --stage=ast`. Parse errors go to `diags` and give nullopt.
std::optional<std::string> dumpAst(const std::shared_ptr<const SourceFile> &file,
                                   const std::string &kernel, DiagnosticEngine &diags);

} // namespace tdsl::frontend
