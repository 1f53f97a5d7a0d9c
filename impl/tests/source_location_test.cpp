// Debug mode keeps where each handle was scheduled (CPython's _source_traceback): `created
// at FILE:LINE` in the handle's repr, `source_traceback` in a callback exception's context.
#include <gtest/gtest.h>

#include <string>

#include "loopcheck/event_loop.hpp"

using namespace loopcheck;

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
  loop.call_soon([] { throw ValueError("boom"); }, "boom()", SourceLocation{"prog.py", 7});
  loop.run_once();
  EXPECT_EQ(keys, (std::vector<std::string>{"exception", "handle", "message", "source_traceback"}));
  ASSERT_TRUE(traceback);
  EXPECT_EQ(*traceback, "Object created at (most recent call last):\n  File \"prog.py\", line 7");
}
