// tdsl's errors as Python exceptions (Errors.h).
#include "python/src/Errors.h"

#include <nanobind/stl/string.h>

namespace tdsl::python {
namespace {

// The exception classes tdsl.CompileError and tdsl.RuntimeError (created at import).
PyObject *compileErrorType = nullptr;
PyObject *runtimeErrorType = nullptr;

/// Raises `type(message)` with the attributes `attributes` set on the exception.
void raise(PyObject *type, const std::string &message, const nb::dict &attributes) {
  nb::object error = nb::steal(PyObject_CallFunction(type, "s", message.c_str()));
  if (!error.is_valid())
    return; // PyObject_CallFunction set the error.
  for (auto [name, value] : attributes)
    nb::setattr(error, name, value);
  PyErr_SetObject(type, error.ptr());
}

nb::object codeOrNone(ErrorCode code) {
  return code == ErrorCode::None ? nb::none() : nb::cast(errorCodeString(code));
}

nb::dict diagnosticDict(const Diagnostic &d) {
  nb::dict result;
  result["code"] = codeOrNone(d.code);
  result["severity"] = d.severity == Severity::Error     ? "error"
                       : d.severity == Severity::Warning ? "warning"
                                                         : "note";
  result["message"] = d.message;
  result["hint"] = d.hint;
  result["file"] = d.span.valid() ? nb::cast(d.span.file->name) : nb::none();
  nb::object line = nb::none(), column = nb::none();
  if (d.span.valid()) {
    auto [l, c] = d.span.file->lineColumn(d.span.begin);
    line = nb::cast(l);
    column = nb::cast(c);
  }
  result["line"] = line;
  result["column"] = column;
  result["rendered"] = d.render();
  return result;
}

/// CompileError: the first error's code, line and column as attributes, every diagnostic in
/// `diagnostics`, and the rendered text (source lines and carets) as the message.
void raiseCompileError(const CompileError &e) {
  nb::list diagnostics;
  nb::dict first;
  for (const Diagnostic &d : e.diagnostics()) {
    nb::dict entry = diagnosticDict(d);
    if (first.size() == 0 && d.severity == Severity::Error)
      first = entry;
    diagnostics.append(entry);
  }
  nb::dict attributes;
  for (const char *key : {"code", "line", "column", "message", "hint"})
    attributes[key] = first.contains(key) ? first[key] : nb::none();
  attributes["diagnostics"] = diagnostics;
  attributes["rendered"] = e.what();
  raise(compileErrorType, e.what(), attributes);
}

void raiseRuntimeError(const RuntimeError &e) {
  nb::dict attributes;
  attributes["code"] = codeOrNone(e.code());
  raise(runtimeErrorType, e.what(), attributes);
}

nb::object newException(nb::module_ &m, const char *name, PyObject *base, const char *doc) {
  std::string qualified = std::string("tdsl.") + name;
  PyObject *type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (!type)
    throw nb::python_error();
  nb::object result = nb::steal(type);
  m.attr(name) = result;
  return result;
}

} // namespace

RuntimeError mismatch(const std::string &message) {
  return RuntimeError(ErrorCode::TensorMismatch, message);
}

void defineErrors(nb::module_ &m) {
  compileErrorType =
      newException(m, "CompileError", PyExc_Exception,
                   "A .tdsl program with errors: code, line, column, message and hint of the first "
                   "error; diagnostics (every one, as dicts); str() is the rendered text.")
          .release()
          .ptr();
  runtimeErrorType =
      newException(m, "RuntimeError", PyExc_RuntimeError,
                   "An error found while calling a kernel (count, dtype or shape of its "
                   "arguments, ...); code is its error code (\"E081\"), or None.")
          .release()
          .ptr();
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const CompileError &e) {
      raiseCompileError(e);
    } catch (const RuntimeError &e) {
      raiseRuntimeError(e);
    }
  });
}

void setPythonError() noexcept {
  try {
    throw;
  } catch (const CompileError &e) {
    raiseCompileError(e);
  } catch (const RuntimeError &e) {
    raiseRuntimeError(e);
  } catch (nb::python_error &e) {
    e.restore();
  } catch (const nb::builtin_exception &e) {
    PyErr_SetString(e.type() == nb::exception_type::type_error    ? PyExc_TypeError
                    : e.type() == nb::exception_type::value_error ? PyExc_ValueError
                                                                  : PyExc_RuntimeError,
                    e.what());
  } catch (const std::exception &e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
}

} // namespace tdsl::python
