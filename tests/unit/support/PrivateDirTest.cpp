// Private cache folders: created 0700 with 0600 files, and a folder or file that another user
// could have written (foreign owner, group or other write bit, symbolic link) is refused. Root
// owns what it creates, so "another user" is simulated by chown to an unused uid (root only).
#include "support/PrivateDir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using tdsl::support::privateDirProblem;
using tdsl::support::PrivateRead;
using tdsl::support::readPrivateFile;
using tdsl::support::warnUntrustedCache;
using tdsl::support::writePrivateFile;
namespace fs = std::filesystem;

constexpr uid_t kForeignUid = 12345;

/// An empty folder of this test, mode 0700.
std::string freshDir(const std::string &name) {
  fs::path dir = fs::temp_directory_path() /
                 ("tdsl-privatedir-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  return dir.string();
}

mode_t modeOf(const std::string &path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void writeFile(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(PrivateDir, CreatesFoldersPrivateAndFilesOwnerOnly) {
  std::string root = freshDir("create");
  std::string dir = root + "/a/b";
  std::string refusal;
  ASSERT_TRUE(writePrivateFile(dir, "entry", "code", refusal)) << refusal;
  EXPECT_EQ(modeOf(root + "/a"), 0700u);
  EXPECT_EQ(modeOf(dir), 0700u);
  EXPECT_EQ(modeOf(dir + "/entry"), 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1)
      << "no temporary file is left";
  PrivateRead read = readPrivateFile(dir, "entry");
  EXPECT_EQ(read.status, PrivateRead::Status::Read);
  EXPECT_EQ(read.data, "code");
  EXPECT_EQ(readPrivateFile(dir, "other").status, PrivateRead::Status::Missing);
  EXPECT_EQ(readPrivateFile(root + "/missing", "entry").status, PrivateRead::Status::Missing);
  fs::remove_all(root);
}

TEST(PrivateDir, FolderWritableByOthersIsNeitherReadNorWritten) {
  for (mode_t mode : {0777, 0770, 01777}) {
    std::string dir = freshDir("shared");
    std::string refusal;
    ASSERT_TRUE(writePrivateFile(dir, "entry", "code", refusal));
    ::chmod(dir.c_str(), mode);
    std::string expected = (mode & S_IWOTH) ? "others" : "group";
    EXPECT_NE(privateDirProblem(dir).find("it is writable by " + expected), std::string::npos)
        << privateDirProblem(dir);
    PrivateRead read = readPrivateFile(dir, "entry");
    EXPECT_EQ(read.status, PrivateRead::Status::Refused);
    EXPECT_TRUE(read.data.empty());
    EXPECT_EQ(read.problem, privateDirProblem(dir));
    EXPECT_FALSE(writePrivateFile(dir, "new", "code", refusal));
    EXPECT_EQ(refusal, privateDirProblem(dir));
    EXPECT_FALSE(fs::exists(dir + "/new"));
    fs::remove_all(dir);
  }
}

TEST(PrivateDir, FileWritableByOthersIsRefused) {
  std::string dir = freshDir("file-mode");
  writeFile(dir + "/entry", "planted");
  ::chmod((dir + "/entry").c_str(), 0666);
  EXPECT_EQ(privateDirProblem(dir), "");
  PrivateRead read = readPrivateFile(dir, "entry");
  EXPECT_EQ(read.status, PrivateRead::Status::Refused);
  EXPECT_TRUE(read.data.empty());
  EXPECT_EQ(read.problem, "the entry entry is writable by others (mode 0666)");
  fs::remove_all(dir);
}

TEST(PrivateDir, FolderOrFileOfAnotherUserIsRefused) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "only root can give a file to another user";
  std::string dir = freshDir("owner");
  writeFile(dir + "/entry", "planted");
  ::chmod((dir + "/entry").c_str(), 0600);
  ASSERT_EQ(::chown((dir + "/entry").c_str(), kForeignUid, kForeignUid), 0);
  PrivateRead read = readPrivateFile(dir, "entry");
  EXPECT_EQ(read.status, PrivateRead::Status::Refused);
  EXPECT_EQ(read.problem, "the entry entry is owned by uid 12345, not 0");

  ASSERT_EQ(::chown(dir.c_str(), kForeignUid, kForeignUid), 0);
  EXPECT_EQ(privateDirProblem(dir), "it is owned by uid 12345, not 0");
  std::string refusal;
  EXPECT_FALSE(writePrivateFile(dir, "new", "code", refusal));
  EXPECT_EQ(refusal, "it is owned by uid 12345, not 0");
  fs::remove_all(dir);
}

TEST(PrivateDir, SymbolicLinkOrOtherFileIsRefused) {
  std::string dir = freshDir("symlink");
  std::string refusal;
  ASSERT_TRUE(writePrivateFile(dir, "target", "code", refusal));
  fs::create_symlink(dir + "/target", dir + "/entry");
  PrivateRead read = readPrivateFile(dir, "entry");
  EXPECT_EQ(read.status, PrivateRead::Status::Refused);
  EXPECT_EQ(read.problem, "the entry entry is a symbolic link");
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(readPrivateFile(dir, "fifo").problem, "the entry fifo is not a regular file");
  fs::remove_all(dir);
}

TEST(PrivateDir, WarnsOncePerFolder) {
  ::testing::internal::CaptureStderr();
  warnUntrustedCache("/x", "it is writable by others (mode 0777)");
  warnUntrustedCache("/x", "it is writable by others (mode 0777)");
  warnUntrustedCache("/y", "the entry e is a symbolic link");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "tdsl: warning: not using the kernel cache in /x: it is writable by others (mode "
            "0777); compiling in memory\n"
            "tdsl: warning: not using the kernel cache in /y: the entry e is a symbolic link; "
            "compiling in memory\n");
}

} // namespace
