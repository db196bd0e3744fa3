#include "passes/Pipeline.h"
