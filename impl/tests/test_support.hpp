// Helpers shared by the unit tests: a captured log, a trace of callback names, deadlines.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"

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

// Runs the loop until `done()` is true, with a deadline: a stop callback scheduled for the
// deadline ends a hung run, and the test then fails on done().
template <class Pred>
bool run_until(EventLoop& loop, Pred done, int ms = 2000) {
  auto timer = loop.call_later(deadline_ms(ms).count() / 1000.0, [&loop] { loop.stop(); }, "deadline");
  for (;;) {
    if (done()) break;
    loop.run_once();
    if (timer->cancelled() || !loop.scheduled_count()) break;
  }
  bool ok = done();
  timer->cancel();
  return ok;
}

}  // namespace loopcheck::test
