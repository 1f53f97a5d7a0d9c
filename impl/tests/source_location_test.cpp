// Debug mode keeps where each handle was scheduled (CPython's _source_traceback): `created
// at FILE:LINE` in the handle's repr, `source_traceback` in a callback exception's context.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;

namespace {
SourceLocation called_from(SourceLocation where = SourceLocation::here()) { return where; }
}  // namespace

// As a default argument, here() is the caller's site, with std::source_location (g++) and
// without it (clang 14 on libstdc++ 12 has none; the fuzz preset builds with it).
TEST(SourceLocation, HereIsTheCallersFileLineAndFunction) {
  unsigned line = __LINE__ + 1;
  SourceLocation where = called_from();
  EXPECT_STREQ(where.file, __FILE__);
  EXPECT_EQ(where.line, line);
  ASSERT_NE(where.function, nullptr);
  EXPECT_NE(std::string(where.function).find("TestBody"), std::string::npos) << where.function;
}

TEST(SourceLocation, DebugHandleReprNamesTheCallSite) {
  EventLoop loop;
  loop.set_debug(true);
  unsigned line = __LINE__ + 1;
  HandleRef h = loop.call_soon([] {}, "f()");
  std::string expected = "<Handle f() created at " + std::string(__FILE__) + ":" + std::to_string(line) + ">";
  EXPECT_EQ(h->repr(), expected);
  TimerHandleRef t = loop.call_later(5.0, [] {}, "g()", SourceLocation{"prog.py", 7});
  EXPECT_NE(t->repr().find(" g() created at prog.py:7>"), std::string::npos) << t->repr();
  h->cancel();
  t->cancel();
}

TEST(SourceLocation, NotKeptOutsideDebugMode) {
  EventLoop loop;
  HandleRef h = loop.call_soon([] {}, "f()", SourceLocation{"prog.py", 7});
  EXPECT_EQ(h->repr(), "<Handle f()>");
  h->cancel();
}

TEST(SourceLocation, CallbackExceptionContextHasSourceTraceback) {
  EventLoop loop;
  loop.set_debug(true);
  std::vector<std::string> keys;
  std::optional<std::string> traceback;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) {
    keys = c.keys();
    traceback = c.get("source_traceback");
  });
  loop.call_soon([] { throw ValueError("boom"); }, "boom()", SourceLocation{"prog.py", 7, "schedule"});
  loop.run_once();
  EXPECT_EQ(keys, (std::vector<std::string>{"exception", "handle", "message", "source_traceback"}));
  ASSERT_TRUE(traceback);
  EXPECT_EQ(*traceback, "Object created at (most recent call last):\n  File \"prog.py\", line 7, in schedule");
}

TEST(SourceLocation, DefaultHandlerPrintsTheCreationFrame) {
  loopcheck::test::CapturedLog log;
  EventLoop loop;
  loop.set_debug(true);
  loop.set_slow_callback_duration(3600);  // no slow-callback warning in the way
  loop.call_soon([] { throw ValueError("boom"); }, "boom() at prog.py:2", SourceLocation{"prog.py", 7, "schedule"});
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message,
            "Exception in callback boom() at prog.py:2\n"
            "handle: <Handle boom() at prog.py:2 created at prog.py:7>\n"
            "source_traceback: Object created at (most recent call last):\n"
            "  File \"prog.py\", line 7, in schedule");
  EXPECT_EQ(records[0].exc_text, "ValueError: boom");
}
