// FlowControlMixin: water marks and the pause_writing/resume_writing calls.
#include "loopcheck/flow_control.hpp"

#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <typeinfo>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"

namespace loopcheck {

std::string protocol_repr(const BaseProtocol* protocol) {
  if (!protocol) return "None";
  return protocol->repr();
}

FlowControlMixin::FlowControlMixin(EventLoop* loop) : loop_(loop) { set_limits(std::nullopt, std::nullopt); }

void FlowControlMixin::set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
  std::size_t h = high ? *high : low ? 4 * *low : kDefaultHighWater;
  std::size_t l = low ? *low : h / 4;
  if (h < l)
    throw ValueError("high (" + std::to_string(h) + ") must be >= low (" + std::to_string(l) + ") must be >= 0");
  high_water_ = h;
  low_water_ = l;
}

void FlowControlMixin::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
  set_limits(high, low);
  maybe_pause_protocol();
}

void FlowControlMixin::maybe_pause_protocol() {
  if (get_write_buffer_size() <= high_water_ || protocol_paused_) return;
  protocol_paused_ = true;
  try {
    get_protocol()->pause_writing();
  } catch (...) {
    if (is_system_exit_or_keyboard_interrupt(std::current_exception())) throw;
    report_protocol_failure("protocol.pause_writing() failed");
  }
}

void FlowControlMixin::maybe_resume_protocol() {
  if (!protocol_paused_ || get_write_buffer_size() > low_water_) return;
  protocol_paused_ = false;
  try {
    get_protocol()->resume_writing();
  } catch (...) {
    if (is_system_exit_or_keyboard_interrupt(std::current_exception())) throw;
    report_protocol_failure("protocol.resume_writing() failed");
  }
}

// Called inside the catch block: the current exception is the protocol's.
void FlowControlMixin::report_protocol_failure(const char* message) {
  ExceptionContext context;
  context.message = message;
  context.exception = std::current_exception();
  context.set("transport", repr());
  context.set("protocol", protocol_repr(get_protocol().get()));
  loop_->call_exception_handler(context);
}

}  // namespace loopcheck
