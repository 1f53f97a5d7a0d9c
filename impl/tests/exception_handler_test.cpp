// Exceptions in callbacks, the default handler's log text, custom handlers
// (B-LOOP-12, B-LOOP-13, B-LOOP-14, B-LOOP-16).
#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::CapturedLog;

namespace {

struct SeenContext {
  std::string message;
  std::string exception;
  HandleRef handle;
  std::string repr;
};

EventLoop::ExceptionHandler recording_handler(std::vector<SeenContext>& seen) {
  return [&seen](EventLoop&, const ExceptionContext& c) {
    seen.push_back({c.message.value_or("<none>"), format_exception_only(c.exception), c.handle, c.repr()});
  };
}

}  // namespace

TEST(CallbackException, ReachesHandlerWithMessageExceptionAndHandle) {
  EventLoop loop;
  std::vector<SeenContext> seen;
  loop.set_exception_handler(recording_handler(seen));
  bool after = false;
  HandleRef h = loop.call_soon([] { throw ValueError("x"); }, "boom(1)");
  loop.call_soon([&] { after = true; });
  loop.run_once();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].message, "Exception in callback boom(1)");
  EXPECT_EQ(seen[0].exception, "ValueError: x");
  EXPECT_EQ(seen[0].handle, h);
  EXPECT_EQ(seen[0].repr, "{'message': 'Exception in callback boom(1)', 'exception': ValueError('x'), 'handle': <Handle boom(1)>}");
  EXPECT_TRUE(after) << "the loop goes on after a failing callback";
}

TEST(CallbackException, DefaultHandlerLogsCpythonLayout) {
  CapturedLog log;
  EventLoop loop;
  loop.call_soon([] { throw ValueError("x"); }, "boom()");
  loop.call_soon([] { throw std::runtime_error("plain C++"); });
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].level, LogLevel::ERROR);
  EXPECT_EQ(records[0].message, "Exception in callback boom()\nhandle: <Handle boom()>");
  EXPECT_EQ(records[0].exc_text, "ValueError: x");
  EXPECT_EQ(records[0].logger_name, "asyncio");
  EXPECT_EQ(records[1].message, "Exception in callback <callback>\nhandle: <Handle <callback>>");
  EXPECT_EQ(records[1].exc_text, "Exception: plain C++");
}

TEST(CallbackException, CancelledErrorFromCallbackIsReportedNotPropagated) {
  CapturedLog log;
  EventLoop loop;
  loop.call_soon([] { throw CancelledError(); }, "c()");
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].exc_text, "CancelledError");
}

TEST(DefaultHandler, SortsExtraKeysAndSkipsMessageAndException) {
  // B-LOOP-13's example.
  CapturedLog log;
  EventLoop loop;
  ExceptionContext c;
  c.message = "m";
  c.set("zeta", "1").set("alpha", py_repr("a"));
  c.exception = std::make_exception_ptr(ValueError("x"));
  loop.default_exception_handler(c);
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "m\nalpha: 'a'\nzeta: 1");
  EXPECT_EQ(records[0].exc_text, "ValueError: x");
}

TEST(DefaultHandler, MissingOrEmptyMessage) {
  CapturedLog log;
  EventLoop loop;
  loop.default_exception_handler(ExceptionContext{});
  ExceptionContext empty;
  empty.message = "";
  loop.default_exception_handler(empty);
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].message, "Unhandled exception in event loop");
  EXPECT_EQ(records[0].exc_text, "");
  EXPECT_EQ(records[1].message, "Unhandled exception in event loop");
}

TEST(CustomHandler, SetGetAndRestoreDefault) {
  CapturedLog log;
  EventLoop loop;
  EXPECT_FALSE(loop.get_exception_handler());
  int calls = 0;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext&) { ++calls; });
  EXPECT_TRUE(loop.get_exception_handler());
  loop.call_exception_handler(ExceptionContext{});
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(log.warnings().empty());
  loop.set_exception_handler(nullptr);
  EXPECT_FALSE(loop.get_exception_handler());
  loop.call_exception_handler(ExceptionContext{});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(log.warnings().size(), 1u);
}

TEST(CustomHandler, ReceivesTheLoop) {
  EventLoop loop;
  EventLoop* got = nullptr;
  loop.set_exception_handler([&](EventLoop& l, const ExceptionContext&) { got = &l; });
  loop.call_exception_handler(ExceptionContext{});
  EXPECT_EQ(got, &loop);
}

TEST(CustomHandler, FailingHandlerFallsBackToDefault) {
  // BE:test_set_exc_handler_broken
  CapturedLog log;
  EventLoop loop;
  loop.set_exception_handler([](EventLoop&, const ExceptionContext&) { throw ValueError("bad"); });
  ExceptionContext c;
  c.message = "m";
  c.set("zeta", "1");
  loop.call_exception_handler(c);
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::ERROR);
  EXPECT_EQ(records[0].message, "Unhandled error in exception handler\ncontext: {'message': 'm', 'zeta': 1}");
  EXPECT_EQ(records[0].exc_text, "ValueError: bad");
}

TEST(CustomHandler, SystemExitFromHandlerPropagates) {
  EventLoop loop;
  loop.set_exception_handler([](EventLoop&, const ExceptionContext&) { throw SystemExit(1); });
  EXPECT_THROW(loop.call_exception_handler(ExceptionContext{}), SystemExit);
  loop.call_soon([] { throw ValueError("x"); });
  EXPECT_THROW(loop.run_once(), SystemExit);
}

namespace {

// A logger whose first ERROR record throws, like a broken logging handler.
struct BrokenOnceLogger : CapturingLogger {
  bool broken = true;
  void log(const LogRecord& r) override {
    if (broken && r.level == LogLevel::ERROR) {
      broken = false;
      throw RuntimeError("logger broke");
    }
    CapturingLogger::log(r);
  }
};

}  // namespace

TEST(DefaultHandler, BrokenDefaultHandlerIsLogged) {
  // BE:test_default_exc_handler_broken
  auto logger = std::make_shared<BrokenOnceLogger>();
  ScopedLogger scope(logger);
  EventLoop loop;
  loop.call_exception_handler(ExceptionContext{});
  auto records = logger->records_at_least(LogLevel::WARNING);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message, "Exception in default exception handler");
  EXPECT_EQ(records[0].exc_text, "RuntimeError: logger broke");
}

TEST(DefaultHandler, BrokenDefaultAfterBrokenCustomHandler) {
  auto logger = std::make_shared<BrokenOnceLogger>();
  ScopedLogger scope(logger);
  EventLoop loop;
  loop.set_exception_handler([](EventLoop&, const ExceptionContext&) { throw ValueError("bad"); });
  loop.call_exception_handler(ExceptionContext{});
  auto records = logger->records_at_least(LogLevel::WARNING);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message,
            "Exception in default exception handler while handling an unexpected error in custom exception handler");
  EXPECT_EQ(records[0].exc_text, "RuntimeError: logger broke");
}

TEST(DebugMode, SlowCallbackWarning) {
  // BE:test_log_slow_callbacks
  CapturedLog log;
  EventLoop loop;
  loop.set_debug(true);
  loop.set_slow_callback_duration(0.0);
  loop.call_soon([] {}, "slow()", SourceLocation{"prog.py", 7});
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::WARNING);
  EXPECT_TRUE(std::regex_match(records[0].message, std::regex(R"(Executing <Handle slow\(\) created at prog\.py:7> took \d+\.\d{3} seconds)")))
      << records[0].message;
}

TEST(DebugMode, NoWarningBelowThresholdOrOutsideDebug) {
  CapturedLog log;
  EventLoop loop;
  loop.set_slow_callback_duration(0.0);
  loop.call_soon([] {});
  loop.run_once();
  loop.set_debug(true);
  loop.set_slow_callback_duration(3600);
  loop.call_soon([] {});
  loop.run_once();
  EXPECT_TRUE(log.warnings().empty());
  EXPECT_EQ(loop.slow_callback_duration(), 3600);
}

TEST(DebugMode, CancelledHandleKeepsItsReprInDebug) {
  EventLoop loop;
  HandleRef plain = loop.call_soon([] {}, "f()");
  plain->cancel();
  EXPECT_EQ(plain->repr(), "<Handle cancelled>");
  loop.set_debug(true);
  HandleRef debug = loop.call_soon([] {}, "f()", SourceLocation{"prog.py", 7});
  debug->cancel();
  EXPECT_EQ(debug->repr(), "<Handle cancelled f() created at prog.py:7>");
  TimerHandleRef timer = loop.call_at(12.5, [] {}, "print()", SourceLocation{"prog.py", 8});
  timer->cancel();
  EXPECT_EQ(timer->repr(), "<TimerHandle cancelled when=12.5 print() created at prog.py:8>");
}

TEST(DebugMode, CallSoonFromAnotherThreadWhileRunningRaises) {
  EventLoop loop;
  loop.set_debug(true);
  std::string msg;
  loop.call_soon([&] {
    std::thread th([&] {
      try {
        loop.call_soon([] {});
      } catch (const RuntimeError& e) {
        msg = e.message();
      }
    });
    th.join();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_EQ(msg, "Non-thread-safe operation invoked on an event loop other than the current one");
}
