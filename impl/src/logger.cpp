// The process-wide "asyncio" logger and its two stock implementations.
#include "loopcheck/logger.hpp"

#include <cstdio>

namespace loopcheck {

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::DEBUG: return "DEBUG";
    case LogLevel::INFO: return "INFO";
    case LogLevel::WARNING: return "WARNING";
    case LogLevel::ERROR: return "ERROR";
    case LogLevel::CRITICAL: return "CRITICAL";
  }
  return "NOTSET";
}

void StderrLogger::log(const LogRecord& record) {
  if (!is_enabled_for(record.level)) return;
  std::string text = record.message + "\n";
  if (!record.exc_text.empty()) text += record.exc_text + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
}

void CapturingLogger::log(const LogRecord& record) {
  if (!is_enabled_for(record.level)) return;
  std::lock_guard lock(mu_);
  records_.push_back(record);
}

std::vector<LogRecord> CapturingLogger::records() const {
  std::lock_guard lock(mu_);
  return records_;
}

std::vector<LogRecord> CapturingLogger::records_at_least(LogLevel level) const {
  std::lock_guard lock(mu_);
  std::vector<LogRecord> out;
  for (const LogRecord& r : records_)
    if (r.level >= level) out.push_back(r);
  return out;
}

void CapturingLogger::clear() {
  std::lock_guard lock(mu_);
  records_.clear();
}

namespace {

std::mutex g_logger_mu;

std::shared_ptr<Logger>& current_logger() {
  static std::shared_ptr<Logger> logger = std::make_shared<StderrLogger>();
  return logger;
}

}  // namespace

std::shared_ptr<Logger> get_logger() {
  std::lock_guard lock(g_logger_mu);
  return current_logger();
}

std::shared_ptr<Logger> set_logger(std::shared_ptr<Logger> logger) {
  if (!logger) logger = std::make_shared<StderrLogger>();
  std::lock_guard lock(g_logger_mu);
  std::swap(current_logger(), logger);
  return logger;
}

void log(LogLevel level, std::string message, std::string exc_text) {
  std::shared_ptr<Logger> logger = get_logger();
  if (!logger->is_enabled_for(level)) return;
  logger->log(LogRecord{level, std::move(message), std::move(exc_text)});
}

bool log_enabled_for(LogLevel level) { return get_logger()->is_enabled_for(level); }

}  // namespace loopcheck
