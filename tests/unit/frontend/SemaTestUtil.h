// Helpers for sema tests: compile a source string, print a kernel, pick out diagnostics.
#pragma once

#include "frontend/Frontend.h"
#include "ir/IRPrinter.h"

#include <gtest/gtest.h>

#include <string>

namespace tdsl::frontend::testing {

struct Compiled {
  std::optional<ir::Module> module;
  DiagnosticEngine diags;

  std::vector<Diagnostic> errors() const {
    std::vector<Diagnostic> out;
    for (const Diagnostic &d : diags.diagnostics())
      if (d.severity == Severity::Error)
        out.push_back(d);
    return out;
  }
  const ir::Kernel &kernel(const std::string &name) const {
    const ir::Kernel *k = module ? module->find(name) : nullptr;
    if (!k)
      throw std::runtime_error("no kernel " + name + "\n" + diags.render());
    return *k;
  }
  std::string text(const std::string &name) const { return ir::toString(kernel(name)); }
};

inline Compiled compile(const std::string &source) {
  Compiled c;
  auto file = std::make_shared<SourceFile>(SourceFile{"test.tdsl", source});
  c.module = compileSource(file, c.diags);
  return c;
}

/// Compiles `source`, which must have no errors, and returns the IR of kernel `name`.
inline std::string irOf(const std::string &source, const std::string &name) {
  Compiled c = compile(source);
  EXPECT_FALSE(c.diags.hasErrors()) << c.diags.render();
  if (c.diags.hasErrors())
    return "";
  return c.text(name);
}

/// Expects exactly one error, containing `message`, at `where` ("line:col"), whose hint
/// contains `hint` (when not empty).
inline void expectError(const std::string &source, const std::string &message,
                        const std::string &where, const std::string &hint = {}) {
  Compiled c = compile(source);
  std::vector<Diagnostic> errors = c.errors();
  ASSERT_EQ(errors.size(), 1u) << c.diags.render();
  const Diagnostic &d = errors[0];
  EXPECT_NE(d.message.find(message), std::string::npos) << c.diags.render();
  EXPECT_EQ(d.span.str(), "test.tdsl:" + where) << c.diags.render();
  if (!hint.empty()) {
    EXPECT_NE(d.hint.find(hint), std::string::npos) << c.diags.render();
  }
  EXPECT_FALSE(c.module.has_value());
}

} // namespace tdsl::frontend::testing
