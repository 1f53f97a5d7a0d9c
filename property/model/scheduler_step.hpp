// One step of a scheduling program, applied the same way to the model and to a loop under
// test (any type with the SchedulerModel scheduling methods), and shown as a scenario line.
//
// Programs are what the rapidcheck property generates and what the fuzzer decodes from its
// bytes. A step that creates handles records the id its first handle gets, so the shown
// program names callbacks the way a scenario would (cb0, cb1, ...).
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "scheduler_model.hpp"

namespace loopcheck::model {

struct Step {
  enum class Kind : std::uint8_t { CallSoon, CallAt, CallLater, Cancel, CallAtMany, CancelMany, Advance, RunOnce };
  Kind kind = Kind::RunOnce;
  double time = 0;               // CallAt: seconds after t0; CallLater: delay; Advance: seconds
  std::vector<Action> actions;   // CallSoon/CallAt/CallLater: what the new callback does
  std::vector<double> offsets;   // CallAtMany: one timer per entry, seconds after t0
  std::vector<CallbackId> targets;  // Cancel (one) and CancelMany
  CallbackId first_id = 0;       // id of the first handle the step creates
};

// Applies `step`; returns the ids that ran (run_once only).
template <class Scheduler>
std::vector<CallbackId> apply_step(const Step& step, Scheduler& s) {
  switch (step.kind) {
    case Step::Kind::CallSoon: s.call_soon(step.actions); break;
    case Step::Kind::CallAt: s.call_at(s.t0() + step.time, step.actions); break;
    case Step::Kind::CallLater: s.call_later(step.time, step.actions); break;
    case Step::Kind::CallAtMany:
      for (double offset : step.offsets) s.call_at(s.t0() + offset, {});
      break;
    case Step::Kind::Cancel:
    case Step::Kind::CancelMany:
      for (CallbackId id : step.targets) s.cancel(id);
      break;
    case Step::Kind::Advance: s.advance(step.time); break;
    case Step::Kind::RunOnce: return s.run_once();
  }
  return {};
}

inline std::string callback_name(CallbackId id) { return "cb" + std::to_string(id); }

inline std::string show_number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

inline std::string show_action(const Action& a) {
  switch (a.kind) {
    case Action::Kind::CallSoon: return "call_soon child";
    case Action::Kind::CallAt: return "call_at " + show_number(a.time) + " child";
    case Action::Kind::CallLater: return "call_later " + show_number(a.time) + " child";
    case Action::Kind::Cancel: return "cancel " + callback_name(a.target);
  }
  return "?";
}

// The step as scenario lines (`call_at 2 cb4`, `on cb4: call_soon child; cancel cb1`,
// `run_once`). The clock has no scenario step of its own; advancing it shows as `block`.
inline std::string show_step(const Step& step) {
  std::string out;
  auto with_actions = [&](std::string line) {
    out = std::move(line);
    if (step.actions.empty()) return;
    out += "\non " + callback_name(step.first_id) + ":";
    for (std::size_t i = 0; i < step.actions.size(); ++i) out += (i ? "; " : " ") + show_action(step.actions[i]);
  };
  const std::string name = callback_name(step.first_id);
  switch (step.kind) {
    case Step::Kind::CallSoon: with_actions("call_soon " + name); break;
    case Step::Kind::CallAt: with_actions("call_at " + show_number(step.time) + " " + name); break;
    case Step::Kind::CallLater: with_actions("call_later " + show_number(step.time) + " " + name); break;
    case Step::Kind::CallAtMany:
      for (std::size_t i = 0; i < step.offsets.size(); ++i)
        out += (i ? "\n" : "") + std::string("call_at ") + show_number(step.offsets[i]) + " " +
               callback_name(step.first_id + static_cast<CallbackId>(i));
      break;
    case Step::Kind::Cancel:
    case Step::Kind::CancelMany:
      for (std::size_t i = 0; i < step.targets.size(); ++i) out += (i ? "\n" : "") + std::string("cancel ") + callback_name(step.targets[i]);
      if (step.targets.empty()) out = "# cancel: nothing to cancel";
      break;
    case Step::Kind::Advance: out = "block " + show_number(step.time); break;
    case Step::Kind::RunOnce: out = "run_once"; break;
  }
  return out;
}

}  // namespace loopcheck::model
