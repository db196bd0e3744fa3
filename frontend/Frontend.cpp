#include "frontend/Frontend.h"
