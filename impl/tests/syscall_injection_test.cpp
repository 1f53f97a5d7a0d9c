// The syscall seam: EINTR, EAGAIN and errors injected deterministically, as CPython's own
// tests do with mocks (SE:test_read_from_self_tryagain, test_read_from_self_exception,
// test_write_to_self_tryagain, test_write_to_self_exception).
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::CapturedLog;
using loopcheck::test::run_until;

namespace {

// Real syscalls with scripted failures: the next N calls of a kind fail with an errno.
struct ScriptedSyscalls : RealSyscalls {
  int epoll_wait_failures = 0;
  int epoll_wait_errno = EINTR;
  int epoll_wait_calls = 0;
  std::vector<int> epoll_wait_timeouts;
  int send_failures = 0;
  int send_errno = EAGAIN;
  int recv_failures = 0;
  int recv_errno = EINTR;
  int recv_calls = 0;

  int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) override {
    ++epoll_wait_calls;
    epoll_wait_timeouts.push_back(timeout_ms);
    if (epoll_wait_failures > 0) {
      --epoll_wait_failures;
      errno = epoll_wait_errno;
      return -1;
    }
    return RealSyscalls::epoll_wait(epfd, events, maxevents, timeout_ms);
  }
  ssize_t send(int fd, const void* buf, size_t len, int flags) override {
    if (send_failures > 0) {
      --send_failures;
      errno = send_errno;
      return -1;
    }
    return RealSyscalls::send(fd, buf, len, flags);
  }
  ssize_t recv(int fd, void* buf, size_t len, int flags) override {
    ++recv_calls;
    if (recv_failures > 0) {
      --recv_failures;
      errno = recv_errno;
      return -1;
    }
    return RealSyscalls::recv(fd, buf, len, flags);
  }
};

}  // namespace

TEST(SyscallInjection, EintrFromBlockingEpollWaitIsRetried) {
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  sys.epoll_wait_failures = 2;
  bool fired = false;
  loop.call_later(0.02, [&] { fired = true; });
  ASSERT_TRUE(run_until(loop, [&] { return fired; }));
  EXPECT_GE(sys.epoll_wait_calls, 3);
  // Retries use the time that is left, never more than the first timeout.
  ASSERT_GE(sys.epoll_wait_timeouts.size(), 3u);
  EXPECT_LE(sys.epoll_wait_timeouts[1], sys.epoll_wait_timeouts[0]);
}

TEST(SyscallInjection, EintrFromZeroTimeoutPollReturnsNoEvents) {
  // PEP 475 with a deadline that has passed: no retry, an empty event list.
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  sys.epoll_wait_failures = 1;
  bool ran = false;
  loop.call_soon([&] { ran = true; });
  loop.run_once();
  EXPECT_TRUE(ran);
  EXPECT_EQ(sys.epoll_wait_calls, 1);
}

TEST(SyscallInjection, OtherEpollWaitErrorPropagates) {
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  sys.epoll_wait_failures = 1;
  sys.epoll_wait_errno = ENOMEM;
  loop.call_soon([] {});
  try {
    loop.run_once();
    FAIL();
  } catch (const OSError& e) {
    EXPECT_EQ(e.error_number(), ENOMEM);
    EXPECT_EQ(e.type_name(), "OSError");
  }
  EXPECT_EQ(loop.ready_count(), 1u) << "the pass stopped before running anything";
}

TEST(SyscallInjection, EagainOnSelfPipeWriteIsSwallowed) {
  CapturedLog log;
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  sys.send_failures = 1;
  bool ran = false;
  EXPECT_NO_THROW(loop.call_soon_threadsafe([&] { ran = true; }));
  loop.run_once();
  EXPECT_TRUE(ran);
  for (const LogRecord& r : log.logger->records())
    EXPECT_NE(r.message, "Fail to write a null byte into the self-pipe socket") << "only logged in debug mode";
}

TEST(SyscallInjection, FailedSelfPipeWriteLogsDebugInDebugMode) {
  CapturedLog log;
  EventLoop loop;
  loop.set_debug(true);
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  sys.send_failures = 2;
  loop.call_soon_threadsafe([] {});
  sys.send_errno = EPIPE;
  loop.call_soon_threadsafe([] {});
  std::vector<LogRecord> fails;
  for (const LogRecord& r : log.logger->records())
    if (r.message == "Fail to write a null byte into the self-pipe socket") fails.push_back(r);
  ASSERT_EQ(fails.size(), 2u);
  EXPECT_EQ(fails[0].level, LogLevel::DEBUG);
  EXPECT_EQ(fails[0].exc_text, "BlockingIOError: [Errno 11] Resource temporarily unavailable");
  EXPECT_EQ(fails[1].exc_text, "BrokenPipeError: [Errno 32] Broken pipe");
}

TEST(SyscallInjection, FullSelfPipeDoesNotRaise) {
  // A real full socket buffer: the send fails with EAGAIN, the handle still runs.
  EventLoop loop;
  std::vector<char> junk(1 << 16, 0);
  while (send(loop.self_pipe_write_fd(), junk.data(), junk.size(), MSG_DONTWAIT) > 0) {
  }
  int ran = 0;
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(loop.call_soon_threadsafe([&] { ++ran; }));
  ASSERT_TRUE(run_until(loop, [&] { return ran == 3; }));
}

TEST(SyscallInjection, EintrOnSelfPipeReadIsRetried) {
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  std::vector<int> bytes;
  loop.set_self_pipe_byte_handler([&](unsigned char b) { bytes.push_back(b); });
  const unsigned char data[] = {5};
  ASSERT_EQ(send(loop.self_pipe_write_fd(), data, 1, 0), 1);
  sys.recv_failures = 1;
  loop.run_once();
  EXPECT_EQ(bytes, std::vector<int>{5});
  EXPECT_GE(sys.recv_calls, 3);  // EINTR, data, EAGAIN
}

TEST(SyscallInjection, OtherSelfPipeReadErrorGoesToExceptionHandler) {
  CapturedLog log;
  EventLoop loop;
  ScriptedSyscalls sys;
  ScopedSyscalls scope(sys);
  ASSERT_EQ(send(loop.self_pipe_write_fd(), "\0", 1, 0), 1);
  sys.recv_failures = 1;
  sys.recv_errno = ECONNRESET;
  loop.run_once();
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].message,
            "Exception in callback BaseSelectorEventLoop._read_from_self\n"
            "handle: <Handle BaseSelectorEventLoop._read_from_self>");
  EXPECT_EQ(records[0].exc_text, "ConnectionResetError: [Errno 104] Connection reset by peer");
}

namespace {

// A clock that only moves when told to.
struct FakeClock : RealSyscalls {
  int64_t now_ns = 1000LL * 1000000000LL;
  int clock_gettime(clockid_t, struct timespec* ts) override {
    ts->tv_sec = now_ns / 1000000000LL;
    ts->tv_nsec = now_ns % 1000000000LL;
    return 0;
  }
};

}  // namespace

TEST(SyscallInjection, FakeClockDrivesTimeAndTimers) {
  FakeClock clock;
  ScopedSyscalls scope(clock);
  EventLoop loop;
  EXPECT_EQ(loop.time(), 1000.0);
  bool fired = false;
  TimerHandleRef t = loop.call_later(5, [&] { fired = true; });
  EXPECT_EQ(t->when(), 1005.0);
  loop.call_soon([] {});
  loop.run_once();
  EXPECT_FALSE(fired);
  clock.now_ns += 5LL * 1000000000LL;
  loop.call_soon([] {});  // keep the pass from waiting
  loop.run_once();
  EXPECT_TRUE(fired);
}

TEST(SyscallInjection, TimerJustWithinClockResolutionIsDue) {
  // Due means when < time() + clock_resolution.
  FakeClock clock;
  ScopedSyscalls scope(clock);
  EventLoop loop;
  int fired = 0;
  loop.call_at(1000.0 + 0.5e-9, [&] { ++fired; });
  loop.call_at(1000.0 + 2e-6, [&] { ++fired; });
  loop.call_soon([] {});
  loop.run_once();
  EXPECT_EQ(fired, 1);
}

namespace {

struct FailingSetup : RealSyscalls {
  int socketpair_errno = 0;
  int epoll_create_errno = 0;
  int socketpair(int domain, int type, int protocol, int sv[2]) override {
    if (socketpair_errno) {
      errno = socketpair_errno;
      return -1;
    }
    return RealSyscalls::socketpair(domain, type, protocol, sv);
  }
  int epoll_create1(int flags) override {
    if (epoll_create_errno) {
      errno = epoll_create_errno;
      return -1;
    }
    return RealSyscalls::epoll_create1(flags);
  }
};

}  // namespace

TEST(SyscallInjection, LoopCreationFailuresRaiseOSErrorWithoutLeaks) {
  FailingSetup sys;
  ScopedSyscalls scope(sys);
  sys.socketpair_errno = EMFILE;
  try {
    EventLoop loop;
    FAIL();
  } catch (const OSError& e) {
    EXPECT_EQ(e.format_exception_only(), "OSError: [Errno 24] Too many open files");
  }
  sys.socketpair_errno = 0;
  sys.epoll_create_errno = ENFILE;
  try {
    EventLoop loop;
    FAIL();
  } catch (const OSError& e) {
    EXPECT_EQ(e.error_number(), ENFILE);
  }
  // The fd leak gate checks that the epoll fd of the first attempt was closed.
}
