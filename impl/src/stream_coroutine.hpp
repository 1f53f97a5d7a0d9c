// StreamReader's read coroutines as futures: a step that runs again after every wake-up of
// _wait_for_data(), the way `while ...: await self._wait_for_data(name)` does.
#pragma once

#include "loopcheck/streams.hpp"

namespace loopcheck {

template <class T>
struct StreamReader::Coroutine {
  const char* name;                                  // for _wait_for_data's RuntimeError
  std::function<std::optional<T>()> step;            // the value, or nullopt to wait
  std::function<T(std::exception_ptr)> recover;      // except clauses; empty: none
  Future<T> result;
  std::optional<Future<void>> pending;               // the waiter this coroutine awaits
  typename Future<T>::CallbackId on_cancel = 0;       // result's callback while waiting
};

template <class T>
Future<T> StreamReader::start(std::shared_ptr<Coroutine<T>> co) {
  co->result = loop_.create_future<T>();
  resume(co);
  return co->result;
}

template <class T>
void StreamReader::resume(std::shared_ptr<Coroutine<T>> co) {
  try {
    if (auto value = co->step()) return co->result.set_result(std::move(*value));
    co->pending = wait_for_data(co->name);
    // Cancelling the task cancels the future it awaits, so _wait_for_data's finally runs.
    co->on_cancel = co->result.add_done_callback(
        [co](const Future<T>& r) {
          if (r.cancelled() && co->pending && !co->pending->done()) co->pending->cancel();
        },
        "Task.cancel()");
    co->pending->add_done_callback(
        [this, co](const Future<void>& w) {
          waiter_.reset();  // finally: self._waiter = None
          co->pending.reset();
          co->result.remove_done_callback(co->on_cancel);
          if (co->result.done()) return;  // the caller cancelled it
          if (w.cancelled()) return (void)co->result.cancel();
          if (auto e = w.exception()) return fail(co, e);
          resume(co);
        },
        "Task.task_wakeup()");
  } catch (...) {
    fail(co, std::current_exception());
  }
}

template <class T>
void StreamReader::fail(const std::shared_ptr<Coroutine<T>>& co, std::exception_ptr error) {
  if (!co->recover) return co->result.set_exception(error);
  try {
    co->result.set_result(co->recover(error));
  } catch (...) {
    co->result.set_exception(std::current_exception());
  }
}

}  // namespace loopcheck
