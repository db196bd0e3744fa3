// The Python type tdsl.Kernel: a compiled kernel, callable on arrays. Its call is the hot path:
// arguments are read in place (Arrays.h), the GIL is released while the kernel runs, and nothing
// on the way goes through Python code or nanobind's generic dispatch.
#pragma once

#include "tdsl/tdsl.h"

#include <nanobind/nanobind.h>

namespace tdsl::python {

namespace nb = nanobind;

/// Defines tdsl.Kernel in `m`.
void defineKernel(nb::module_ &m);
/// A tdsl.Kernel object for `kernel`.
nb::object kernelObject(Kernel kernel);

} // namespace tdsl::python
