#include "tdsl/tdsl.h"
