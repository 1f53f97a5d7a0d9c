// Future<T>: states, results, exceptions, cancellation, done callbacks, reprs, messages.
#include <gtest/gtest.h>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::raised;
using loopcheck::test::Trace;

TEST(Future, PendingResultAndExceptionRaiseInvalidState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(raised([&] { f.result(); }), "InvalidStateError: Result is not set.");
  EXPECT_EQ(raised([&] { f.exception(); }), "InvalidStateError: Exception is not set.");
  EXPECT_EQ(f.repr(), "<Future pending>");
  EXPECT_EQ(&f.get_loop(), &loop);
}

TEST(Future, SetResultTwiceOrAfterCancelIsInvalidState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.set_result(1);
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.result(), 1);
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_EQ(raised([&] { f.set_result(2); }), "InvalidStateError: invalid state");
  EXPECT_EQ(raised([&] { f.set_exception(ValueError()); }), "InvalidStateError: invalid state");
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(f.repr(), "<Future finished result=1>");
  Future<int> g = loop.create_future<int>();
  EXPECT_TRUE(g.cancel());
  EXPECT_EQ(raised([&] { g.set_result(2); }), "InvalidStateError: invalid state");
}

TEST(Future, ExceptionIsStoredAndRethrown) {
  EventLoop loop;
  Future<std::string> f = loop.create_future<std::string>();
  f.set_exception(OSError::from_errno(EPIPE));
  EXPECT_TRUE(exception_is_a(f.exception(), "ConnectionError"));
  EXPECT_THROW(f.result(), BrokenPipeError);
  EXPECT_EQ(f.repr(), "<Future finished exception=BrokenPipeError(32, 'Broken pipe')>");
}

TEST(Future, CancelWithAndWithoutMessage) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  EXPECT_TRUE(f.cancel("why"));
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(raised([&] { f.result(); }), "CancelledError: why");
  EXPECT_EQ(raised([&] { f.exception(); }), "CancelledError: why");
  EXPECT_EQ(f.repr(), "<Future cancelled>");
  Future<int> g = loop.create_future<int>();
  g.cancel();
  try {
    g.result();
    FAIL();
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "");
    EXPECT_EQ(e.repr(), "CancelledError()");
    EXPECT_TRUE(e.is_a("BaseException"));
    EXPECT_FALSE(e.is_a("Exception"));
  }
}

TEST(Future, DoneCallbacksAreScheduledWithCallSoonInOrder) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  Trace t;
  loop.call_soon(t.add("before"));
  f.add_done_callback([&](const Future<int>& x) { t.events.push_back("cb1=" + std::to_string(x.result())); });
  f.add_done_callback([&](const Future<int>&) { t.events.push_back("cb2"); });
  f.set_result(7);
  EXPECT_TRUE(t.events.empty()) << "callbacks never run inside set_result";
  loop.call_soon(t.add("after"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"before", "cb1=7", "cb2", "after"}));
}

TEST(Future, CallbackAddedWhenDoneIsScheduledAtOnce) {
  EventLoop loop;
  Future<void> f = loop.create_future();
  f.set_result();
  Trace t;
  f.add_done_callback([&](const Future<void>&) { t.events.push_back("cb"); });
  EXPECT_EQ(loop.ready_count(), 1u);
  loop.run_once();
  EXPECT_EQ(t.events, std::vector<std::string>{"cb"});
  EXPECT_EQ(f.repr(), "<Future finished result=None>");
}

TEST(Future, CancelSchedulesCallbacks) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  bool seen_cancelled = false;
  f.add_done_callback([&](const Future<int>& x) { seen_cancelled = x.cancelled(); });
  f.cancel();
  loop.run_once();
  EXPECT_TRUE(seen_cancelled);
}

TEST(Future, RemoveDoneCallbackByIdAndByLabel) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  Trace t;
  auto id1 = f.add_done_callback([&](const Future<int>&) { t.events.push_back("a"); }, "a()");
  f.add_done_callback([&](const Future<int>&) { t.events.push_back("b"); }, "b()");
  f.add_done_callback([&](const Future<int>&) { t.events.push_back("b2"); }, "b()");
  f.add_done_callback([&](const Future<int>&) { t.events.push_back("c"); }, "c()");
  EXPECT_EQ(f.repr(), "<Future pending cb=[a(), <2 more>, c()]>");
  EXPECT_EQ(f.remove_done_callback(id1), 1u);
  EXPECT_EQ(f.remove_done_callback(id1), 0u);
  EXPECT_EQ(f.repr(), "<Future pending cb=[b(), <1 more>, c()]>");
  EXPECT_EQ(f.remove_done_callback("b()"), 2u);
  EXPECT_EQ(f.repr(), "<Future pending cb=[c()]>");
  f.set_result(1);
  loop.run_once();
  EXPECT_EQ(t.events, std::vector<std::string>{"c"});
}

TEST(Future, SetResultOnClosedLoopWithCallbacksRaises) {
  // Scheduling the callbacks goes through call_soon, which refuses on a closed loop.
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.add_done_callback([](const Future<int>&) {});
  loop.close();
  EXPECT_EQ(raised([&] { f.set_result(1); }), "RuntimeError: Event loop is closed");
}

TEST(Future, CopiesShareState) {
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  Future<int> g = f;
  g.set_result(3);
  EXPECT_EQ(f.result(), 3);
  EXPECT_TRUE(f == g);
  EXPECT_FALSE(Future<int>().valid());
}

TEST(Future, DoneCallbackExceptionGoesToHandlerWithLabel) {
  loopcheck::test::CapturedLog log;
  EventLoop loop;
  Future<int> f = loop.create_future<int>();
  f.add_done_callback([](const Future<int>&) { throw ValueError("cb failed"); }, "on_done()");
  f.set_result(1);
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "Exception in callback on_done()\nhandle: <Handle on_done()>");
  EXPECT_EQ(records[0].exc_text, "ValueError: cb failed");
}

TEST(Future, ExceptionNeverRetrievedIsReportedWhenLastReferenceGoes) {
  loopcheck::test::CapturedLog log;
  EventLoop loop;
  {
    Future<int> f = loop.create_future<int>();
    f.set_exception(ValueError("lost"));
  }
  {
    Future<int> seen = loop.create_future<int>();
    seen.set_exception(ValueError("seen"));
    EXPECT_NE(seen.exception(), nullptr);
  }
  {
    Future<int> cancelled = loop.create_future<int>();
    cancelled.cancel();
  }
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::ERROR);
  EXPECT_EQ(records[0].message,
            "Future exception was never retrieved\nfuture: <Future finished exception=ValueError('lost')>");
  EXPECT_EQ(records[0].exc_text, "ValueError: lost");
}

TEST(Future, NeverRetrievedAfterLoopIsGoneIsSilent) {
  loopcheck::test::CapturedLog log;
  Future<int> f;
  {
    EventLoop loop;
    f = loop.create_future<int>();
    f.set_exception(ValueError("late"));
    loop.close();
  }
  f = Future<int>();
  EXPECT_TRUE(log.warnings().empty());
}
