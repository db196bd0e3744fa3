#include "tdsl/Tensor.h"
