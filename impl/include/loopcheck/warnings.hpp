// Python's warnings.warn() for the loop: what CPython emits as a warning rather than a log
// record (ResourceWarning "unclosed transport ..." from a transport's __del__).
//
// The handler is process-wide, like warnings.showwarning. The default one writes
// `CATEGORY: message` to stderr; a driver or a test installs its own.
#pragma once

#include <functional>
#include <string>

namespace loopcheck {

struct WarningRecord {
  std::string category;  // the Python class name, e.g. "ResourceWarning"
  std::string message;
};

using WarningHandler = std::function<void(const WarningRecord&)>;

// warnings.warn(message, category). Never throws (it runs in destructors): a throwing
// handler is ignored.
void warn(std::string message, std::string category) noexcept;

// Installs `handler` (empty restores the default) and returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);

// Installs a handler for the lifetime of the object, then restores the previous one.
class ScopedWarningHandler {
 public:
  explicit ScopedWarningHandler(WarningHandler handler) : previous_(set_warning_handler(std::move(handler))) {}
  ~ScopedWarningHandler() { set_warning_handler(std::move(previous_)); }
  ScopedWarningHandler(const ScopedWarningHandler&) = delete;
  ScopedWarningHandler& operator=(const ScopedWarningHandler&) = delete;

 private:
  WarningHandler previous_;
};

}  // namespace loopcheck
