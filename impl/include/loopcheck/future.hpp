// Future<T> (asyncio.Future, CPython's C implementation _asyncio.Future).
//
// A Future is a shared reference: copies refer to the same future, as Python names do. Done
// callbacks are scheduled with loop.call_soon(cb, future) in registration order when the
// future completes (or right away if it is already done when added). Messages are CPython's:
// InvalidStateError('Result is not set.'), ('Exception is not set.'), ('invalid state');
// result() and exception() of a cancelled future raise CancelledError(<cancel message>).
//
// When the last reference to a future whose exception was never retrieved (result(),
// exception() or cancel()) goes away, the loop's exception handler gets {'message': 'Future
// exception was never retrieved', 'exception': exc, 'future': <repr>}, as CPython's
// Future.__del__ does -- unless the loop is gone by then. Reference cycles (a done callback
// capturing its own future) are only broken when the future completes: there is no cycle
// collector.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck {

enum class FutureState { PENDING, CANCELLED, FINISHED };

// Future.__del__'s report, if the loop still exists. Never throws.
void report_never_retrieved(const std::weak_ptr<const void>& loop_alive, EventLoop& loop,
                            const std::exception_ptr& exception) noexcept;

// Future's cb=[...] text in its repr, from the done callbacks' labels (CPython's
// _format_callbacks): `a()`, `a(), b()`, `a(), <2 more>, d()`.
std::string format_future_callbacks(const std::vector<std::string_view>& labels);

template <class T = void>
class Future {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  using DoneCallback = std::function<void(const Future&)>;
  using CallbackId = std::uint64_t;

  // A null future (valid() is false); use loop.create_future<T>().
  Future() = default;
  explicit Future(EventLoop& loop) : s_(std::make_shared<State>(loop)) {}

  bool valid() const noexcept { return s_ != nullptr; }
  EventLoop& get_loop() const noexcept { return *s_->loop; }
  FutureState state() const noexcept { return s_->state; }
  bool done() const noexcept { return s_->state != FutureState::PENDING; }
  bool cancelled() const noexcept { return s_->state == FutureState::CANCELLED; }

  // The result; rethrows the exception set with set_exception(); CancelledError when
  // cancelled; InvalidStateError('Result is not set.') while pending.
  decltype(auto) result() const {
    if (s_->state == FutureState::CANCELLED) throw make_cancelled_error();
    if (s_->state != FutureState::FINISHED) throw InvalidStateError("Result is not set.");
    s_->log_traceback = false;
    if (s_->exception) std::rethrow_exception(s_->exception);
    if constexpr (std::is_void_v<T>)
      return;
    else
      return static_cast<const T&>(*s_->value);
  }

  // The exception (null if the future has a result); CancelledError when cancelled;
  // InvalidStateError('Exception is not set.') while pending.
  std::exception_ptr exception() const {
    if (s_->state == FutureState::CANCELLED) throw make_cancelled_error();
    if (s_->state != FutureState::FINISHED) throw InvalidStateError("Exception is not set.");
    s_->log_traceback = false;
    return s_->exception;
  }

  template <class U = T>
    requires(!std::is_void_v<U>)
  void set_result(U value) {
    check_pending();
    s_->value.emplace(std::move(value));
    finish();
  }
  template <class U = T>
    requires std::is_void_v<U>
  void set_result() {
    check_pending();
    s_->value.emplace();
    finish();
  }

  void set_exception(std::exception_ptr exc) {
    check_pending();
    s_->exception = std::move(exc);
    s_->log_traceback = true;
    finish();
  }
  template <class E>
    requires std::is_base_of_v<std::exception, E>
  void set_exception(const E& exc) {
    set_exception(std::make_exception_ptr(exc));
  }

  // future.cancel(msg=None): false if already done; else schedules the callbacks.
  bool cancel(std::optional<std::string> msg = std::nullopt) {
    s_->log_traceback = false;
    if (s_->state != FutureState::PENDING) return false;
    s_->state = FutureState::CANCELLED;
    s_->cancel_message = std::move(msg);
    schedule_callbacks();
    return true;
  }

  // future.add_done_callback(cb): scheduled with call_soon at once if already done. The
  // label names the callback in handle reprs and in this future's repr.
  CallbackId add_done_callback(DoneCallback cb, Label label = {}) {
    CallbackId id = s_->next_id++;
    if (done()) {
      Future self = *this;
      s_->loop->call_soon([fn = std::move(cb), self]() { fn(self); }, std::move(label));
    } else {
      s_->callbacks.push_back(Entry{id, std::move(cb), std::move(label)});
    }
    return id;
  }
  // future.remove_done_callback(cb): removes the callback added under `id`; returns the
  // number removed (0 or 1).
  std::size_t remove_done_callback(CallbackId id) {
    return remove_if([id](const Entry& e) { return e.id == id; });
  }
  // Removes every pending callback with this label (CPython removes every equal callback).
  std::size_t remove_done_callback(std::string_view label) {
    return remove_if([label](const Entry& e) { return e.label.view() == label; });
  }

  // `<Future pending>`, `<Future pending cb=[f()]>`, `<Future cancelled>`,
  // `<Future finished result=1>`, `<Future finished exception=ValueError('x')>`.
  std::string repr() const {
    std::string out = "<Future ";
    switch (s_->state) {
      case FutureState::PENDING: out += "pending"; break;
      case FutureState::CANCELLED: out += "cancelled"; break;
      case FutureState::FINISHED:
        out += "finished";
        if (s_->exception) {
          out += " exception=" + exception_repr(s_->exception);
        } else if constexpr (std::is_void_v<T>) {
          out += " result=None";
        } else if constexpr (PyReprable<T>) {
          out += " result=" + py_repr(*s_->value);
        } else {
          out += " result=<object>";
        }
        break;
    }
    if (!s_->callbacks.empty()) {
      std::vector<std::string_view> labels;
      for (const Entry& e : s_->callbacks) labels.push_back(e.label.view());
      out += " " + format_future_callbacks(labels);
    }
    return out + ">";
  }

  friend bool operator==(const Future& a, const Future& b) noexcept { return a.s_ == b.s_; }

 private:
  struct Entry {
    CallbackId id;
    DoneCallback fn;
    Label label;
  };
  struct State {
    explicit State(EventLoop& l) : loop(&l), loop_alive(l.lifetime_token()) {}
    ~State() {
      if (log_traceback && exception) report_never_retrieved(loop_alive, *loop, exception);
    }
    EventLoop* loop;
    std::weak_ptr<const void> loop_alive;
    FutureState state = FutureState::PENDING;
    std::optional<Stored> value;
    std::exception_ptr exception;
    std::optional<std::string> cancel_message;
    std::vector<Entry> callbacks;
    CallbackId next_id = 1;
    bool log_traceback = false;
  };

  void check_pending() const {
    if (s_->state != FutureState::PENDING) throw InvalidStateError("invalid state");
  }
  void finish() {
    s_->state = FutureState::FINISHED;
    schedule_callbacks();
  }
  CancelledError make_cancelled_error() const { return CancelledError(s_->cancel_message.value_or("")); }

  // Future.__schedule_callbacks: the list is emptied first, then each callback is queued.
  void schedule_callbacks() {
    std::vector<Entry> callbacks = std::move(s_->callbacks);
    s_->callbacks.clear();
    for (Entry& e : callbacks) {
      Future self = *this;
      s_->loop->call_soon([fn = std::move(e.fn), self]() { fn(self); }, std::move(e.label));
    }
  }

  template <class Pred>
  std::size_t remove_if(Pred pred) {
    std::size_t before = s_->callbacks.size();
    std::erase_if(s_->callbacks, pred);
    return before - s_->callbacks.size();
  }

  std::shared_ptr<State> s_;
};

template <class T>
Future<T> EventLoop::create_future() {
  return Future<T>(*this);
}

template <class T>
T EventLoop::run_until_complete(Future<T> future) {
  check_closed();
  check_running();
  if (&future.get_loop() != this)
    throw ValueError("The future belongs to a different loop than the one specified as the loop argument");
  // base_events._run_until_complete_cb: stop the loop unless the future carries
  // SystemExit/KeyboardInterrupt (that one is already propagating out of run_forever).
  auto id = future.add_done_callback(
      [](const Future<T>& f) {
        if (!f.cancelled() && is_system_exit_or_keyboard_interrupt(f.exception())) return;
        f.get_loop().stop();
      },
      "_run_until_complete_cb");
  try {
    run_forever();
  } catch (...) {
    future.remove_done_callback(id);
    throw;
  }
  future.remove_done_callback(id);
  if (!future.done()) throw RuntimeError("Event loop stopped before Future completed.");
  return future.result();
}

}  // namespace loopcheck
