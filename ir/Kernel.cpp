#include "ir/Kernel.h"

namespace tdsl::ir {

const Kernel *Module::find(const std::string &name) const {
  for (const Kernel &k : kernels)
    if (k.name == name)
      return &k;
  return nullptr;
}

} // namespace tdsl::ir
