// Fuzz target: turns its input into a scheduling program (call_soon, call_at and
// call_later with few distinct deadlines, cancels, clock moves, run_once passes, callbacks
// that schedule or cancel more) and runs it on the reference EventLoop and on the CPython
// scheduler model side by side. After every step the callbacks that ran, the ready and heap
// sizes, the cancelled-timer count and the heap array must agree; at the end every
// remaining callback is run and compared too.
//
// On a disagreement it prints the program as scenario lines and aborts; nothing else ends
// the process. Work per input is bounded by kMaxSteps and kMaxHandles. With
// LOOPCHECK_FUZZ_SHOW=1 in the environment every input's program is printed (to read a
// corpus file or a crash input).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/scheduler_model.hpp"
#include "model/step_generator.hpp"
#include "sut/scheduler_compare.hpp"
#include "sut/scheduler_sut.hpp"

namespace {

using loopcheck::model::CallbackId;
using loopcheck::model::SchedulerModel;
using loopcheck::model::Step;
using loopcheck::sut::SchedulerSut;

constexpr int kMaxSteps = 128;
// Comparing the heap after each step costs O(timers): stop adding steps past this many
// handles so one input cannot take seconds.
constexpr std::size_t kMaxHandles = 600;
constexpr int kMaxDrainPasses = 64;

std::string show_program(const std::vector<Step>& program) {
  std::string shown;
  for (const Step& s : program) shown += loopcheck::model::show_step(s) + "\n";
  return shown;
}

[[noreturn]] void fail(const std::vector<Step>& program, const std::string& where, const std::string& diff) {
  std::fprintf(stderr, "scheduler_fuzzer: the loop disagrees with the CPython model %s:\n%s\nprogram:\n%s",
               where.c_str(), diff.c_str(), show_program(program).c_str());
  std::abort();
}

// `step` is the step just applied, or null while draining (named only on failure: showing
// a step per step would cost more than running it). The heap array, the costliest part, is
// compared after passes only: a wrong order elsewhere still shows in what runs.
void check(const SchedulerModel& m, const std::vector<CallbackId>& expected_ran, const SchedulerSut& sut,
           const std::vector<CallbackId>& ran, const std::vector<Step>& program, const Step* step) {
  const bool with_heap = !step || step->kind == Step::Kind::RunOnce;
  std::string diff = loopcheck::sut::compare_with_model(m, expected_ran, sut, ran, with_heap);
  if (diff.empty()) return;
  fail(program, step ? "after `" + loopcheck::model::show_step(*step) + "`" : "while draining (block 10; run_once)", diff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  auto pick = [&](int lo, int hi) { return input.ConsumeIntegralInRange<int>(lo, hi); };

  SchedulerModel model;
  SchedulerSut sut(model.t0());
  std::vector<Step> program;
  for (int i = 0; i < kMaxSteps && input.remaining_bytes() > 0 && model.handle_count() < kMaxHandles; ++i) {
    program.push_back(loopcheck::model::generate_step(model, pick));
    const Step& step = program.back();
    std::vector<CallbackId> expected_ran = loopcheck::model::apply_step(step, model);
    std::vector<CallbackId> ran = loopcheck::model::apply_step(step, sut);
    check(model, expected_ran, sut, ran, program, &step);
  }
  // Children never schedule more, so a few passes with the clock moved past every
  // deadline run everything that is left.
  for (int pass = 0; pass < kMaxDrainPasses && !model.idle(); ++pass) {
    model.advance(10);
    sut.advance(10);
    std::vector<CallbackId> expected_ran = model.run_once();
    std::vector<CallbackId> ran = sut.run_once();
    check(model, expected_ran, sut, ran, program, nullptr);
  }
  if (!model.idle() || sut.log() != model.log()) fail(program, "at the end", "callbacks left over or logs differ\n");
  static const bool show = std::getenv("LOOPCHECK_FUZZ_SHOW") != nullptr;
  if (show) std::fprintf(stderr, "%s(%zu callbacks ran)\n", show_program(program).c_str(), model.log().size());
  return 0;
}
