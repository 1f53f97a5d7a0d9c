// Children a property forks for a child watcher: each exits with a chosen status or dies
// of a chosen signal, at once or when the test writes to its control pipe, so its exit
// can be ordered against the other steps. The test keeps a pidfd per child to see the
// exit without reaping it (a watcher may reap at any time), and reaps what is left.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace loopcheck::childprop {

// How a child ends: _exit(status) when signal == 0, else killed by `signal`.
struct Outcome {
  int status = 0;
  int signal = 0;
  // os.waitstatus_to_exitcode of that end: the status, or -signal.
  int returncode() const { return signal ? -signal : status; }
  std::string str() const {
    return signal ? "signal " + std::to_string(signal) + " (" + sigabbrev_np(signal) + ")"
                  : "exit " + std::to_string(status);
  }
};

// In the child (after fork: async-signal-safe calls only).
[[noreturn]] inline void end_child(Outcome how) {
  if (how.signal) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(how.signal, &dfl, nullptr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, how.signal);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::kill(::getpid(), how.signal);
  }
  ::_exit(how.status);
}

struct TestChild {
  pid_t pid = -1;
  int pidfd = -1;      // the test's own: readable once the child has exited
  int control = -1;    // write end of the control pipe (-1: exits at once, or released)
  Outcome how;

  bool exited() const {
    struct pollfd p = {pidfd, POLLIN, 0};
    int r;
    do {
      r = ::poll(&p, 1, 0);
    } while (r < 0 && errno == EINTR);
    return r == 1;
  }

  // True once the child has exited, false at the deadline.
  bool await_exit(std::chrono::milliseconds timeout) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      struct pollfd p = {pidfd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
      if (r == 1) return true;
      if (r == 0 || (r < 0 && errno != EINTR)) return false;
    }
  }

  // Lets a gated child end (one byte: the child ignores the write ends it inherited).
  void release() {
    if (control < 0) return;
    char byte = 1;
    ssize_t n;
    do {
      n = ::write(control, &byte, 1);
    } while (n < 0 && errno == EINTR);
    ::close(control);
    control = -1;
  }
};

// Forks a child that ends as `how`: at once, or (gated) once released.
inline TestChild spawn_child(Outcome how, bool gated) {
  int pipefd[2] = {-1, -1};
  if (gated && ::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    if (gated) {
      ::close(pipefd[1]);  // its own copy would keep the pipe open
      char byte;
      while (::read(pipefd[0], &byte, 1) < 0 && errno == EINTR) {
      }
    }
    end_child(how);
  }
  TestChild child;
  child.pid = pid;
  child.how = how;
  if (gated) {
    ::close(pipefd[0]);
    child.control = pipefd[1];
  }
  child.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (child.pidfd < 0) throw std::runtime_error("pidfd_open");
  return child;
}

// The test's own reap at the end of a case: the child's returncode, or nullopt when a
// watcher reaped it (ECHILD). Kills a child still running first (only after a failure).
inline std::optional<int> kill_and_reap(TestChild& child) {
  child.release();
  if (!child.exited()) ::kill(child.pid, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child.pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (child.pidfd >= 0) ::close(child.pidfd);
  child.pidfd = -1;
  if (r < 0) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// True if the process has a child left, running or a zombie (looks without reaping).
inline bool any_child_left() {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  return !(r < 0 && errno == ECHILD);
}

}  // namespace loopcheck::childprop
