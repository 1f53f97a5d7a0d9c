// The reference EventLoop driven through the scheduling interface of
// model::SchedulerModel, so the same program (model::Step) runs on both.
//
// Callbacks are numbered in creation order, as in the model. Running one records its id and
// performs its actions on the loop. The loop reads a manual clock (installed process-wide
// for this object's lifetime; one instance at a time) that starts at t0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "manual_clock_syscalls.hpp"
#include "model/scheduler_model.hpp"

namespace loopcheck::sut {

using model::Action;
using model::CallbackId;

class SchedulerSut {
 public:
  explicit SchedulerSut(double t0 = 1000.0)
      : t0_(t0), clock_(static_cast<std::int64_t>(std::llround(t0 * 1e9))), installed_(clock_) {}
  ~SchedulerSut() {
    loop_.close();
    handles_.clear();
  }
  SchedulerSut(const SchedulerSut&) = delete;
  SchedulerSut& operator=(const SchedulerSut&) = delete;

  double t0() const noexcept { return t0_; }
  double time() const { return loop_.time(); }
  void advance(double seconds) noexcept { clock_.advance_ns(std::llround(seconds * 1e9)); }

  CallbackId call_soon(std::vector<Action> actions = {}) {
    CallbackId id = next_id(std::move(actions));
    handles_.push_back(loop_.call_soon([this, id] { on_run(id); }));
    return id;
  }
  CallbackId call_at(double when, std::vector<Action> actions = {}) {
    CallbackId id = next_id(std::move(actions));
    add_timer(loop_.call_at(when, [this, id] { on_run(id); }));
    return id;
  }
  CallbackId call_later(double delay, std::vector<Action> actions = {}) {
    CallbackId id = next_id(std::move(actions));
    add_timer(loop_.call_later(delay, [this, id] { on_run(id); }));
    return id;
  }
  void cancel(CallbackId id) { handles_.at(id)->cancel(); }

  std::vector<CallbackId> run_once() {
    std::size_t before = log_.size();
    loop_.run_once();
    return {log_.begin() + static_cast<std::ptrdiff_t>(before), log_.end()};
  }

  // ---- inspection -------------------------------------------------------------------
  std::size_t ready_count() const noexcept { return loop_.ready_count(); }
  std::size_t scheduled_count() const noexcept { return loop_.scheduled_count(); }
  std::size_t timer_cancelled_count() const noexcept { return loop_.timer_cancelled_count(); }
  // The loop's heap array as callback ids.
  std::vector<CallbackId> heap() const {
    std::vector<CallbackId> ids;
    for (const TimerHandleRef& t : loop_.scheduled_snapshot()) {
      auto it = timer_ids_.find(t.get());
      ids.push_back(it == timer_ids_.end() ? UINT32_MAX : it->second);
    }
    return ids;
  }
  bool cancelled(CallbackId id) const { return handles_.at(id)->cancelled(); }
  const std::vector<CallbackId>& log() const noexcept { return log_; }
  EventLoop& loop() noexcept { return loop_; }

 private:
  CallbackId next_id(std::vector<Action> actions) {
    actions_.push_back(std::move(actions));
    return static_cast<CallbackId>(actions_.size() - 1);
  }
  void add_timer(TimerHandleRef timer) {
    timer_ids_[timer.get()] = static_cast<CallbackId>(handles_.size());
    handles_.push_back(std::move(timer));
  }

  void on_run(CallbackId id) {
    log_.push_back(id);
    // Copied: children grow actions_.
    const std::vector<Action> actions = actions_[id];
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
  ManualClockSyscalls clock_;
  ScopedSyscalls installed_;
  EventLoop loop_;
  std::vector<HandleRef> handles_;             // by id; keeps every handle alive
  std::unordered_map<const TimerHandle*, CallbackId> timer_ids_;
  std::vector<std::vector<Action>> actions_;   // by id
  std::vector<CallbackId> log_;
};

}  // namespace loopcheck::sut
