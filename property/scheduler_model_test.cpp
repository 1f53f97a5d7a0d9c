// The scheduler model on its own: CPython behaviours from the spec catalogue, then random
// programs replayed on CPython's real asyncio loop (property/asyncio_oracle.py) when
// python3 is on PATH, comparing the full state after every step.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "model/scheduler_model.hpp"
#include "model/step_generator.hpp"

namespace loopcheck::model {
namespace {

using Ids = std::vector<CallbackId>;

// B-LOOP-2: call_soon(a) (a schedules a child), call_soon(b), call_later(0, t0),
// call_later(-5, tneg) → a, b, tneg, t0, then the child on the next pass.
TEST(SchedulerModel, OnePassRunsASnapshotOfTheReadyQueue) {
  SchedulerModel m;
  CallbackId a = m.call_soon({Action{Action::Kind::CallSoon}});
  CallbackId b = m.call_soon();
  CallbackId t0 = m.call_later(0);
  CallbackId tneg = m.call_later(-5);
  EXPECT_EQ(m.run_once(), (Ids{a, b, tneg, t0}));
  EXPECT_EQ(m.run_once(), (Ids{4}));
  EXPECT_TRUE(m.idle());
}

// B-LOOP-6: more than 100 scheduled with more than half cancelled → rebuild, count reset.
TEST(SchedulerModel, CancelledTimerCleanupRebuildsPastTheThreshold) {
  SchedulerModel m;
  for (int i = 0; i < 102; ++i) m.call_at(m.t0() + 10);
  for (CallbackId id = 0; id < 52; ++id) m.cancel(id);
  EXPECT_EQ(m.timer_cancelled_count(), 52u);
  m.run_once();
  EXPECT_EQ(m.scheduled_count(), 50u);
  EXPECT_EQ(m.timer_cancelled_count(), 0u);
}

TEST(SchedulerModel, BelowTheThresholdOnlyTheHeadIsPurged) {
  SchedulerModel m;
  CallbackId first = m.call_at(m.t0() + 1);
  m.call_at(m.t0() + 2);
  CallbackId third = m.call_at(m.t0() + 3);
  m.cancel(first);
  m.cancel(third);
  m.cancel(third);  // a second cancel changes nothing
  EXPECT_EQ(m.timer_cancelled_count(), 2u);
  m.run_once();
  EXPECT_EQ(m.scheduled_count(), 2u);
  EXPECT_EQ(m.timer_cancelled_count(), 1u);
}

// A cancelled timer that becomes due is moved to the ready queue and skipped, and the
// count is not lowered (CPython's _run_once does the same).
TEST(SchedulerModel, CancelledDueTimerIsSkippedAndStillCounted) {
  SchedulerModel m;
  m.call_at(m.t0());
  CallbackId second = m.call_at(m.t0());
  m.cancel(second);
  EXPECT_EQ(m.run_once(), (Ids{0}));
  EXPECT_EQ(m.timer_cancelled_count(), 1u);
}

// ---- live cross-check against CPython ------------------------------------------------

std::string machine_actions(const std::vector<Action>& actions) {
  std::string out;
  for (const Action& a : actions) {
    switch (a.kind) {
      case Action::Kind::CallSoon: out += " s"; break;
      case Action::Kind::CallAt: out += " a=" + show_number(a.time); break;
      case Action::Kind::CallLater: out += " l=" + show_number(a.time); break;
      case Action::Kind::Cancel: out += " c=" + std::to_string(a.target); break;
    }
  }
  return out;
}

// The step in asyncio_oracle.py's program syntax (several lines for a batch; the oracle
// prints one state line per program line, so a batch is compared after its last line).
std::vector<std::string> machine_lines(const Step& s) {
  switch (s.kind) {
    case Step::Kind::CallSoon: return {"soon" + machine_actions(s.actions)};
    case Step::Kind::CallAt: return {"at " + show_number(s.time) + machine_actions(s.actions)};
    case Step::Kind::CallLater: return {"later " + show_number(s.time) + machine_actions(s.actions)};
    case Step::Kind::CallAtMany: {
      std::vector<std::string> lines;
      for (double w : s.offsets) lines.push_back("at " + show_number(w));
      return lines;
    }
    case Step::Kind::Cancel:
    case Step::Kind::CancelMany: {
      std::string line = "cancel";
      for (CallbackId id : s.targets) line += " " + std::to_string(id);
      return {line};
    }
    case Step::Kind::Advance: return {"advance " + show_number(s.time)};
    case Step::Kind::RunOnce: return {"run"};
  }
  return {};
}

std::string state_line(const SchedulerModel& m, const Ids& ran) {
  std::ostringstream out;
  out << "ran";
  for (CallbackId id : ran) out << ' ' << id;
  out << "|ready " << m.ready_count() << "|sched " << m.scheduled_count() << "|cancelled " << m.timer_cancelled_count()
      << "|heap";
  for (CallbackId id : m.heap()) out << ' ' << id;
  return out.str();
}

bool python3_available() { return std::system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0; }

std::vector<std::string> run_oracle(const std::string& program) {
  auto path = std::filesystem::temp_directory_path() / ("loopcheck_sched_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << program;
  std::vector<std::string> lines;
  std::string command = std::string("python3 ") + LOOPCHECK_ASYNCIO_ORACLE + " " + path.string();
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[1 << 16];
    while (std::fgets(buf, sizeof buf, p)) {
      std::string line(buf);
      if (!line.empty() && line.back() == '\n') line.pop_back();
      lines.push_back(line);
    }
    ::pclose(p);
  }
  std::filesystem::remove(path);
  return lines;
}

TEST(SchedulerModel, RandomProgramsMatchCPythonAsyncio) {
  if (!python3_available()) GTEST_SKIP() << "python3 not on PATH";
  std::mt19937 rng(1123);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::size_t rebuilds = 0;
  for (int round = 0; round < 25; ++round) {
    SchedulerModel m;
    std::string program, shown;
    std::vector<std::string> expected;
    for (int i = 0; i < 120; ++i) {
      Step step = generate_step(m, pick);
      std::vector<std::string> lines = machine_lines(step);
      Ids ran = apply_step(step, m);
      shown += show_step(step) + "\n";
      for (std::size_t k = 0; k < lines.size(); ++k) {
        program += lines[k] + "\n";
        // Only the state after a step's last line is compared.
        expected.push_back(k + 1 == lines.size() ? state_line(m, ran) : "");
      }
    }
    std::vector<std::string> actual = run_oracle(program);
    ASSERT_EQ(actual.size(), expected.size()) << "oracle failed on round " << round;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (expected[i].empty()) continue;
      ASSERT_EQ(actual[i], expected[i]) << "round " << round << ", program line " << i + 1 << "\nscenario:\n" << shown;
    }
    rebuilds += m.heap_rebuilds();
  }
  EXPECT_GT(rebuilds, 0u) << "the programs never reached the cancelled-timer rebuild";
}

}  // namespace
}  // namespace loopcheck::model
