// Builds random scheduling steps from any source of choices, so the rapidcheck property,
// the fuzzer (FuzzedDataProvider) and the live CPython cross-check share one generator.
//
// `pick(lo, hi)` returns an int in [lo, hi]. Deadlines come from a tiny set of whole
// seconds after t0 (ties are the point); the clock moves in whole seconds, so every time
// value is exact in double on the model and on the loop.
#pragma once

#include <algorithm>
#include <vector>

#include "scheduler_step.hpp"

namespace loopcheck::model {

struct StepLimits {
  int min_offset = -1;       // call_at / child call_at: seconds after t0
  int max_offset = 4;
  int min_delay = -1;        // call_later
  int max_delay = 3;
  int max_actions = 2;       // per callback
  int max_batch = 130;       // CallAtMany; more than 100 reaches the heap-rebuild path
};

template <class Pick>
Action generate_action(const SchedulerModel& m, Pick& pick, const StepLimits& lim) {
  Action a;
  switch (pick(0, 3)) {
    case 0: a.kind = Action::Kind::CallSoon; break;
    case 1: a.kind = Action::Kind::CallAt; a.time = pick(lim.min_offset, lim.max_offset); break;
    case 2: a.kind = Action::Kind::CallLater; a.time = pick(lim.min_delay, lim.max_delay); break;
    default:
      // Any existing handle: pending, already run or already cancelled.
      if (m.handle_count() == 0) break;
      a.kind = Action::Kind::Cancel;
      a.target = static_cast<CallbackId>(pick(0, static_cast<int>(m.handle_count()) - 1));
      break;
  }
  return a;
}

template <class Pick>
std::vector<Action> generate_actions(const SchedulerModel& m, Pick& pick, const StepLimits& lim) {
  // Mostly none, so that plain callbacks dominate.
  int n = std::max(0, pick(-lim.max_actions, lim.max_actions));
  std::vector<Action> actions;
  for (int i = 0; i < n; ++i) actions.push_back(generate_action(m, pick, lim));
  return actions;
}

inline std::vector<CallbackId> pending_timers(const SchedulerModel& m) {
  std::vector<CallbackId> ids;
  for (CallbackId id = 0; id < m.handle_count(); ++id)
    if (m.is_pending_timer(id)) ids.push_back(id);
  return ids;
}

template <class Pick>
Step generate_step(Step::Kind kind, const SchedulerModel& m, Pick& pick, const StepLimits& lim = {}) {
  Step s;
  s.kind = kind;
  s.first_id = static_cast<CallbackId>(m.handle_count());
  switch (kind) {
    case Step::Kind::CallSoon: s.actions = generate_actions(m, pick, lim); break;
    case Step::Kind::CallAt:
      s.time = pick(lim.min_offset, lim.max_offset);
      s.actions = generate_actions(m, pick, lim);
      break;
    case Step::Kind::CallLater:
      s.time = pick(lim.min_delay, lim.max_delay);
      s.actions = generate_actions(m, pick, lim);
      break;
    case Step::Kind::CallAtMany: {
      int n = pick(1, lim.max_batch);
      for (int i = 0; i < n; ++i) s.offsets.push_back(pick(lim.min_offset, lim.max_offset));
      break;
    }
    case Step::Kind::Cancel: {
      // Usually a live timer; otherwise any handle (cancelling twice or after the run
      // must change nothing).
      std::vector<CallbackId> live = pending_timers(m);
      if (!live.empty() && pick(0, 3) > 0)
        s.targets.push_back(live[static_cast<std::size_t>(pick(0, static_cast<int>(live.size()) - 1))]);
      else if (m.handle_count() > 0)
        s.targets.push_back(static_cast<CallbackId>(pick(0, static_cast<int>(m.handle_count()) - 1)));
      break;
    }
    case Step::Kind::CancelMany:
      // About three quarters of the live timers, enough to cross the rebuild threshold.
      for (CallbackId id : pending_timers(m))
        if (pick(0, 3) > 0) s.targets.push_back(id);
      break;
    case Step::Kind::Advance: s.time = pick(1, 2); break;
    case Step::Kind::RunOnce: break;
  }
  return s;
}

// Step kinds weighted towards scheduling and running.
template <class Pick>
Step::Kind pick_kind(Pick& pick) {
  static constexpr Step::Kind kinds[] = {
      Step::Kind::RunOnce,  Step::Kind::RunOnce,   Step::Kind::RunOnce,    Step::Kind::CallAt,
      Step::Kind::CallAt,   Step::Kind::CallAt,    Step::Kind::CallSoon,   Step::Kind::CallSoon,
      Step::Kind::CallLater, Step::Kind::Cancel,   Step::Kind::Cancel,     Step::Kind::Advance,
      Step::Kind::Advance,  Step::Kind::CallAtMany, Step::Kind::CancelMany, Step::Kind::CallAt,
  };
  return kinds[pick(0, static_cast<int>(std::size(kinds)) - 1)];
}

template <class Pick>
Step generate_step(const SchedulerModel& m, Pick& pick, const StepLimits& lim = {}) {
  return generate_step(pick_kind(pick), m, pick, lim);
}

}  // namespace loopcheck::model
