// Stateful property: random sequences of add / remove / cancel / raise / run-passes across
// six signals (SIGHUP, SIGWINCH, SIGURG and three real-time signals) on the reference loop,
// checked step by step against the model in signal_registry_model.hpp: each delivered
// signal byte is dispatched at most once, never to a handler removed before the byte was
// read, in write order; cancelled handles unregister on delivery; dispositions and the
// wakeup fd follow the table. Every program ends with a signal raised while the loop blocks
// in its poll, which must reach each live handler (no lost wakeup), and with close(), after
// which every disposition is SIG_DFL and the wakeup fd is off.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <memory>

#include "signal_registry_model.hpp"

namespace {

namespace sm = loopcheck::sigmodel;
using Sut = sm::Sut;
using Model = sm::Model;

rc::Gen<int> signal_gen() { return rc::gen::elementOf(sm::signals()); }

struct SignalCommand : rc::state::Command<Model, Sut> {
  sm::Op op;
  explicit SignalCommand(sm::Op o) : op(o) {}
  void checkPreconditions(const Model& m) const override { RC_PRE(m.allows(op)); }
  void apply(Model& m) const override { m.apply(op); }
  void run(const Model& m, Sut& sut) const override {
    Model copy = m;
    std::string err = sm::step(copy, sut, op);
    RC_ASSERT(err == "");
  }
  void show(std::ostream& os) const override { os << sm::show(op); }
};

struct Add : SignalCommand {
  Add() : SignalCommand({sm::Kind::Add, *signal_gen(), 1}) {}
};
struct Remove : SignalCommand {
  Remove() : SignalCommand({sm::Kind::Remove, *signal_gen(), 1}) {}
};
struct Cancel : SignalCommand {
  Cancel() : SignalCommand({sm::Kind::Cancel, *signal_gen(), 1}) {}
};
struct Raise : SignalCommand {
  Raise() : SignalCommand({sm::Kind::Raise, *signal_gen(), *rc::gen::inRange(1, 17)}) {}
};
struct Iterate : SignalCommand {
  Iterate() : SignalCommand({sm::Kind::Iterate, 0, *rc::gen::inRange(1, 3)}) {}
};

RC_GTEST_PROP(SignalRegistry, LoopAgreesWithTheModelAndLosesNoWakeup, ()) {
  const Model initial;
  auto commands = *rc::state::gen::commands(
      initial, rc::state::gen::execOneOfWithArgs<Add, Add, Remove, Cancel, Raise, Raise, Iterate, Iterate>());
  Sut sut;
  rc::state::runAll(commands, initial, sut);
  Model final_model = initial;
  rc::state::applyAll(commands, final_model);
  std::string err = sm::finish(final_model, sut);
  RC_ASSERT(err == "");
}

}  // namespace
