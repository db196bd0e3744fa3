#include "ir/Kernel.h"

#include "ir/Shapes.h"
#include "tdsl/Diagnostics.h"

namespace tdsl::ir {

const Kernel *Module::find(const std::string &name) const {
  for (const Kernel &k : kernels)
    if (k.name == name)
      return &k;
  return nullptr;
}

std::string gatherErrorMessage(const Kernel &kernel, const GatherCheck &check,
                               const std::string &index, const std::string &size) {
  const DType d = check.gathered->dtype;
  const char *zero = isFloat(d) ? "0.0" : d == DType::Bool ? "false" : "0";
  std::string where = check.span.valid() ? " (" + check.span.str() + ")" : "";
  return "kernel " + kernel.name + ": " + check.access + where + " reads index " + index +
         " of dim " + std::to_string(check.dim) + " of " + check.gathered->name +
         ", outside its range [0, " + size + "); check the index data, or write " + check.access +
         " ?? " + zero + " to read a default where the index is out of range";
}

void throwIfGatherFailed(const Kernel &kernel, const std::vector<int64_t> &symbols,
                         const int64_t *results) {
  for (size_t c = 0; c < kernel.checks.size(); ++c) {
    if (results[c] == kNoGatherViolation)
      continue;
    const GatherCheck &check = kernel.checks[c];
    int64_t size = evalShape(check.gathered, kernel.symbols, symbols).at(check.dim);
    throw RuntimeError(
        ErrorCode::IndexOutOfRange,
        gatherErrorMessage(kernel, check, std::to_string(results[c]), std::to_string(size)));
  }
}

} // namespace tdsl::ir
