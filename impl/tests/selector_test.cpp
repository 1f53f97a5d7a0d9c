// EpollSelector: registration errors and messages, select results.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "loopcheck/errors.hpp"
#include "loopcheck/selector.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::Pipe;
using loopcheck::test::raised;

TEST(Selector, RegisterModifyUnregister) {
  EpollSelector sel;
  Pipe p;
  EXPECT_EQ(sel.size(), 0u);
  sel.register_fd(p.r, EVENT_READ);
  EXPECT_EQ(sel.get_events(p.r), EVENT_READ);
  EXPECT_EQ(sel.size(), 1u);
  sel.modify(p.r, EVENT_READ | EVENT_WRITE);
  EXPECT_EQ(sel.get_events(p.r), EVENT_READ | EVENT_WRITE);
  sel.unregister(p.r);
  EXPECT_FALSE(sel.contains(p.r));
  EXPECT_EQ(sel.size(), 0u);
}

TEST(Selector, ErrorsUseCpythonMessages) {
  EpollSelector sel;
  Pipe p;
  std::string fd = std::to_string(p.r);
  EXPECT_EQ(raised([&] { sel.register_fd(-1, EVENT_READ); }), "ValueError: Invalid file descriptor: -1");
  EXPECT_EQ(raised([&] { sel.register_fd(p.r, 0); }), "ValueError: Invalid events: 0");
  EXPECT_EQ(raised([&] { sel.register_fd(p.r, 4); }), "ValueError: Invalid events: 4");
  sel.register_fd(p.r, EVENT_READ);
  EXPECT_EQ(raised([&] { sel.register_fd(p.r, EVENT_READ); }),
            "KeyError: '" + fd + " (FD " + fd + ") is already registered'");
  EXPECT_EQ(raised([&] { sel.unregister(p.w); }), "KeyError: '" + std::to_string(p.w) + " is not registered'");
  EXPECT_EQ(raised([&] { sel.modify(p.w, EVENT_READ); }), "KeyError: '" + std::to_string(p.w) + " is not registered'");
  EXPECT_EQ(raised([&] { sel.register_fd(9999, EVENT_READ); }), "OSError: [Errno 9] Bad file descriptor");
  EXPECT_FALSE(sel.contains(9999));
}

TEST(Selector, SelectReportsReadyEventsMaskedByRegistration) {
  EpollSelector sel;
  Pipe p;
  sel.register_fd(p.r, EVENT_READ);
  sel.register_fd(p.w, EVENT_WRITE);
  auto events = sel.select(0.0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].fd, p.w);
  EXPECT_EQ(events[0].events, EVENT_WRITE);
  ASSERT_EQ(write(p.w, "x", 1), 1);
  events = sel.select(std::optional<double>(1.0));
  ASSERT_EQ(events.size(), 2u);
}

TEST(Selector, HangupCountsAsReadable) {
  EpollSelector sel;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  sel.register_fd(fds[0], EVENT_READ);
  close(fds[1]);
  auto events = sel.select(0.0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].events, EVENT_READ);
  sel.unregister(fds[0]);
  close(fds[0]);
}

TEST(Selector, UnregisterAfterCloseIsQuiet) {
  EpollSelector sel;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  sel.register_fd(fds[0], EVENT_READ);
  close(fds[0]);
  EXPECT_NO_THROW(sel.unregister(fds[0]));
  close(fds[1]);
}

TEST(Selector, CloseIsIdempotent) {
  EpollSelector sel;
  EXPECT_GE(sel.fileno(), 0);
  sel.close();
  EXPECT_EQ(sel.fileno(), -1);
  sel.close();
}
