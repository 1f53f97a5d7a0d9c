// Leak gate: after every test the process has exactly the fds and the number of threads it
// had before the test.
#include <dirent.h>

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

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

std::size_t thread_count() {
  std::size_t n = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir))
      if (entry->d_name[0] != '.') ++n;
    closedir(dir);
  }
  return n;
}

class FdLeakListener : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo&) override {
    before_ = open_fds();
    threads_before_ = thread_count();
  }
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
    EXPECT_EQ(thread_count(), threads_before_) << info.test_suite_name() << "." << info.name() << " left threads behind";
  }
  std::set<int> before_;
  std::size_t threads_before_ = 0;
};

// Registered before main() runs, so every test in the binary is checked. gtest calls
// OnTestEnd in reverse order, so this runs before the result printer reports the test.
const bool kRegistered = [] {
  // TSan starts its background thread with the first thread a program creates; do that now
  // so that no test looks as if it left a thread behind.
  std::thread([] {}).join();
  testing::UnitTest::GetInstance()->listeners().Append(new FdLeakListener);
  return true;
}();

}  // namespace
