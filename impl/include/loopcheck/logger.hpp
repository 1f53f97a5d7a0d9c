// The "asyncio" logger: where the loop's log records go.
//
// CPython logs through `logging.getLogger('asyncio')`; a record has a level, the message
// after %-formatting, and, when logged with exc_info, the exception. Here a record carries
// the formatted message and the exception text (the last line of Python's traceback,
// `ValueError: boom`), so a trace can compare both with a recording.
//
// The logger is process-wide, like Python's. The default one writes WARNING and above to
// stderr as `message` plus the exception text on the next line (Python's last-resort
// handler). Tests install a CapturingLogger.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace loopcheck {

// Python logging levels, with their numeric values.
enum class LogLevel : int { DEBUG = 10, INFO = 20, WARNING = 30, ERROR = 40, CRITICAL = 50 };

// "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL".
std::string_view log_level_name(LogLevel level);

struct LogRecord {
  LogLevel level;
  std::string message;   // already formatted, e.g. "Executing <Handle f> took 0.123 seconds"
  std::string exc_text;  // "" when logged without exc_info, else e.g. "ValueError: boom"
  std::string logger_name = "asyncio";
};

class Logger {
 public:
  virtual ~Logger() = default;
  // Cheap gate checked before formatting, like Logger.isEnabledFor().
  virtual bool is_enabled_for(LogLevel level) const = 0;
  // Must not throw; a logger that throws is treated like a failing logging handler.
  virtual void log(const LogRecord& record) = 0;
};

// Writes records at or above `min_level` to stderr: "message\nexc_text\n".
class StderrLogger : public Logger {
 public:
  explicit StderrLogger(LogLevel min_level = LogLevel::WARNING) : min_level_(min_level) {}
  bool is_enabled_for(LogLevel level) const override { return level >= min_level_; }
  void log(const LogRecord& record) override;

 private:
  LogLevel min_level_;
};

// Keeps every record at or above `min_level` (default: all). Thread-safe.
class CapturingLogger : public Logger {
 public:
  explicit CapturingLogger(LogLevel min_level = LogLevel::DEBUG) : min_level_(min_level) {}
  bool is_enabled_for(LogLevel level) const override { return level >= min_level_; }
  void log(const LogRecord& record) override;
  std::vector<LogRecord> records() const;
  // Records at or above `level` (e.g. WARNING: what a trace compares).
  std::vector<LogRecord> records_at_least(LogLevel level) const;
  void clear();

 private:
  LogLevel min_level_;
  mutable std::mutex mu_;
  std::vector<LogRecord> records_;
};

// The current process-wide logger (a StderrLogger until set_logger is called).
std::shared_ptr<Logger> get_logger();
// Installs `logger` (nullptr restores the default) and returns the previous one.
std::shared_ptr<Logger> set_logger(std::shared_ptr<Logger> logger);

// Installs a logger for the lifetime of the object, then restores the previous one.
class ScopedLogger {
 public:
  explicit ScopedLogger(std::shared_ptr<Logger> logger) : previous_(set_logger(std::move(logger))) {}
  ~ScopedLogger() { set_logger(std::move(previous_)); }
  ScopedLogger(const ScopedLogger&) = delete;
  ScopedLogger& operator=(const ScopedLogger&) = delete;

 private:
  std::shared_ptr<Logger> previous_;
};

// logger.<level>(message[, exc_info]) on the current logger; formatting is the caller's.
void log(LogLevel level, std::string message, std::string exc_text = {});
bool log_enabled_for(LogLevel level);

}  // namespace loopcheck
