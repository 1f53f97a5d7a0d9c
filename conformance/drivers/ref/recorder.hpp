// Recorder: turns what the loop does into trace events (INTERPRETING.md, section 4), sends
// each at once, and lets run_until wait for an event.
#pragma once

#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "protocol.hpp"

namespace loopcheck::ref {

class Recorder {
 public:
  explicit Recorder(Channel& channel) : channel_(channel) {}

  // One trace event: `kind arg...`. Arguments are JSON strings, numbers, booleans or null.
  void event(const std::string& kind, nlohmann::json args = nlohmann::json::array());
  // `raised OP TYPE MESSAGE` for an exception an API call threw.
  void raised(const std::string& op, const std::exception_ptr& error);
  // `returned OP VALUE...`.
  void returned(const std::string& op, nlohmann::json values);

  // run_until support: true (and consumed) when an event not yet seen by run_until matches.
  bool seen(const std::regex& pattern);
  // Calls `hit` once, right after the next matching event is sent.
  void watch(std::regex pattern, std::function<void()> hit);
  void unwatch() {
    std::lock_guard lock(mu_);
    watch_.reset();
  }

  // The `record` exception handler: `exception_handler MESSAGE TYPE TEXT KEYS`.
  void exception_handler(EventLoop& loop, const ExceptionContext& context);

  // Symbolic names (INTERPRETING.md 4): in string arguments, memory addresses become `0x?`
  // and the numbers in `fd=N` / `File descriptor N` the name last bound to N ("?" if none).
  void bind_fd(int fd, std::string name);
  std::string fd_name(int fd) const;
  std::string symbolic(std::string text) const;

  // The scenario's temporary directory, shown as `$TMP` in string arguments (steps_sockets.cpp).
  std::string tmpdir;
  // The child program's path, shown as `$CHILD` (after $TMP, as the Python driver does).
  std::string child_path;
  // Known pids become their child names in string arguments (`pid c1`), as the Python
  // driver does. Events may come from watcher threads too: `event` takes a lock.
  void bind_pid(pid_t pid, std::string name);

  int current_line = 0;
  bool active = true;

 private:
  struct Watch {
    std::regex pattern;
    std::function<void()> hit;
  };
  Channel& channel_;
  std::vector<std::string> texts_;
  std::size_t consumed_ = 0;
  std::optional<Watch> watch_;
  std::map<pid_t, std::string> pid_names_;
  std::recursive_mutex mu_;  // event() from watcher threads
  std::map<int, std::string> fd_names_;
};

// Sends log records at WARNING and above as `log LEVEL MESSAGE [TYPE TEXT]` events. After
// start_collecting() (`debug_log start`) it also keeps every record's message for
// `debug_log`: DEBUG/INFO ones and WARNING+ ones apart, measured durations as `#.###`.
class TraceLogger : public Logger {
 public:
  explicit TraceLogger(Recorder& recorder) : recorder_(recorder) {}
  bool is_enabled_for(LogLevel level) const override { return collecting_ || level >= LogLevel::WARNING; }
  void log(const LogRecord& record) override;

  void start_collecting() { collecting_ = true; }
  // The collected messages below WARNING (or, with `warnings`, at WARNING and above),
  // forgotten once taken.
  std::vector<std::string> take(bool warnings);

 private:
  Recorder& recorder_;
  bool collecting_ = false;
  std::vector<std::string> debug_;
  std::vector<std::string> warnings_;
};

// A `*` glob over a whole event line, as a regex.
std::regex glob_regex(const std::string& glob);

}  // namespace loopcheck::ref
