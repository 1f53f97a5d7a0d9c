// call_soon: FIFO order, the per-pass snapshot, cancelled handles, closed-loop errors
// (B-LOOP-1, B-LOOP-2).
#include <gtest/gtest.h>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::CapturedLog;
using loopcheck::test::Trace;

TEST(CallSoon, RunsInFifoOrder) {
  EventLoop loop;
  Trace t;
  for (int i = 0; i < 5; ++i) loop.call_soon(t.add(std::to_string(i)));
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(t.events, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(CallSoon, CallbackScheduledDuringPassRunsNextPass) {
  // B-LOOP-2's observed order: a, b, tneg, t0, a-child.
  EventLoop loop;
  Trace t;
  loop.call_soon([&] {
    t.events.push_back("a");
    loop.call_soon(t.add("a-child"));
  });
  loop.call_soon(t.add("b"));
  loop.call_later(0, t.add("t0"));
  loop.call_later(-5, t.add("tneg"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b", "tneg", "t0"}));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b", "tneg", "t0", "a-child"}));
}

TEST(CallSoon, CancelledHandleIsSkipped) {
  EventLoop loop;
  Trace t;
  loop.call_soon(t.add("a"));
  HandleRef h = loop.call_soon(t.add("b"));
  loop.call_soon(t.add("c"));
  h->cancel();
  EXPECT_TRUE(h->cancelled());
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(loop.ready_count(), 0u);
}

TEST(CallSoon, ClosedLoopRaises) {
  EventLoop loop;
  loop.close();
  try {
    loop.call_soon([] {});
    FAIL() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.message(), "Event loop is closed");
    EXPECT_EQ(e.type_name(), "RuntimeError");
  }
}
