// Helpers shared by the unit tests: a captured log, a trace of callback names, deadlines.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

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

// Real syscalls, with every epoll_wait timeout recorded.
struct EpollWaitRecorder : RealSyscalls {
  std::vector<int> timeouts;
  int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) override {
    timeouts.push_back(timeout_ms);
    return RealSyscalls::epoll_wait(epfd, events, maxevents, timeout_ms);
  }
};

}  // namespace loopcheck::test
