// PidfdChildWatcher (3.12+ behaviour): a reader on the running loop for each child's pidfd.
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "child_status.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {
namespace {

// A pidfd closed exactly once: by the report, or with the reader's handle when the loop
// drops it unreported (CPython leaves that to the garbage collector).
class Pidfd {
 public:
  explicit Pidfd(int fd) : fd_(fd) {}
  ~Pidfd() { close(); }
  Pidfd(const Pidfd&) = delete;
  Pidfd& operator=(const Pidfd&) = delete;
  int fd() const noexcept { return fd_; }
  void close() noexcept {
    if (fd_ >= 0) syscalls().close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// _do_wait: the pidfd is readable, so the child can be reaped.
void report_exit(pid_t pid, Pidfd& pidfd, const ChildCallback& callback) {
  EventLoop& loop = get_running_loop();
  loop.remove_reader_internal(pidfd.fd());
  int returncode;
  auto result = detail::wait_child(pid, 0);
  if (!result) {
    returncode = detail::kUnknownReturncode;
    detail::log_status_already_read(pid);
  } else {
    returncode = result->returncode;
  }
  pidfd.close();
  callback(pid, returncode);
}

}  // namespace

bool can_use_pidfd() {
  int fd = real_syscalls().pidfd_open(::getpid(), 0);
  if (fd < 0) return false;  // no such syscall, or refused by a security policy
  ::close(fd);
  return true;
}

void PidfdChildWatcher::add_child_handler(pid_t pid, ChildCallback callback, Label) {
  EventLoop& loop = get_running_loop();
  int fd = syscalls().pidfd_open(pid, 0);
  if (fd < 0) OSError::raise_errno(errno);
  auto pidfd = std::make_shared<Pidfd>(fd);
  loop.add_reader_internal(
      fd, [pid, pidfd, callback = std::move(callback)] { report_exit(pid, *pidfd, callback); },
      Label("PidfdChildWatcher._do_wait()"));
}

}  // namespace loopcheck
