// Private cache folders (see PrivateDir.h): creation with mode 0700, the ownership and mode checks
// on open descriptors, atomic 0600 writes and the once-per-folder warning.
#include "support/PrivateDir.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace tdsl::support {
namespace {

/// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd;
  explicit Fd(int fd) : fd(fd) {}
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

std::string modeText(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

/// Why a file with status `st` may have been written by another user, or "". `what` names it
/// ("it", "the entry NAME").
std::string ownershipProblem(const struct stat &st, const std::string &what) {
  if (st.st_uid != ::geteuid())
    return what + " is owned by uid " + std::to_string(st.st_uid) + ", not " +
           std::to_string(::geteuid());
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return what + " is writable by " + ((st.st_mode & S_IWOTH) ? "others" : "group") + " (mode " +
           modeText(st.st_mode) + ")";
  return "";
}

/// Opens the folder `dir` and checks it; fd -1 when missing or refused (then `problem` says why).
int openPrivateDir(const std::string &dir, std::string &problem) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error != ENOENT)
      problem = std::string("it cannot be opened (") + std::strerror(error) + ")";
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    problem = "it cannot be examined";
  else
    problem = ownershipProblem(st, "it");
  if (!problem.empty()) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// mkdir -p with mode 0700 for each folder created; folders already there are left as they are
/// (the checks decide whether the last one is usable).
void makePrivateDirectories(const std::string &dir) {
  for (size_t at = 1; at <= dir.size(); ++at)
    if (at == dir.size() || dir[at] == '/')
      ::mkdir(dir.substr(0, at).c_str(), 0700);
}

bool writeWhole(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

} // namespace

std::string privateDirProblem(const std::string &dir) {
  std::string problem;
  Fd fd(openPrivateDir(dir, problem));
  return problem;
}

PrivateRead readPrivateFile(const std::string &dir, const std::string &name) {
  PrivateRead result;
  Fd dirFd(openPrivateDir(dir, result.problem));
  if (dirFd.fd < 0) {
    result.status =
        result.problem.empty() ? PrivateRead::Status::Missing : PrivateRead::Status::Refused;
    return result;
  }
  // O_NOFOLLOW: a symbolic link fails with ELOOP. O_NONBLOCK: a FIFO cannot stall the open.
  Fd fd(::openat(dirFd.fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.fd < 0) {
    int error = errno;
    if (error == ENOENT)
      return result;
    result.status = PrivateRead::Status::Refused;
    result.problem =
        "the entry " + name +
        (error == ELOOP ? std::string(" is a symbolic link")
                        : " cannot be opened (" + std::string(std::strerror(error)) + ")");
    return result;
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode))
    result.problem = "the entry " + name + " is not a regular file";
  else
    result.problem = ownershipProblem(st, "the entry " + name);
  if (!result.problem.empty()) {
    result.status = PrivateRead::Status::Refused;
    return result;
  }
  result.data.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      result.data.clear();
      return result; // Unreadable: a miss, like a missing entry.
    }
    if (n == 0)
      break;
    result.data.append(buffer, static_cast<size_t>(n));
  }
  result.status = PrivateRead::Status::Read;
  return result;
}

bool writePrivateFile(const std::string &dir, const std::string &name, const std::string &data,
                      std::string &refusal) {
  makePrivateDirectories(dir);
  Fd dirFd(openPrivateDir(dir, refusal));
  if (dirFd.fd < 0)
    return false;
  static std::atomic<uint64_t> serial{0};
  std::string temp =
      "." + name + "." + std::to_string(::getpid()) + "." + std::to_string(serial++) + ".tmp";
  Fd fd(
      ::openat(dirFd.fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.fd < 0)
    return false;
  bool ok = writeWhole(fd.fd, data);
  ok = ::close(fd.fd) == 0 && ok;
  fd.fd = -1;
  // Atomic: readers in other processes see the old entry or the new one, never a part.
  if (!ok || ::renameat(dirFd.fd, temp.c_str(), dirFd.fd, name.c_str()) != 0) {
    ::unlinkat(dirFd.fd, temp.c_str(), 0);
    return false;
  }
  return true;
}

void warnUntrustedCache(const std::string &dir, const std::string &problem) {
  // Process-wide on purpose: every Jit and CUDA kernel of the process shares the folder.
  static std::mutex mutex;
  static std::set<std::string> warned;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!warned.insert(dir).second)
      return;
  }
  std::fprintf(stderr, "tdsl: warning: not using the kernel cache in %s: %s; compiling in memory\n",
               dir.c_str(), problem.c_str());
}

} // namespace tdsl::support
