// Folders of files that only this user can have written. The kernel cache (api/KernelCache) keeps
// native code, CPU objects and CUDA binaries, on disk and runs what it loads, so a file another
// user could have written or replaced must never be read back: the folder and the entry must be
// owned by the effective user and writable by nobody else, and the entry must be a regular file.
#pragma once

#include <string>

namespace tdsl::support {

/// Why the folder `dir` cannot hold trusted files ("it is writable by others (mode 0777)"), or ""
/// when it can. A missing folder has no problem.
std::string privateDirProblem(const std::string &dir);

/// What reading one file of a private folder found.
struct PrivateRead {
  enum class Status { Read, Missing, Refused };
  Status status = Status::Missing;
  std::string data;    // Read: the whole file.
  std::string problem; // Refused: why, as privateDirProblem says it.
};

/// Reads `dir`/`name` when the folder and the file pass the checks above. The folder is opened
/// once and the file opened in it without following a symbolic link, and both are checked on
/// their descriptors, so neither can be swapped between the check and the read.
PrivateRead readPrivateFile(const std::string &dir, const std::string &name);

/// Writes `dir`/`name` atomically (a temporary ".NAME.PID.N.tmp" in the folder, mode 0600,
/// renamed into place), creating the folder and missing parents with mode 0700. Returns whether
/// it was written. A folder that fails the checks is never written: then `refusal` says why
/// (other failures, such as a full disk, leave it empty).
bool writePrivateFile(const std::string &dir, const std::string &name, const std::string &data,
                      std::string &refusal);

/// Prints "tdsl: warning: not using the kernel cache in DIR: PROBLEM; compiling in memory" to
/// stderr, once per folder per process (a cache consults its folder for every kernel).
void warnUntrustedCache(const std::string &dir, const std::string &problem);

} // namespace tdsl::support
