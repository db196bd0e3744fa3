// libFuzzer target: parse + sema (names, dtypes, broadcasting, extents, bounds proofs, calls)
// on arbitrary bytes, then the tensor-IR verifier and printer on what it accepts. Diagnostics
// must render; nothing may crash or fire an internal check.
#include "frontend/Frontend.h"
#include "ir/IRPrinter.h"
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
  std::optional<ir::Module> module = frontend::compileSource(file, diags);
  for (const Diagnostic &d : diags.diagnostics())
    (void)d.render();
  if (module)
    for (const ir::Kernel &k : module->kernels)
      (void)ir::toString(k);
  return 0;
}
