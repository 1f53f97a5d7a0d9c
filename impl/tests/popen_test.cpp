// Popen (popen.hpp): stream plumbing, Popen options, the errors of a failed exec or chdir,
// poll/send_signal. Each test reaps its child (waits on a pidfd for the exit, then polls).
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "loopcheck/errors.hpp"
#include "loopcheck/popen.hpp"
#include "loopcheck/syscalls.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

// Everything the fd gives until EOF (blocking reads: the child closes its end at exit).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Waits (bounded) on a pidfd until the child has exited, then reaps it through poll();
// returns its returncode (nullopt if it did not exit in time).
std::optional<int> reap(Popen& p) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p.pid(), 0));
  if (pidfd >= 0) {
    pollfd exited{pidfd, POLLIN, 0};
    ::poll(&exited, 1, static_cast<int>(test::deadline_ms(5000).count()));
    ::close(pidfd);
  }
  p.poll();
  return p.returncode;
}

std::string failure(const std::vector<std::string>& args, const PopenOptions& options = {}) {
  try {
    Popen::spawn(args, false, Stdio::devnull(), Stdio::devnull(), Stdio::devnull(), options);
  } catch (const OSError& e) {
    return e.type_name() + ": " + e.message() + " / " + e.repr();
  }
  return "no exception";
}

TEST(PopenTest, StderrToStdoutSharesThePipeAndDevnullStdinReadsEof) {
  auto p = Popen::spawn({"/bin/sh", "-c", "cat; printf out; printf err >&2; exit 4"}, false, Stdio::devnull(),
                        Stdio::pipe(), Stdio::stdout_(), {});
  EXPECT_EQ(p->stdin_fd(), -1);
  EXPECT_EQ(p->stderr_fd(), -1);
  int fd = p->take_fd(1);
  EXPECT_EQ(p->stdout_fd(), -1);
  EXPECT_EQ(read_all(fd), "outerr");
  ::close(fd);
  EXPECT_EQ(reap(*p), 4);
}

TEST(PopenTest, ShellRunsTheCommandWithBinSh) {
  auto p = Popen::spawn({"printf '%s' \"$0\""}, true, Stdio::devnull(), Stdio::pipe(), Stdio::inherit(), {});
  EXPECT_EQ(read_all(p->stdout_fd()), "/bin/sh");
  EXPECT_EQ(reap(*p), 0);
}

TEST(PopenTest, CwdAndStartNewSessionReachTheChild) {
  PopenOptions o;
  o.cwd = "/";
  o.start_new_session = true;
  // Field 6 of /proc/PID/stat is the session id: the shell leads its own session.
  auto p = Popen::spawn({"/bin/sh", "-c", "pwd; [ \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ ] && echo leader"}, false,
                        Stdio::devnull(), Stdio::pipe(), Stdio::inherit(), o);
  EXPECT_EQ(read_all(p->stdout_fd()), "/\nleader\n");
  EXPECT_EQ(reap(*p), 0);
}

TEST(PopenTest, AFailedExecOrChdirRaisesWithTheFileName) {
  EXPECT_EQ(failure({"/nonexistent/program"}),
            "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/program' / "
            "FileNotFoundError(2, 'No such file or directory')");
  EXPECT_EQ(failure({"/etc/passwd"}),
            "PermissionError: [Errno 13] Permission denied: '/etc/passwd' / PermissionError(13, 'Permission denied')");
  PopenOptions o;
  o.cwd = "/nonexistent-dir";
  EXPECT_EQ(failure({"/bin/true"}, o),
            "FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent-dir' / "
            "FileNotFoundError(2, 'No such file or directory')");
}

TEST(PopenTest, SendSignalAfterTheExitIsKnownSendsNothing) {
  auto p = Popen::spawn({"/bin/sleep", "30"}, false, Stdio::devnull(), Stdio::devnull(), Stdio::devnull(), {});
  EXPECT_FALSE(p->poll());
  p->kill();
  EXPECT_EQ(reap(*p), -SIGKILL);
  p->terminate();  // known returncode: no kill(2) for a pid that may be reused
  EXPECT_EQ(p->returncode, -SIGKILL);
}

}  // namespace
}  // namespace loopcheck
