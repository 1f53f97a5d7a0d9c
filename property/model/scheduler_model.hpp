// A plain model of CPython's asyncio scheduler (BaseEventLoop: call_soon, call_at,
// call_later, TimerHandle.cancel and _run_once), used as the oracle for the reference loop.
//
// The model has a FIFO ready queue and a timer heap driven by Python's heapq algorithm
// (heapq.hpp), compared on `when` only. One pass (run_once) does what _run_once does:
//   1. if more than 100 timers are scheduled and more than half of them are cancelled,
//      rebuild the heap without them (heapify) and reset the cancelled count; otherwise pop
//      cancelled timers off the head (each pop lowers the count);
//   2. (the poll: this model has no I/O);
//   3. move every timer with when < now + clock_resolution to the ready queue, in
//      heap-pop order (the count is not lowered for cancelled ones moved this way, as in
//      CPython);
//   4. run as many handles as were ready at that point, skipping cancelled ones; whatever
//      they schedule waits for the next pass.
// The clock only moves when advance() is called.
//
// A callback is identified by the order it was created in (0, 1, 2, ...). Running one
// records its id and then performs its actions, which may schedule action-less children or
// cancel any handle. Callers keep the same numbering in the loop under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "heapq.hpp"

namespace loopcheck::model {

using CallbackId = std::uint32_t;

// Something a callback does when it runs.
struct Action {
  enum class Kind : std::uint8_t { CallSoon, CallAt, CallLater, Cancel };
  Kind kind = Kind::CallSoon;
  double time = 0;        // CallAt: seconds after t0; CallLater: the delay
  CallbackId target = 0;  // Cancel: the handle to cancel
};

class SchedulerModel {
 public:
  // CPython's _MIN_SCHEDULED_TIMER_HANDLES and _MIN_CANCELLED_TIMER_HANDLES_FRACTION.
  static constexpr std::size_t kMinScheduledForCleanup = 100;
  static constexpr double kCancelledFractionForCleanup = 0.5;

  explicit SchedulerModel(double t0 = 1000.0, double clock_resolution = 1e-9)
      : t0_(t0), now_(t0), clock_resolution_(clock_resolution) {}

  double t0() const noexcept { return t0_; }
  double time() const noexcept { return now_; }
  void advance(double seconds) noexcept { now_ += seconds; }

  CallbackId call_soon(std::vector<Action> actions = {}) {
    CallbackId id = new_handle(false, 0, std::move(actions));
    ready_.push_back(id);
    return id;
  }
  // `when` is absolute (on the model's clock).
  CallbackId call_at(double when, std::vector<Action> actions = {}) {
    CallbackId id = new_handle(true, when, std::move(actions));
    handles_[id].scheduled = true;
    heappush(heap_, id, earlier());
    return id;
  }
  CallbackId call_later(double delay, std::vector<Action> actions = {}) {
    return call_at(time() + delay, std::move(actions));
  }

  // Handle.cancel / TimerHandle.cancel: a second cancel changes nothing; a timer still in
  // the heap bumps the cancelled count.
  void cancel(CallbackId id) {
    HandleState& h = handles_.at(id);
    if (h.cancelled) return;
    if (h.timer && h.scheduled) ++cancelled_count_;
    h.cancelled = true;
  }

  // One _run_once pass; returns the ids that ran, in order (also appended to log()).
  std::vector<CallbackId> run_once() {
    purge_cancelled_timers();
    move_due_timers();
    std::vector<CallbackId> ran;
    for (std::size_t n = ready_.size(); n > 0; --n) {
      CallbackId id = ready_.front();
      ready_.pop_front();
      if (handles_[id].cancelled) continue;
      ran.push_back(id);
      log_.push_back(id);
      running_ = id;
      perform(handles_[id].actions);
      running_ = kNoParent;
    }
    return ran;
  }

  // ---- inspection (the loop exposes the same figures) --------------------------------
  std::size_t handle_count() const noexcept { return handles_.size(); }
  std::size_t ready_count() const noexcept { return ready_.size(); }
  std::size_t scheduled_count() const noexcept { return heap_.size(); }
  std::size_t timer_cancelled_count() const noexcept { return cancelled_count_; }
  // The heap array as stored (index 0 is the next timer).
  const std::vector<CallbackId>& heap() const noexcept { return heap_; }
  const std::deque<CallbackId>& ready() const noexcept { return ready_; }
  const std::vector<CallbackId>& log() const noexcept { return log_; }
  bool is_timer(CallbackId id) const { return handles_.at(id).timer; }
  bool cancelled(CallbackId id) const { return handles_.at(id).cancelled; }
  // A timer still waiting in the heap and not cancelled.
  bool is_pending_timer(CallbackId id) const {
    const HandleState& h = handles_.at(id);
    return h.timer && h.scheduled && !h.cancelled;
  }
  double when(CallbackId id) const { return handles_.at(id).when; }
  const std::vector<Action>& actions(CallbackId id) const { return handles_.at(id).actions; }
  // The callback whose action created `id`, or kNoParent for one the program created.
  static constexpr CallbackId kNoParent = UINT32_MAX;
  CallbackId parent(CallbackId id) const { return handles_.at(id).parent; }
  // Nothing left that could ever run.
  bool idle() const noexcept { return ready_.empty() && heap_.empty(); }
  // How many passes rebuilt the heap (lets tests show they reach that path).
  std::size_t heap_rebuilds() const noexcept { return heap_rebuilds_; }

 private:
  struct HandleState {
    bool timer = false;
    bool cancelled = false;
    bool scheduled = false;  // timers only: still in the heap
    double when = 0;
    std::vector<Action> actions;
    CallbackId parent = kNoParent;
  };

  // TimerHandle.__lt__: deadlines only.
  struct Earlier {
    const std::vector<HandleState>* handles;
    bool operator()(CallbackId a, CallbackId b) const { return (*handles)[a].when < (*handles)[b].when; }
  };
  Earlier earlier() const { return Earlier{&handles_}; }

  CallbackId new_handle(bool timer, double when, std::vector<Action> actions) {
    handles_.push_back(HandleState{timer, false, false, when, std::move(actions), running_});
    return static_cast<CallbackId>(handles_.size() - 1);
  }

  void purge_cancelled_timers() {
    if (heap_.size() > kMinScheduledForCleanup &&
        static_cast<double>(cancelled_count_) / static_cast<double>(heap_.size()) > kCancelledFractionForCleanup) {
      std::vector<CallbackId> kept;
      for (CallbackId id : heap_) {
        if (handles_[id].cancelled)
          handles_[id].scheduled = false;
        else
          kept.push_back(id);
      }
      heapify(kept, earlier());
      heap_ = std::move(kept);
      cancelled_count_ = 0;
      ++heap_rebuilds_;
      return;
    }
    while (!heap_.empty() && handles_[heap_.front()].cancelled) {
      --cancelled_count_;
      CallbackId id = heappop(heap_, earlier());
      handles_[id].scheduled = false;
    }
  }

  void move_due_timers() {
    const double end_time = time() + clock_resolution_;
    while (!heap_.empty() && handles_[heap_.front()].when < end_time) {
      CallbackId id = heappop(heap_, earlier());
      handles_[id].scheduled = false;
      ready_.push_back(id);
    }
  }

  // Actions copied first: scheduling children grows handles_ and may move the vector.
  void perform(std::vector<Action> actions) {
    for (const Action& a : actions) {
      switch (a.kind) {
        case Action::Kind::CallSoon: call_soon(); break;
        case Action::Kind::CallAt: call_at(t0_ + a.time); break;
        case Action::Kind::CallLater: call_later(a.time); break;
        case Action::Kind::Cancel: cancel(a.target); break;
      }
    }
  }

  double t0_;
  double now_;
  double clock_resolution_;
  std::vector<HandleState> handles_;
  std::deque<CallbackId> ready_;
  std::vector<CallbackId> heap_;
  std::size_t cancelled_count_ = 0;
  std::size_t heap_rebuilds_ = 0;
  CallbackId running_ = kNoParent;
  std::vector<CallbackId> log_;
};

}  // namespace loopcheck::model
