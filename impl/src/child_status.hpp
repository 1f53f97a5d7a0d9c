// What every child watcher shares: reading a child's status and turning it into a
// returncode, and the WARNING texts CPython logs when the status was already read.
#pragma once

#include <sys/types.h>

#include <optional>

namespace loopcheck::detail {

// os.waitstatus_to_exitcode as asyncio uses it: the exit status, -SIGNAL for a signalled
// child, and the raw status for anything else (asyncio's fallback on ValueError).
int waitstatus_to_exitcode(int status) noexcept;

// os.waitpid(pid, options) through the syscall layer, retried on EINTR (PEP 475).
// nullopt when `pid` is not our child (ECHILD: someone else read its status); 0 pid in the
// result when WNOHANG found it running. Any other error raises the matching OSError.
struct WaitResult {
  pid_t pid;
  int returncode;
};
std::optional<WaitResult> wait_child(pid_t pid, int options);

// WARNING 'Unknown child process pid %d, will report returncode 255' (Safe, MultiLoop,
// Threaded).
void log_unknown_child(pid_t pid);
// WARNING 'child process pid %d exit status already read:  will report returncode 255'
// (Pidfd; two spaces, as CPython's message has).
void log_status_already_read(pid_t pid);
// DEBUG 'process %s exited with returncode %s' (logged only when `debug`).
void log_exit_debug(bool debug, pid_t pid, int returncode);

// The returncode a watcher reports when the status was read elsewhere.
inline constexpr int kUnknownReturncode = 255;

}  // namespace loopcheck::detail
