#include "codegen/llvm/LlvmBackend.h"
