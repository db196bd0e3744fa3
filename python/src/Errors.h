// tdsl's errors as Python exceptions: tdsl.CompileError (code, line, column, diagnostics, the
// rendered text) and tdsl.RuntimeError (a subclass of Python's, with its error code).
#pragma once

#include "tdsl/Diagnostics.h"

#include <nanobind/nanobind.h>

#include <string>

namespace tdsl::python {

namespace nb = nanobind;

/// Creates tdsl.CompileError and tdsl.RuntimeError in `m` and has nanobind raise them for the
/// C++ exceptions of the same names.
void defineErrors(nb::module_ &m);

/// Sets the Python error for the C++ exception being handled (tdsl's, nanobind's, or any
/// std::exception): for code called by Python without nanobind's dispatch around it.
void setPythonError() noexcept;

/// A kernel argument that does not match its parameter (count, dtype, shape, kind): E081.
RuntimeError mismatch(const std::string &message);

} // namespace tdsl::python
