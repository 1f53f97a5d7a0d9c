// asyncio.streams.FlowControlMixin and StreamWriter (3.13), as a subprocess's stdin uses them.
#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/streams.hpp"
#include "loopcheck/warnings.hpp"

namespace loopcheck {

void StreamFlowControl::flow_pause_writing() {
  if (paused_) throw AssertionError();
  paused_ = true;
}

void StreamFlowControl::flow_resume_writing() {
  if (!paused_) throw AssertionError();
  paused_ = false;
  for (auto& waiter : drain_waiters_)
    if (!waiter.done()) waiter.set_result();
}

void StreamFlowControl::flow_connection_lost(std::exception_ptr exc) {
  connection_lost_ = true;
  if (!paused_) return;  // wake up the writers only if paused
  for (auto& waiter : drain_waiters_) {
    if (waiter.done()) continue;
    if (exc)
      waiter.set_exception(exc);
    else
      waiter.set_result();
  }
}

Future<void> StreamFlowControl::drain_helper() {
  Future<void> result = flow_loop_.create_future<void>();
  if (connection_lost_) {
    result.set_exception(ConnectionResetError(OSError::Message{"Connection lost"}));
    return result;
  }
  if (!paused_) {
    result.set_result();
    return result;
  }
  Future<void> waiter = flow_loop_.create_future<void>();
  drain_waiters_.push_back(waiter);
  waiter.add_done_callback(
      [this, result](const Future<void>& w) mutable {
        // finally: self._drain_waiters.remove(waiter)
        std::erase(drain_waiters_, w);
        chain_future(w, result);
      },
      "Task.task_wakeup()");
  return result;
}

StreamWriter::~StreamWriter() {
  try {
    if (transport_->is_closing()) return;
    if (loop_.is_closed()) {
      warn("loop is closed", "ResourceWarning");
      return;
    }
    close();
    warn("unclosed " + repr(), "ResourceWarning");
  } catch (...) {  // __del__ cannot raise
  }
}

// if the transport is closing: await sleep(0); then await protocol._drain_helper()
Future<void> StreamWriter::drain() {
  Future<void> result = loop_.create_future<void>();
  auto helper = [protocol = protocol_, result]() mutable {
    auto p = protocol.lock();
    if (!p) return result.set_exception(AttributeError("'NoneType' object has no attribute '_drain_helper'"));
    Future<void> h = p->drain_helper();
    if (h.done()) return chain_future(h, result);
    h.add_done_callback([result](const Future<void>& f) mutable { chain_future(f, result); }, "Task.task_wakeup()");
  };
  if (transport_->is_closing())
    loop_.call_soon(std::move(helper), "Task.task_wakeup()");
  else
    helper();
  return result;
}

}  // namespace loopcheck
