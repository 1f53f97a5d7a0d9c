// SafeChildWatcher: on SIGCHLD, waitpid(pid, WNOHANG) for each registered child only.
#include "child_status.hpp"
#include "deprecation.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"

namespace loopcheck {

SafeChildWatcher::SafeChildWatcher() { detail::warn_deprecated_watcher_api("SafeChildWatcher"); }

void SafeChildWatcher::close() {
  callbacks_.clear();
  BaseChildWatcher::close();
}

void SafeChildWatcher::add_child_handler(pid_t pid, ChildCallback callback, Label label) {
  callbacks_.insert_or_assign(pid, Registration{std::move(callback), std::move(label)});
  // The child may have exited already.
  do_waitpid(pid);
}

bool SafeChildWatcher::remove_child_handler(pid_t pid) { return callbacks_.erase(pid) > 0; }

void SafeChildWatcher::do_waitpid_all() {
  std::vector<pid_t> pids;
  for (const auto& entry : callbacks_) pids.push_back(entry.first);
  for (pid_t pid : pids) do_waitpid(pid);
}

void SafeChildWatcher::do_waitpid(pid_t expected_pid) {
  if (expected_pid <= 0) throw AssertionError();
  auto result = detail::wait_child(expected_pid, WNOHANG);
  pid_t pid = expected_pid;
  int returncode;
  if (!result) {
    // Reaped elsewhere.
    returncode = detail::kUnknownReturncode;
    detail::log_unknown_child(pid);
  } else {
    if (result->pid == 0) return;  // still running
    returncode = result->returncode;
    detail::log_exit_debug(loop_debug(), expected_pid, returncode);
  }
  auto it = callbacks_.find(pid);
  if (it == callbacks_.end()) {
    // remove_child_handler() ran between the wait and here (CPython's KeyError branch).
    if (loop_debug())
      log(LogLevel::WARNING, "Child watcher got an unexpected pid: " + std::to_string(pid),
          "KeyError: " + std::to_string(pid));
    return;
  }
  ChildCallback callback = std::move(it->second.callback);
  callbacks_.erase(it);
  callback(pid, returncode);
}

}  // namespace loopcheck
