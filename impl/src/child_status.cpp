#include "child_status.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <string>

#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck::detail {

int waitstatus_to_exitcode(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return status;
}

std::optional<WaitResult> wait_child(pid_t pid, int options) {
  int status = 0;
  pid_t r;
  do {
    r = syscalls().waitpid(pid, &status, options);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == ECHILD) return std::nullopt;
    OSError::raise_errno(errno);
  }
  return WaitResult{r, r == 0 ? 0 : waitstatus_to_exitcode(status)};
}

void log_unknown_child(pid_t pid) {
  log(LogLevel::WARNING, "Unknown child process pid " + std::to_string(pid) + ", will report returncode 255");
}

void log_status_already_read(pid_t pid) {
  log(LogLevel::WARNING,
      "child process pid " + std::to_string(pid) + " exit status already read:  will report returncode 255");
}

void log_exit_debug(bool debug, pid_t pid, int returncode) {
  if (debug && log_enabled_for(LogLevel::DEBUG))
    log(LogLevel::DEBUG, "process " + std::to_string(pid) + " exited with returncode " + std::to_string(returncode));
}

}  // namespace loopcheck::detail
