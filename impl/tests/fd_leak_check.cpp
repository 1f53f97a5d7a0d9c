// Leak gate: after every test the process has exactly the fds it had before the test.
#include <dirent.h>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace {

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return fds;
  int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::stoi(entry->d_name);
    if (fd != own) fds.insert(fd);
  }
  closedir(dir);
  return fds;
}

class FdLeakListener : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo&) override { before_ = open_fds(); }
  void OnTestEnd(const testing::TestInfo& info) override {
    std::set<int> after = open_fds();
    std::string leaked;
    for (int fd : after)
      if (!before_.count(fd)) leaked += " " + std::to_string(fd);
    std::string closed;
    for (int fd : before_)
      if (!after.count(fd)) closed += " " + std::to_string(fd);
    EXPECT_TRUE(leaked.empty()) << info.test_suite_name() << "." << info.name() << " leaked fds:" << leaked;
    EXPECT_TRUE(closed.empty()) << info.test_suite_name() << "." << info.name() << " closed fds it did not open:" << closed;
  }
  std::set<int> before_;
};

// Registered before main() runs, so every test in the binary is checked. gtest calls
// OnTestEnd in reverse order, so this runs before the result printer reports the test.
const bool kRegistered = [] {
  testing::UnitTest::GetInstance()->listeners().Append(new FdLeakListener);
  return true;
}();

}  // namespace
