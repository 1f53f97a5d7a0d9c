// run_forever, run_until_complete, stop, close: the running/closing rules and messages
// (B-LOOP-8, B-LOOP-9, B-LOOP-10).
#include <gtest/gtest.h>

#include <memory>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::CapturedLog;
using loopcheck::test::EpollWaitRecorder;
using loopcheck::test::raised;
using loopcheck::test::Trace;

TEST(Stop, BeforeRunForeverGivesExactlyOnePassWithZeroTimeout) {
  EventLoop loop;
  Trace t;
  EpollWaitRecorder rec;
  ScopedSyscalls scope(rec);
  loop.call_soon(t.add("a"));
  loop.stop();
  loop.call_soon(t.add("b"));
  loop.run_forever();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rec.timeouts, std::vector<int>{0});
  EXPECT_FALSE(loop.is_stopping());
}

TEST(Stop, PreStoppedEmptyLoopPollsOnceWithoutBlocking) {
  // BE:test_run_forever_pre_stopped
  EventLoop loop;
  EpollWaitRecorder rec;
  ScopedSyscalls scope(rec);
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(rec.timeouts, std::vector<int>{0});
}

TEST(Stop, CallbacksScheduledInFinalPassRunOnNextRunForever) {
  EventLoop loop;
  Trace t;
  loop.call_soon([&] {
    t.events.push_back("a");
    loop.stop();
    loop.call_soon(t.add("later"));
  });
  loop.call_soon(t.add("b"));
  loop.run_forever();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(loop.ready_count(), 1u);
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b", "later"}));
}

TEST(Stop, FlagIsResetWhenRunForeverReturns) {
  EventLoop loop;
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_FALSE(loop.is_stopping());
  EXPECT_FALSE(loop.is_running());
}

TEST(RunForever, IsRunningAndRunningLoopInsideCallbacks) {
  EventLoop loop;
  bool running = false;
  EventLoop* current = nullptr;
  loop.call_soon([&] {
    running = loop.is_running();
    current = &get_running_loop();
    loop.stop();
  });
  EXPECT_EQ(get_running_loop_or_null(), nullptr);
  EXPECT_EQ(raised([] { get_running_loop(); }), "RuntimeError: no running event loop");
  loop.run_forever();
  EXPECT_TRUE(running);
  EXPECT_EQ(current, &loop);
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(get_running_loop_or_null(), nullptr);
}

TEST(RunForever, AlreadyRunning) {
  EventLoop loop;
  std::string forever, until;
  bool running_after = true;
  loop.call_soon([&] {
    until = raised([&] { loop.run_until_complete(loop.create_future<int>()); });
    forever = raised([&] { loop.run_forever(); });
    running_after = loop.is_running();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(until, "RuntimeError: This event loop is already running");
  EXPECT_EQ(forever, "RuntimeError: This event loop is already running");
  // CPython 3.13: the refused run_forever's cleanup forgets the running thread.
  EXPECT_FALSE(running_after);
}

TEST(RunForever, ClosedUnderARunningLoopEmptiesThePassUnderIt) {
  // CPython 3.13: the pass goes on popping the queue close() emptied.
  EventLoop loop;
  bool b_ran = false;
  loop.call_soon([&] {
    raised([&] { loop.run_forever(); });
    loop.close();
  });
  loop.call_soon([&] { b_ran = true; });
  loop.stop();
  std::string outer = raised([&] { loop.run_forever(); });
  EXPECT_EQ(outer, "IndexError: pop from an empty deque");
  EXPECT_FALSE(b_ran);
  EXPECT_TRUE(loop.is_closed());
}

TEST(RunForever, ClosedUnderARunningLoopFailsTheNextPass) {
  EventLoop loop;
  std::string nested, close;
  loop.call_soon([&] {
    nested = raised([&] { loop.run_forever(); });
    close = raised([&] { loop.close(); });
  });
  loop.stop();
  std::string outer = raised([&] { loop.run_forever(); });
  EXPECT_EQ(nested, "RuntimeError: This event loop is already running");
  EXPECT_EQ(close, "");
  EXPECT_TRUE(loop.is_closed());
  EXPECT_EQ(outer, "AttributeError: 'NoneType' object has no attribute 'select'");
  EXPECT_FALSE(loop.is_running());
}

TEST(RunForever, AnotherLoopRunningInThisThread) {
  EventLoop outer;
  EventLoop inner;
  std::string msg;
  outer.call_soon([&] {
    msg = raised([&] { inner.run_forever(); });
    outer.stop();
  });
  outer.run_forever();
  EXPECT_EQ(msg, "RuntimeError: Cannot run the event loop while another loop is running");
}

TEST(RunForever, ClosedLoop) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();  // works on a closed loop too
  loop.close();
  EXPECT_EQ(raised([&] { loop.run_forever(); }), "RuntimeError: Event loop is closed");
  EXPECT_EQ(raised([&] { loop.run_until_complete(f); }), "RuntimeError: Event loop is closed");
  EXPECT_EQ(raised([&] { loop.create_future<int>(); }), "");
}

TEST(RunForever, KeyboardInterruptPropagatesAndLeavesRestOfPassQueued) {
  // BE:test_run_forever_keyboard_interrupt
  EventLoop loop;
  Trace t;
  loop.call_soon(t.add("a"));
  loop.call_soon([] { throw KeyboardInterrupt(); });
  loop.call_soon(t.add("c"));
  EXPECT_THROW(loop.run_forever(), KeyboardInterrupt);
  EXPECT_FALSE(loop.is_running());
  EXPECT_EQ(t.events, std::vector<std::string>{"a"});
  EXPECT_EQ(loop.ready_count(), 1u);
  loop.stop();
  loop.run_forever();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "c"}));
}

TEST(RunForever, SystemExitPropagatesAndResetsStopping) {
  EventLoop loop;
  loop.call_soon([&] {
    loop.stop();
    throw SystemExit(3);
  });
  try {
    loop.run_forever();
    FAIL();
  } catch (const SystemExit& e) {
    EXPECT_EQ(e.code(), 3);
  }
  EXPECT_FALSE(loop.is_stopping());
  EXPECT_FALSE(loop.is_running());
}

TEST(RunUntilComplete, ReturnsResult) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([f]() mutable { f.set_result(42); });
  EXPECT_EQ(loop.run_until_complete(f), 42);
}

TEST(RunUntilComplete, VoidFuture) {
  EventLoop loop;
  Future<void> f = loop.create_future();
  loop.call_later(0.001, [f]() mutable { f.set_result(); });
  loop.run_until_complete(f);
  EXPECT_TRUE(f.done());
}

TEST(RunUntilComplete, RethrowsException) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([f]() mutable { f.set_exception(ValueError("bad")); });
  EXPECT_EQ(raised([&] { loop.run_until_complete(f); }), "ValueError: bad");
}

TEST(RunUntilComplete, CancelledFutureRaisesCancelledError) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([f]() mutable { f.cancel("why"); });
  EXPECT_EQ(raised([&] { loop.run_until_complete(f); }), "CancelledError: why");
}

TEST(RunUntilComplete, StoppedBeforeFutureCompleted) {
  // EV:test_run_until_complete_stopped
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  loop.call_soon([&] { loop.stop(); });
  EXPECT_EQ(raised([&] { loop.run_until_complete(f); }),
            "RuntimeError: Event loop stopped before Future completed.");
  // The loop's done callback was removed again.
  EXPECT_EQ(f.repr(), "<Future pending>");
}

TEST(RunUntilComplete, FutureOfAnotherLoop) {
  EventLoop a, b;
  Future<int> f = b.create_future<int>();
  EXPECT_EQ(raised([&] { a.run_until_complete(f); }),
            "ValueError: The future belongs to a different loop than the one specified as the loop argument");
}

TEST(RunUntilComplete, AlreadyDoneFutureStillRunsOnePass) {
  EventLoop loop;
  Trace t;
  Future<int> f = loop.create_future<int>();
  f.set_result(1);
  loop.call_soon(t.add("a"));
  EXPECT_EQ(loop.run_until_complete(f), 1);
  EXPECT_EQ(t.events, std::vector<std::string>{"a"});
}

TEST(Close, WhileRunningRaises) {
  EventLoop loop;
  std::string msg;
  loop.call_soon([&] {
    msg = raised([&] { loop.close(); });
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(msg, "RuntimeError: Cannot close a running event loop");
  EXPECT_FALSE(loop.is_closed());
}

TEST(Close, IsIdempotentAndDropsPendingCallbacks) {
  EventLoop loop;
  auto token = std::make_shared<int>(0);
  loop.call_soon([token] {});
  loop.call_later(3600, [token] {});
  EXPECT_EQ(token.use_count(), 3);
  loop.close();
  EXPECT_TRUE(loop.is_closed());
  EXPECT_EQ(token.use_count(), 1);
  EXPECT_EQ(loop.ready_count(), 0u);
  EXPECT_EQ(loop.scheduled_count(), 0u);
  EXPECT_EQ(loop.self_pipe_write_fd(), -1);
  loop.close();
  EXPECT_TRUE(loop.is_closed());
}

TEST(Close, TimerCancelledAfterCloseIsHarmless) {
  auto loop = std::make_unique<EventLoop>();
  TimerHandleRef t = loop->call_later(3600, [] {});
  loop->close();
  loop.reset();
  t->cancel();  // the heap forgot it: no loop access
  EXPECT_TRUE(t->cancelled());
}

TEST(Close, HooksRunAfterSelectorCloseInOrder) {
  EventLoop loop;
  std::vector<std::string> order;
  loop.add_close_hook([&] {
    order.push_back("first closed=" + std::string(loop.is_closed() ? "1" : "0"));
  });
  loop.add_close_hook([&] { order.push_back("second"); });
  loop.close();
  loop.close();
  EXPECT_EQ(order, (std::vector<std::string>{"first closed=1", "second"}));
}

TEST(Close, DebugModeLogsClose) {
  CapturedLog log;
  EventLoop loop;
  loop.set_debug(true);
  loop.close();
  auto records = log.logger->records();
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records.front().message, "Using selector: EpollSelector");
  EXPECT_EQ(records.back().level, LogLevel::DEBUG);
  EXPECT_EQ(records.back().message, "Close <_UnixSelectorEventLoop running=False closed=False debug=True>");
}

TEST(Loop, Repr) {
  EventLoop loop;
  EXPECT_EQ(loop.repr(), "<_UnixSelectorEventLoop running=False closed=False debug=False>");
  std::string inside;
  loop.call_soon([&] {
    inside = loop.repr();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(inside, "<_UnixSelectorEventLoop running=True closed=False debug=False>");
  loop.close();
  EXPECT_EQ(loop.repr(), "<_UnixSelectorEventLoop running=False closed=True debug=False>");
}

TEST(Loop, TimeIsMonotonicSeconds) {
  EventLoop loop;
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  double now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  double t = loop.time();
  EXPECT_NEAR(t, now, 1.0);
  EXPECT_GE(loop.time(), t);
  EXPECT_EQ(loop.clock_resolution(), 1e-9);
}

TEST(Close, RunOnceOnClosedLoopRaises) {
  EventLoop loop;
  loop.close();
  EXPECT_EQ(raised([&] { loop.run_once(); }), "RuntimeError: Event loop is closed");
}
