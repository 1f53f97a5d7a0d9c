// Stateful property: any program of call_soon / call_at / call_later / cancel / clock
// moves / run_once passes (with callbacks that schedule or cancel more) runs its callbacks
// on the reference EventLoop in exactly the order the CPython scheduler model gives, and
// leaves the same ready queue, heap array and cancelled-timer count after every step.
//
// Deadlines come from a tiny set, so equal deadlines are common; the loop's clock is manual
// (sut/manual_clock_syscalls.hpp), so nothing depends on wall time. A failing case prints
// the shrunk program as scenario lines.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "model/scheduler_model.hpp"
#include "model/step_generator.hpp"
#include "sut/scheduler_compare.hpp"
#include "sut/scheduler_sut.hpp"

namespace loopcheck::sut {
namespace {

using model::CallbackId;
using model::SchedulerModel;
using model::Step;

struct RcPick {
  int operator()(int lo, int hi) const { return *rc::gen::inRange(lo, hi + 1); }
};

// Every id a step refers to must exist (shrinking removes the steps that created them).
bool targets_exist(const Step& step, const SchedulerModel& m) {
  for (CallbackId id : step.targets)
    if (id >= m.handle_count()) return false;
  for (const model::Action& a : step.actions)
    if (a.kind == model::Action::Kind::Cancel && a.target >= m.handle_count()) return false;
  return true;
}

template <Step::Kind K>
struct StepCommand : rc::state::Command<SchedulerModel, SchedulerSut> {
  // first_id is refreshed in apply(): once shrinking drops earlier steps, the callbacks
  // this step creates get other numbers, and show() should print those.
  mutable Step step;

  explicit StepCommand(const SchedulerModel& m) {
    RcPick pick;
    step = model::generate_step(K, m, pick);
  }

  void checkPreconditions(const SchedulerModel& m) const override { RC_PRE(targets_exist(step, m)); }

  void apply(SchedulerModel& m) const override {
    step.first_id = static_cast<CallbackId>(m.handle_count());
    model::apply_step(step, m);
  }

  void run(const SchedulerModel& m, SchedulerSut& sut) const override {
    SchedulerModel expected = m;
    std::vector<CallbackId> expected_ran = model::apply_step(step, expected);
    std::vector<CallbackId> ran = model::apply_step(step, sut);
    std::string diff = compare_with_model(expected, expected_ran, sut, ran);
    if (!diff.empty()) RC_FAIL("after `" + model::show_step(step) + "`:\n" + diff);
  }

  void show(std::ostream& os) const override { os << model::show_step(step); }
};

using CallSoon = StepCommand<Step::Kind::CallSoon>;
using CallAt = StepCommand<Step::Kind::CallAt>;
using CallLater = StepCommand<Step::Kind::CallLater>;
using CallAtMany = StepCommand<Step::Kind::CallAtMany>;
using Cancel = StepCommand<Step::Kind::Cancel>;
using CancelMany = StepCommand<Step::Kind::CancelMany>;
using Advance = StepCommand<Step::Kind::Advance>;
using RunOnce = StepCommand<Step::Kind::RunOnce>;

// Runs passes, each after moving the clock past every deadline so far, until nothing is
// left (children never schedule more), comparing each pass, so every scheduled callback is
// eventually checked.
void drain(SchedulerModel& m, SchedulerSut& sut) {
  for (int pass = 0; pass < 1000 && !m.idle(); ++pass) {
    m.advance(10);
    sut.advance(10);
    std::vector<CallbackId> expected_ran = m.run_once();
    std::vector<CallbackId> ran = sut.run_once();
    std::string diff = compare_with_model(m, expected_ran, sut, ran);
    if (!diff.empty()) RC_FAIL("while draining (block 10; run_once; ...):\n" + diff);
  }
  RC_ASSERT(m.idle());
  RC_ASSERT(sut.log() == m.log());
}

RC_GTEST_PROP(SchedulerProperty, CallbacksRunInTheModelsOrder, ()) {
  const SchedulerModel initial;
  auto commands = *rc::state::gen::commands(
      initial, rc::state::gen::execOneOfWithArgs<RunOnce, RunOnce, RunOnce, CallAt, CallAt, CallAt, CallSoon, CallSoon,
                                                 CallLater, Cancel, Cancel, Advance, CallAtMany, CancelMany>());
  SchedulerSut sut(initial.t0());
  rc::state::runAll(commands, initial, sut);
  SchedulerModel final_model = initial;
  for (const auto& command : commands) command->apply(final_model);
  drain(final_model, sut);
  // Shows in the output how often the interesting paths are reached.
  RC_CLASSIFY(final_model.heap_rebuilds() > 0, "heap rebuilt");
  RC_CLASSIFY(final_model.log().size() >= 100, "100+ callbacks ran");
}

}  // namespace
}  // namespace loopcheck::sut
