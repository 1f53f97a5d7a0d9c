// add_reader / add_writer / remove_reader / remove_writer (B-LOOP-17) and their place in a
// pass (B-LOOP-3).
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::Pipe;
using loopcheck::test::raised;
using loopcheck::test::run_until;
using loopcheck::test::Trace;

namespace {

struct FakeTransport : FdTransport {
  bool closing = false;
  bool is_closing() const override { return closing; }
  std::string repr() const override { return "<_UnixReadPipeTransport fd=5 idle>"; }
};

}  // namespace

TEST(Io, SelfPipeIsAlwaysRegistered) {
  EventLoop loop;
  EXPECT_EQ(loop.selector().size(), 1u);
  EXPECT_EQ(loop.selector().get_events(loop.self_pipe_read_fd()), EVENT_READ);
  EXPECT_GE(loop.self_pipe_write_fd(), 0);
}

TEST(Io, ReaderRunsWhenDataArrives) {
  EventLoop loop;
  Pipe p;
  std::string got;
  loop.add_reader(p.r, [&] {
    char buf[16];
    ssize_t n = read(p.r, buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  });
  ASSERT_EQ(write(p.w, "hi", 2), 2);
  ASSERT_TRUE(run_until(loop, [&] { return got == "hi"; }));
  EXPECT_TRUE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_reader(p.r));
}

TEST(Io, ReturnValuesOfRemoveReaderAndWriter) {
  // CPython: add_reader/add_writer return None; remove_* say whether a callback was removed.
  EventLoop loop;
  Pipe p;
  loop.add_reader(p.r, [] {});
  loop.add_writer(p.r, [] {});
  EXPECT_EQ(loop.selector().get_events(p.r), EVENT_READ | EVENT_WRITE);
  EXPECT_TRUE(loop.remove_reader(p.r));
  EXPECT_EQ(loop.selector().get_events(p.r), EVENT_WRITE);
  EXPECT_FALSE(loop.remove_reader(p.r));
  EXPECT_TRUE(loop.remove_writer(p.r));
  EXPECT_FALSE(loop.selector().contains(p.r));
  EXPECT_FALSE(loop.remove_writer(p.r));
  EXPECT_FALSE(loop.remove_reader(12345));
}

TEST(Io, ReplacingReaderCancelsOldHandle) {
  EventLoop loop;
  Pipe p;
  HandleRef h1 = loop.add_reader_internal(p.r, [] {}, "print()");
  HandleRef h2 = loop.add_reader_internal(p.r, [] {}, "print()");
  EXPECT_TRUE(h1->cancelled());
  EXPECT_FALSE(h2->cancelled());
  EXPECT_EQ(h2->repr(), "<Handle print()>");
  EXPECT_TRUE(loop.remove_reader_internal(p.r));
  EXPECT_TRUE(h2->cancelled());
}

TEST(Io, InvalidFileDescriptor) {
  EventLoop loop;
  EXPECT_EQ(raised([&] { loop.add_reader(-1, [] {}); }), "ValueError: Invalid file descriptor: -1");
  EXPECT_EQ(raised([&] { loop.remove_reader(-1); }), "ValueError: Invalid file descriptor: -1");
  EXPECT_EQ(raised([&] { loop.add_writer(-1, [] {}); }), "ValueError: Invalid file descriptor: -1");
  EXPECT_EQ(raised([&] { loop.remove_writer(-1); }), "ValueError: Invalid file descriptor: -1");
}

TEST(Io, BadFdRaisesOSErrorAndLeavesNothingRegistered) {
  EventLoop loop;
  std::string msg;
  try {
    loop.add_reader(999, [] {});
  } catch (const OSError& e) {
    msg = e.format_exception_only();
    EXPECT_EQ(e.error_number(), EBADF);
  }
  EXPECT_EQ(msg, "OSError: [Errno 9] Bad file descriptor");
  EXPECT_FALSE(loop.remove_reader(999));
  EXPECT_EQ(loop.selector().size(), 1u);
}

TEST(Io, RegularFileRaisesPermissionError) {
  EventLoop loop;
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(raised([&] { loop.add_reader(fileno(f), [] {}); }), "PermissionError: [Errno 1] Operation not permitted");
  fclose(f);
}

TEST(Io, RemoveAfterFdClosedStillReportsRemoval) {
  EventLoop loop;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  loop.add_reader(fds[0], [] {});
  close(fds[0]);
  EXPECT_TRUE(loop.remove_reader(fds[0]));
  close(fds[1]);
}

TEST(Io, ClosedLoop) {
  EventLoop loop;
  Pipe p;
  loop.close();
  EXPECT_EQ(raised([&] { loop.add_reader(p.r, [] {}); }), "RuntimeError: Event loop is closed");
  EXPECT_EQ(raised([&] { loop.add_writer(p.w, [] {}); }), "RuntimeError: Event loop is closed");
  EXPECT_FALSE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_writer(p.w));
}

TEST(Io, FdUsedByTransport) {
  EventLoop loop;
  Pipe p;
  FakeTransport t;
  loop.set_fd_transport(p.r, &t);
  std::string expected = "RuntimeError: File descriptor " + std::to_string(p.r) +
                         " is used by transport <_UnixReadPipeTransport fd=5 idle>";
  EXPECT_EQ(raised([&] { loop.add_reader(p.r, [] {}); }), expected);
  EXPECT_EQ(raised([&] { loop.remove_reader(p.r); }), expected);
  EXPECT_EQ(raised([&] { loop.add_writer(p.r, [] {}); }), expected);
  EXPECT_EQ(raised([&] { loop.remove_writer(p.r); }), expected);
  // The transport itself uses the internal calls.
  EXPECT_TRUE(loop.add_reader_internal(p.r, [] {}));
  t.closing = true;
  EXPECT_TRUE(loop.remove_reader(p.r));
  t.closing = false;
  loop.clear_fd_transport(p.r);
  loop.add_reader(p.r, [] {});
  EXPECT_TRUE(loop.remove_reader(p.r));
}

TEST(Io, ReaderThenWriterPerFdAfterReadyBeforeTimers) {
  // B-LOOP-3: queued callbacks, then I/O (reader before writer), then due timers.
  EventLoop loop;
  Pipe p;
  Trace t;
  ASSERT_EQ(write(p.w, "x", 1), 1);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(write(sv[1], "y", 1), 1);
  loop.add_writer(sv[0], t.add("writer"));
  loop.add_reader(sv[0], t.add("reader"));
  loop.call_at(1.0, t.add("timer"));
  loop.call_soon(t.add("soon"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"soon", "reader", "writer", "timer"}));
  loop.remove_reader(sv[0]);
  loop.remove_writer(sv[0]);
  close(sv[0]);
  close(sv[1]);
}

TEST(Io, CancelledReaderIsUnregisteredInsteadOfRun) {
  // SE:test_process_events_read_cancelled
  EventLoop loop;
  Pipe p;
  bool ran = false;
  HandleRef h = loop.add_reader_internal(p.r, [&] { ran = true; });
  loop.add_writer(p.w, [] {});
  h->cancel();
  ASSERT_EQ(write(p.w, "x", 1), 1);
  loop.run_once();
  EXPECT_FALSE(ran);
  EXPECT_FALSE(loop.selector().contains(p.r));
  EXPECT_TRUE(loop.remove_writer(p.w));
}

TEST(Io, CancelledWriterIsUnregisteredReaderKept) {
  // SE:test_process_events_write_cancelled
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  HandleRef w = loop.add_writer_internal(sv[0], [] {});
  loop.add_reader(sv[0], [] {});
  w->cancel();
  loop.run_once();
  EXPECT_EQ(loop.selector().get_events(sv[0]), EVENT_READ);
  EXPECT_TRUE(loop.remove_reader(sv[0]));
  close(sv[0]);
  close(sv[1]);
}

TEST(Io, HangupWakesReader) {
  EventLoop loop;
  Pipe p;
  bool ran = false;
  loop.add_reader(p.r, [&] { ran = true; });
  close(p.w);
  p.w = -1;
  ASSERT_TRUE(run_until(loop, [&] { return ran; }));
  loop.remove_reader(p.r);
}

TEST(Io, ReaderRemovingItselfWhileRunning) {
  EventLoop loop;
  Pipe p;
  int runs = 0;
  auto token = std::make_shared<int>(0);
  loop.add_reader(p.r, [&, token] {
    ++runs;
    EXPECT_TRUE(loop.remove_reader(p.r));
    EXPECT_GE(token.use_count(), 2);  // the running callable is still alive
  });
  ASSERT_EQ(write(p.w, "x", 1), 1);
  ASSERT_TRUE(run_until(loop, [&] { return runs == 1; }));
  loop.call_soon([] {});  // keeps the next pass from blocking
  loop.run_once();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(token.use_count(), 1);
}
