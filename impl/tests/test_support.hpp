// Helpers shared by the unit tests: a captured log, a trace of callback names, deadlines,
// what a call raised, a pipe.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck::test {

#ifndef LOOPCHECK_TIMEOUT_MULTIPLIER
#define LOOPCHECK_TIMEOUT_MULTIPLIER 1
#endif

// A deadline scaled for sanitizer builds.
inline std::chrono::milliseconds deadline_ms(int ms) {
  return std::chrono::milliseconds(ms * LOOPCHECK_TIMEOUT_MULTIPLIER);
}

// Installs a CapturingLogger for the test's lifetime.
struct CapturedLog {
  std::shared_ptr<CapturingLogger> logger = std::make_shared<CapturingLogger>();
  ScopedLogger scope{logger};

  // Records at WARNING and above (what a trace compares).
  std::vector<LogRecord> warnings() const { return logger->records_at_least(LogLevel::WARNING); }
};

// Callback names in the order they ran.
struct Trace {
  std::vector<std::string> events;
  auto add(std::string name) {
    return [this, name] { events.push_back(name); };
  }
};

// Runs passes until `done()` is true or the deadline passes (a timer marks it, so a pass
// never blocks beyond it). Returns done().
template <class Pred>
bool run_until(EventLoop& loop, Pred done, int ms = 2000) {
  bool expired = false;
  TimerHandleRef deadline =
      loop.call_later(static_cast<double>(deadline_ms(ms).count()) / 1000.0, [&expired] { expired = true; }, "deadline");
  while (!done() && !expired) loop.run_once();
  deadline->cancel();
  return done();
}

// run_until() with the loop running (run_forever, one pass at a time), for code that needs
// a running loop, such as the pidfd child watcher.
template <class Pred>
bool run_running_until(EventLoop& loop, Pred done, int ms = 5000) {
  bool expired = false;
  TimerHandleRef deadline =
      loop.call_later(static_cast<double>(deadline_ms(ms).count()) / 1000.0, [&expired] { expired = true; }, "deadline");
  while (!done() && !expired) {
    loop.stop();
    loop.run_forever();
  }
  deadline->cancel();
  return done();
}

// Real syscalls, with every epoll_wait timeout recorded.
struct EpollWaitRecorder : RealSyscalls {
  std::vector<int> timeouts;
  int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) override {
    timeouts.push_back(timeout_ms);
    return RealSyscalls::epoll_wait(epfd, events, maxevents, timeout_ms);
  }
};

// Runs `fn` and returns "Type: message" of what it threw, or "" if nothing.
template <class Fn>
std::string raised(Fn fn) {
  try {
    fn();
  } catch (const PyException& e) {
    return e.format_exception_only();
  }
  return "";
}

// A non-blocking pipe closed at the end of the test.
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
};

}  // namespace loopcheck::test
