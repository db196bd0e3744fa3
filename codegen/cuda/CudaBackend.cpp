#include "codegen/cuda/CudaBackend.h"
