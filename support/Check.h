// Internal invariants. A failed TDSL_CHECK is a bug in tdsl, never the user's fault: user errors
// go through the DiagnosticEngine. It throws InternalError so a library user is not killed.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tdsl {

struct InternalError : std::logic_error {
  using std::logic_error::logic_error;
};

namespace detail {
/// Collects `<<` operands and throws when destroyed at the end of the full expression.
class CheckFailure {
public:
  CheckFailure(const char *cond, const char *file, int line) {
    stream << file << ":" << line << ": internal error: check failed: " << cond << ": ";
  }
  template <typename T> CheckFailure &operator<<(const T &value) {
    stream << value;
    return *this;
  }
  ~CheckFailure() noexcept(false) { throw InternalError(stream.str()); }

private:
  std::ostringstream stream;
};
/// For code that cannot be reached when the IR is well formed.
[[noreturn]] inline void unreachable(const char *what, const char *file, int line) {
  throw InternalError(std::string(file) + ":" + std::to_string(line) + ": internal error: " + what);
}
} // namespace detail

} // namespace tdsl

// A `while` rather than `if/else` so the macro nests inside an unbraced `if` without a dangling
// else; the loop never repeats because the failure object throws.
#define TDSL_CHECK(cond)                                                                           \
  while (!(cond))                                                                                  \
  ::tdsl::detail::CheckFailure(#cond, __FILE__, __LINE__)

#define TDSL_UNREACHABLE(what) ::tdsl::detail::unreachable(what, __FILE__, __LINE__)
