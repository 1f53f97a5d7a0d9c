// call_later / call_at: arguments, heap tie order, cancelled-timer cleanup
// (B-LOOP-4, B-LOOP-5, B-LOOP-6). Expected orders were recorded from CPython 3.13.0 and
// 3.11.7 (identical).
#include <gtest/gtest.h>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::Trace;

namespace {

std::vector<int> ints(const Trace& t) {
  std::vector<int> out;
  for (const auto& e : t.events) out.push_back(std::stoi(e));
  return out;
}

}  // namespace

TEST(Timers, NoneDelayOrWhenRaisesTypeError) {
  EventLoop loop;
  try {
    loop.call_later(std::nullopt, [] {});
    FAIL();
  } catch (const TypeError& e) {
    EXPECT_EQ(e.message(), "delay must not be None");
  }
  try {
    loop.call_at(std::nullopt, [] {});
    FAIL();
  } catch (const TypeError& e) {
    EXPECT_EQ(e.message(), "when cannot be None");
  }
  EXPECT_EQ(loop.scheduled_count(), 0u);
}

TEST(Timers, CallAtOnClosedLoopRaises) {
  EventLoop loop;
  loop.close();
  EXPECT_THROW(loop.call_at(1.0, [] {}), RuntimeError);
  EXPECT_THROW(loop.call_later(1.0, [] {}), RuntimeError);
}

TEST(Timers, CallLaterIsCallAtTimePlusDelay) {
  EventLoop loop;
  double before = loop.time();
  TimerHandleRef t = loop.call_later(10.0, [] {});
  double after = loop.time();
  EXPECT_GE(t->when(), before + 10.0);
  EXPECT_LE(t->when(), after + 10.0);
  t->cancel();
}

TEST(Timers, NegativeDelaysRunInWhenOrder) {
  // BE:test_call_later_negative_delays: delays -1 then -2 run as b, a.
  EventLoop loop;
  Trace t;
  loop.call_later(-1, t.add("a"));
  loop.call_later(-2, t.add("b"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"b", "a"}));
}

TEST(Timers, EqualDeadlinesPopInHeapqOrder) {
  // B-LOOP-5: 12 equal deadlines, then one later timer pushed after them.
  EventLoop loop;
  Trace t;
  for (int i = 0; i < 12; ++i) loop.call_at(1.0, t.add(std::to_string(i)));
  TimerHandleRef late = loop.call_later(3600, [] {});
  loop.run_once();
  EXPECT_EQ(ints(t), (std::vector<int>{0, 2, 6, 5, 11, 10, 9, 8, 7, 1, 3, 4}));
  late->cancel();
}

TEST(Timers, EqualDeadlinesWithoutExtraPush) {
  EventLoop loop;
  Trace t;
  for (int i = 0; i < 12; ++i) loop.call_at(1.0, t.add(std::to_string(i)));
  loop.run_once();
  EXPECT_EQ(ints(t), (std::vector<int>{0, 2, 6, 11, 10, 9, 8, 5, 7, 4, 1, 3}));
}

TEST(Timers, CancelledAtHeadArePoppedCancelledInsideStayCounted) {
  // A cancelled timer that becomes due goes through the ready queue (skipped there); the
  // cancelled count is only lowered for the ones purged at the head.
  EventLoop loop;
  Trace t;
  std::vector<TimerHandleRef> hs;
  for (int i = 0; i < 10; ++i) hs.push_back(loop.call_at(1.0, t.add(std::to_string(i))));
  hs[0]->cancel();
  hs[5]->cancel();
  EXPECT_EQ(loop.timer_cancelled_count(), 2u);
  loop.run_once();
  EXPECT_EQ(loop.timer_cancelled_count(), 1u);
  EXPECT_EQ(ints(t), (std::vector<int>{2, 6, 9, 8, 7, 4, 1, 3}));
}

TEST(Timers, CleanupRebuildsHeapWhenMostAreCancelled) {
  // 120 equal deadlines, 80 cancelled: the pass rebuilds the heap (heapify), then pops.
  EventLoop loop;
  Trace t;
  std::vector<TimerHandleRef> hs;
  for (int i = 0; i < 120; ++i) hs.push_back(loop.call_at(1.0, t.add(std::to_string(i))));
  for (int i = 0; i < 120; ++i)
    if (i % 3) hs[i]->cancel();
  EXPECT_EQ(loop.timer_cancelled_count(), 80u);
  loop.run_once();
  EXPECT_EQ(loop.timer_cancelled_count(), 0u);
  EXPECT_EQ(loop.scheduled_count(), 0u);
  EXPECT_EQ(ints(t), (std::vector<int>{90, 42, 18, 6,  0,  57, 9,  111, 51, 105, 21, 99,  45, 87,
                                       93, 39, 81, 15, 75, 33, 69, 3,   63, 27,  117, 24, 108, 48,
                                       84, 96, 36, 72, 12, 60, 54, 78,  102, 30, 66, 114}));
}

TEST(Timers, CancelledEventCleanupThreshold) {
  // Port of BE:test__run_once_cancelled_event_cleanup.
  EventLoop loop;
  auto cb = [] {};
  std::size_t not_cancelled = 1;
  loop.call_later(3000, cb);
  std::size_t cancelled = 2;
  for (int i = 0; i < 2; ++i) loop.call_later(3600, cb)->cancel();
  cancelled += 2;
  for (int i = 0; i < 2; ++i) loop.call_later(100, cb)->cancel();
  EXPECT_EQ(loop.timer_cancelled_count(), cancelled);

  loop.call_soon(cb);  // keeps the pass from blocking on the 3000 s timer
  loop.run_once();
  cancelled -= 2;
  EXPECT_EQ(loop.timer_cancelled_count(), cancelled);
  EXPECT_EQ(loop.scheduled_count(), cancelled + not_cancelled);

  std::size_t add_cancel = 51;  // ceil(100 * 0.5) + 1
  std::size_t add_not_cancel = 100 - add_cancel;
  not_cancelled += add_not_cancel;
  for (std::size_t i = 0; i < add_not_cancel; ++i) loop.call_later(3600, cb);
  cancelled += add_cancel;
  for (std::size_t i = 0; i < add_cancel; ++i) loop.call_later(3600, cb)->cancel();
  EXPECT_EQ(loop.scheduled_count(), cancelled + not_cancelled);

  loop.call_soon(cb);
  loop.run_once();
  EXPECT_EQ(loop.scheduled_count(), not_cancelled);
  EXPECT_EQ(loop.timer_cancelled_count(), 0u);
  for (const TimerHandleRef& t : loop.scheduled_snapshot()) EXPECT_FALSE(t->cancelled());
}

TEST(Timers, ExactlyHalfCancelledDoesNotRebuild) {
  // The rule is "more than half": 101 scheduled with 50 cancelled keeps the heap as it is.
  EventLoop loop;
  auto cb = [] {};
  loop.call_later(1000, cb);  // at the head, not cancelled
  std::vector<TimerHandleRef> hs;
  for (int i = 0; i < 100; ++i) hs.push_back(loop.call_later(3600, cb));
  for (int i = 0; i < 50; ++i) hs[i]->cancel();
  loop.call_soon(cb);
  loop.run_once();
  EXPECT_EQ(loop.scheduled_count(), 101u);
  EXPECT_EQ(loop.timer_cancelled_count(), 50u);
  hs[50]->cancel();  // 51 of 101: now more than half
  loop.call_soon(cb);
  loop.run_once();
  EXPECT_EQ(loop.scheduled_count(), 50u);
  EXPECT_EQ(loop.timer_cancelled_count(), 0u);
}

TEST(Timers, CancelTwiceOrAfterRunDoesNotCount) {
  EventLoop loop;
  TimerHandleRef t = loop.call_at(1.0, [] {});
  loop.run_once();
  t->cancel();
  EXPECT_EQ(loop.timer_cancelled_count(), 0u);
  TimerHandleRef u = loop.call_later(3600, [] {});
  u->cancel();
  u->cancel();
  EXPECT_EQ(loop.timer_cancelled_count(), 1u);
}

TEST(Timers, TimerHandleReprAndComparison) {
  EventLoop loop;
  TimerHandleRef t = loop.call_at(12.5, [] {}, "cb()");
  EXPECT_EQ(t->repr(), "<TimerHandle when=12.5 cb()>");
  TimerHandleRef u = loop.call_at(13.0, [] {}, "cb()");
  EXPECT_TRUE(*t < *u);
  EXPECT_FALSE(*u < *t);
  t->cancel();
  EXPECT_EQ(t->repr(), "<TimerHandle cancelled when=12.5>");
  u->cancel();
}

TEST(Timers, DueTimerRunsAfterIoAndReadyCallbacks) {
  // B-LOOP-3: callbacks queued before the poll, then due timers.
  EventLoop loop;
  Trace t;
  loop.call_at(1.0, t.add("timer"));
  loop.call_soon(t.add("soon"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"soon", "timer"}));
}

TEST(Timers, FutureTimerWaitsForItsDeadline) {
  EventLoop loop;
  bool fired = false;
  double start = loop.time();
  loop.call_later(0.02, [&] { fired = true; });
  ASSERT_TRUE(loopcheck::test::run_until(loop, [&] { return fired; }));
  EXPECT_GE(loop.time() - start, 0.02 - 1e-3);
}
