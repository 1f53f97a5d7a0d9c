// The loop's exception handler: default_exception_handler and call_exception_handler.
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"

namespace loopcheck {

void EventLoop::default_exception_handler(const ExceptionContext& context) {
  std::string message = context.message.value_or("");
  if (message.empty()) message = "Unhandled exception in event loop";
  std::string exc_text = context.exception ? format_exception_only(context.exception) : "";

  std::string text = message;
  for (const std::string& key : context.keys()) {
    if (key == "message" || key == "exception") continue;
    std::string value = key == "handle" ? context.handle->repr() : *context.get(key);
    text += "\n" + key + ": " + value;
  }
  log(LogLevel::ERROR, std::move(text), std::move(exc_text));
}

namespace {

bool is_propagating_base_exception(const std::exception_ptr& e) { return is_system_exit_or_keyboard_interrupt(e); }

// logger.error(message, exc_info=True) from an except block; logging never raises.
void log_current_exception(const char* message) noexcept {
  try {
    log(LogLevel::ERROR, message, format_exception_only(std::current_exception()));
  } catch (...) {
  }
}

}  // namespace

void EventLoop::call_exception_handler(const ExceptionContext& context) {
  if (!exception_handler_) {
    try {
      default_exception_handler(context);
    } catch (...) {
      if (is_propagating_base_exception(std::current_exception())) throw;
      // Second protection layer for unexpected errors in the default implementation, as
      // well as for subclassed event loops with overloaded "default_exception_handler".
      log_current_exception("Exception in default exception handler");
    }
    return;
  }
  try {
    // Copy: the handler may replace itself while it runs.
    ExceptionHandler handler = exception_handler_;
    handler(*this, context);
  } catch (...) {
    std::exception_ptr exc = std::current_exception();
    if (is_propagating_base_exception(exc)) throw;
    try {
      ExceptionContext failure;
      failure.message = "Unhandled error in exception handler";
      failure.exception = exc;
      failure.set("context", context.repr());
      default_exception_handler(failure);
    } catch (...) {
      if (is_propagating_base_exception(std::current_exception())) throw;
      log_current_exception(
          "Exception in default exception handler while handling an unexpected error in custom exception "
          "handler");
    }
  }
}

}  // namespace loopcheck
