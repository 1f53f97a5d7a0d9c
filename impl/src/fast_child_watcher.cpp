// FastChildWatcher: on SIGCHLD, waitpid(-1, WNOHANG) until no exited child is left.
#include <algorithm>

#include "child_status.hpp"
#include "deprecation.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"

namespace loopcheck {

FastChildWatcher::FastChildWatcher() { detail::warn_deprecated_watcher_api("FastChildWatcher"); }

void FastChildWatcher::close() {
  {
    std::lock_guard lock(mu_);
    callbacks_.clear();
    zombies_.clear();
  }
  BaseChildWatcher::close();
}

void FastChildWatcher::enter() {
  std::lock_guard lock(mu_);
  ++forks_;
}

void FastChildWatcher::exit() {
  std::string victims;
  {
    std::lock_guard lock(mu_);
    --forks_;
    if (forks_ || zombies_.empty()) return;
    // str() of the {pid: returncode} dict.
    victims = "{";
    for (const auto& [pid, returncode] : zombies_)
      victims += (victims.size() > 1 ? ", " : "") + std::to_string(pid) + ": " + std::to_string(returncode);
    victims += "}";
    zombies_.clear();
  }
  log(LogLevel::WARNING, "Caught subprocesses termination from unknown pids: " + victims);
}

void FastChildWatcher::add_child_handler(pid_t pid, ChildCallback callback, Label label) {
  int returncode;
  {
    std::lock_guard lock(mu_);
    if (!forks_) throw AssertionError("Must use the context manager");
    auto zombie = std::find_if(zombies_.begin(), zombies_.end(), [pid](const auto& z) { return z.first == pid; });
    if (zombie == zombies_.end()) {
      // Still running.
      callbacks_.insert_or_assign(pid, Registration{std::move(callback), std::move(label)});
      return;
    }
    returncode = zombie->second;
    zombies_.erase(zombie);
  }
  // It exited already: report now.
  callback(pid, returncode);
}

bool FastChildWatcher::remove_child_handler(pid_t pid) {
  std::lock_guard lock(mu_);
  return callbacks_.erase(pid) > 0;
}

void FastChildWatcher::do_waitpid_all() {
  // Signals coalesce: keep reaping while children have exited.
  for (;;) {
    auto result = detail::wait_child(-1, WNOHANG);
    if (!result || result->pid == 0) return;  // no child left / all alive
    pid_t pid = result->pid;
    int returncode = result->returncode;
    ChildCallback callback;
    {
      std::lock_guard lock(mu_);
      auto it = callbacks_.find(pid);
      if (it == callbacks_.end()) {
        if (forks_) {
          // It may not be registered yet.
          zombies_.emplace_back(pid, returncode);
          if (loop_debug() && log_enabled_for(LogLevel::DEBUG))
            log(LogLevel::DEBUG, "unknown process " + std::to_string(pid) + " exited with returncode " +
                                     std::to_string(returncode));
          continue;
        }
      } else {
        callback = std::move(it->second.callback);
        callbacks_.erase(it);
        detail::log_exit_debug(loop_debug(), pid, returncode);
      }
    }
    if (!callback) {
      log(LogLevel::WARNING, "Caught subprocess termination from unknown pid: " + std::to_string(pid) + " -> " +
                                 std::to_string(returncode));
    } else {
      callback(pid, returncode);
    }
  }
}

}  // namespace loopcheck
