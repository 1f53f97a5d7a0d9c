// add_signal_handler / remove_signal_handler / delivery / close, against CPython's
// behaviour (B-SIG-1..12). Signals are raised at the process with kill(getpid()) from the
// test thread, which runs the C-level handler before kill returns.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/signals.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

using test::Trace;

void raise_at_process(int sig, int count = 1) {
  for (int i = 0; i < count; ++i) ASSERT_EQ(::kill(::getpid(), sig), 0);
}

// Runs exactly `n` passes, each polling with timeout 0 (stop() before run_forever()).
void passes(EventLoop& loop, int n) {
  for (int i = 0; i < n; ++i) {
    loop.stop();
    loop.run_forever();
  }
}

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.message();
  }
  return "<nothing raised>";
}

// Restores SIG_DFL for signals a test leaves changed on purpose (CPython leaves them too).
void restore_default(int sig) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
}

TEST(SignalHandlers, InvalidSignalNumbersAreRejectedByAddAndRemove) {
  EventLoop loop;
  for (int sig : {0, -1, 32, 33, 65, 66}) {
    std::string want = "invalid signal number " + std::to_string(sig);
    EXPECT_EQ(message_of<ValueError>([&] { loop.add_signal_handler(sig, [] {}); }), want);
    EXPECT_EQ(message_of<ValueError>([&] { loop.remove_signal_handler(sig); }), want);
  }
  EXPECT_TRUE(is_valid_signal(1));
  EXPECT_TRUE(is_valid_signal(31));
  EXPECT_TRUE(is_valid_signal(34));
  EXPECT_TRUE(is_valid_signal(64));
  EXPECT_EQ(signal_wakeup_fd(), -1);
  loop.close();
}

TEST(SignalHandlers, ClosedLoopChecksTheNumberFirst) {
  EventLoop loop;
  loop.close();
  EXPECT_EQ(message_of<ValueError>([&] { loop.add_signal_handler(0, [] {}); }), "invalid signal number 0");
  EXPECT_EQ(message_of<RuntimeError>([&] { loop.add_signal_handler(SIGUSR1, [] {}); }), "Event loop is closed");
  EXPECT_EQ(signal_wakeup_fd(), -1);
}

TEST(SignalHandlers, UncatchableSignalsRaiseRuntimeErrorAndLeaveNothingRegistered) {
  EventLoop loop;
  EXPECT_EQ(message_of<RuntimeError>([&] { loop.add_signal_handler(SIGKILL, [] {}); }), "sig 9 cannot be caught");
  EXPECT_EQ(message_of<RuntimeError>([&] { loop.add_signal_handler(SIGSTOP, [] {}); }), "sig 19 cannot be caught");
  EXPECT_TRUE(loop.signal_handler_signals().empty());
  EXPECT_EQ(signal_wakeup_fd(), -1);  // no handler left: set_wakeup_fd(-1)
  EXPECT_FALSE(loop.remove_signal_handler(SIGKILL));
  loop.close();
}

TEST(SignalHandlers, FailedInstallKeepsTheWakeupFdWhenOtherHandlersExist) {
  EventLoop loop;
  loop.add_signal_handler(SIGHUP, [] {});
  EXPECT_THROW(loop.add_signal_handler(SIGKILL, [] {}), RuntimeError);
  EXPECT_EQ(signal_wakeup_fd(), loop.self_pipe_write_fd());
  EXPECT_EQ(loop.signal_handler_signals(), std::vector<int>{SIGHUP});
  loop.close();
}

struct FailingSigaction : RealSyscalls {
  int err;
  explicit FailingSigaction(int e) : err(e) {}
  int sigaction(int, const struct sigaction*, struct sigaction*) override {
    errno = err;
    return -1;
  }
};

TEST(SignalHandlers, InstallErrorsOtherThanEinvalAreReraisedAfterCleanup) {
  EventLoop loop;
  FailingSigaction failing(EPERM);
  {
    ScopedSyscalls scope(failing);
    try {
      loop.add_signal_handler(SIGHUP, [] {});
      ADD_FAILURE() << "nothing raised";
    } catch (const OSError& e) {
      EXPECT_EQ(e.type_name(), "PermissionError");
      EXPECT_EQ(e.error_number(), EPERM);
    }
  }
  EXPECT_TRUE(loop.signal_handler_signals().empty());
  EXPECT_EQ(signal_wakeup_fd(), -1);
  loop.close();
}

TEST(SignalHandlers, AddFromAnotherThreadRaisesRuntimeErrorAndChangesNothing) {
  EventLoop loop;
  std::string message;
  std::thread t([&] { message = message_of<RuntimeError>([&] { loop.add_signal_handler(SIGUSR1, [] {}); }); });
  t.join();
  EXPECT_EQ(message, "set_wakeup_fd only works in main thread of the main interpreter");
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
  EXPECT_TRUE(loop.signal_handler_signals().empty());
  EXPECT_EQ(signal_wakeup_fd(), -1);
  loop.close();
}

TEST(SignalHandlers, AddInstallsTheWakeupWriterWithSaRestart) {
  EventLoop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  EXPECT_EQ(signal_disposition(SIGUSR1), "python-handler");
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &current), 0);
  EXPECT_TRUE(current.sa_flags & SA_RESTART);
  EXPECT_EQ(signal_wakeup_fd(), loop.self_pipe_write_fd());
  ASSERT_TRUE(loop.signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.signal_handler(SIGUSR2));
  loop.close();
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
  EXPECT_EQ(signal_wakeup_fd(), -1);
}

TEST(SignalHandlers, HandlerRunsOnePassAfterTheByteIsRead) {
  EventLoop loop;
  Trace trace;
  loop.add_signal_handler(SIGUSR1, trace.add("h1"));
  raise_at_process(SIGUSR1);
  loop.call_soon(trace.add("a"));
  passes(loop, 1);  // runs a, then the self-pipe reader queues h1
  EXPECT_EQ(trace.events, (std::vector<std::string>{"a"}));
  loop.call_soon(trace.add("b"));
  passes(loop, 1);
  EXPECT_EQ(trace.events, (std::vector<std::string>{"a", "h1", "b"}));
  loop.close();
}

TEST(SignalHandlers, EachByteRunsTheHandlerOnce) {
  EventLoop loop;
  int runs = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++runs; });
  raise_at_process(SIGUSR1, 5);
  passes(loop, 2);
  EXPECT_EQ(runs, 5);
  passes(loop, 2);
  EXPECT_EQ(runs, 5);
  loop.close();
}

TEST(SignalHandlers, SecondHandlerReplacesTheFirst) {
  EventLoop loop;
  Trace trace;
  loop.add_signal_handler(SIGUSR2, trace.add("first"));
  loop.add_signal_handler(SIGUSR2, trace.add("second"));
  raise_at_process(SIGUSR2);
  passes(loop, 2);
  EXPECT_EQ(trace.events, (std::vector<std::string>{"second"}));
  EXPECT_EQ(loop.signal_handler_signals(), std::vector<int>{SIGUSR2});
  loop.close();
}

TEST(SignalHandlers, SignalWakesALoopBlockedInItsPoll) {
  EventLoop loop;
  bool ran = false;
  loop.add_signal_handler(SIGUSR1, [&] { ran = true; });
  std::thread sender([] { ::kill(::getpid(), SIGUSR1); });
  EXPECT_TRUE(test::run_until(loop, [&] { return ran; }, 5000));
  sender.join();
  loop.close();
}

TEST(SignalHandlers, CancelledStoredHandleUnregistersOnDelivery) {
  EventLoop loop;
  bool ran = false;
  loop.add_signal_handler(SIGUSR1, [&] { ran = true; });
  loop.signal_handler(SIGUSR1)->cancel();
  raise_at_process(SIGUSR1);
  passes(loop, 2);
  EXPECT_FALSE(ran);
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_EQ(signal_wakeup_fd(), -1);
  loop.close();
}

TEST(SignalHandlers, HandlerRemovedBeforeTheByteIsReadNeverRuns) {
  EventLoop loop;
  Trace trace;
  loop.add_signal_handler(SIGUSR1, trace.add("h1"));
  loop.add_signal_handler(SIGHUP, trace.add("keep"));  // keeps the wakeup fd on
  raise_at_process(SIGUSR1);
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  passes(loop, 2);
  EXPECT_TRUE(trace.events.empty());
  loop.close();
}

TEST(SignalHandlers, HandleQueuedBeforeRemovalStillRuns) {
  // CPython's remove_signal_handler deletes the entry but does not cancel the handle.
  EventLoop loop;
  Trace trace;
  loop.add_signal_handler(SIGUSR1, trace.add("h1"));
  raise_at_process(SIGUSR1);
  passes(loop, 1);
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  passes(loop, 1);
  EXPECT_EQ(trace.events, (std::vector<std::string>{"h1"}));
  loop.close();
}

TEST(SignalHandlers, RemoveRestoresDefaultsAndClearsTheWakeupFdWithTheLastHandler) {
  EventLoop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  loop.add_signal_handler(SIGINT, [] {});
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
  EXPECT_EQ(signal_wakeup_fd(), loop.self_pipe_write_fd());  // SIGINT's handler remains
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_TRUE(loop.remove_signal_handler(SIGINT));
  EXPECT_EQ(signal_disposition(SIGINT), "default_int_handler");
  EXPECT_EQ(signal_wakeup_fd(), -1);
  restore_default(SIGINT);
  loop.close();
}

TEST(SignalHandlersDeathTest, DefaultIntHandlerEndsTheProcessLikeAnUncaughtKeyboardInterrupt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        EventLoop loop;
        loop.add_signal_handler(SIGINT, [] {});
        loop.remove_signal_handler(SIGINT);
        ::kill(::getpid(), SIGINT);
        std::_Exit(0);
      },
      testing::KilledBySignal(SIGINT), "");
}

TEST(SignalHandlers, RemoveFromAnotherThreadRaisesValueErrorAfterForgettingTheHandler) {
  EventLoop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  std::string message;
  std::thread t([&] { message = message_of<ValueError>([&] { loop.remove_signal_handler(SIGUSR1); }); });
  t.join();
  EXPECT_EQ(message, "signal only works in main thread of the main interpreter");
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_EQ(signal_disposition(SIGUSR1), "python-handler");  // as CPython leaves it
  EXPECT_EQ(signal_wakeup_fd(), loop.self_pipe_write_fd());
  raise_at_process(SIGUSR1);  // the byte finds no handler
  passes(loop, 2);
  loop.close();
  set_signal_wakeup_fd(-1);
  restore_default(SIGUSR1);
}

TEST(SignalHandlers, CloseRemovesEveryHandler) {
  EventLoop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  loop.add_signal_handler(SIGHUP, [] {});
  loop.close();
  EXPECT_TRUE(loop.signal_handler_signals().empty());
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
  EXPECT_EQ(signal_disposition(SIGHUP), "SIG_DFL");
  EXPECT_EQ(signal_wakeup_fd(), -1);
}

TEST(SignalHandlers, CloseFromAnotherThreadRaisesValueErrorAndClosesTheLoop) {
  EventLoop loop;
  loop.add_signal_handler(SIGUSR1, [] {});
  std::string message;
  std::thread t([&] { message = message_of<ValueError>([&] { loop.close(); }); });
  t.join();
  EXPECT_EQ(message, "signal only works in main thread of the main interpreter");
  EXPECT_TRUE(loop.is_closed());
  set_signal_wakeup_fd(-1);
  restore_default(SIGUSR1);
}

TEST(SignalHandlers, RaisingHandlerGoesToTheExceptionHandlerAndStaysRegistered) {
  EventLoop loop;
  std::vector<std::string> messages;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { messages.push_back(c.message.value_or("")); });
  loop.add_signal_handler(SIGUSR1, [] { throw ValueError("in handler"); }, "h1()");
  raise_at_process(SIGUSR1);
  passes(loop, 2);
  EXPECT_EQ(messages, std::vector<std::string>{"Exception in callback h1()"});
  EXPECT_EQ(loop.signal_handler_signals(), std::vector<int>{SIGUSR1});
  loop.close();
}

// B-SIG-12: one wakeup fd per process; the loop that added a handler last owns it.
TEST(SignalHandlers, TwoLoopsShareOneWakeupFd) {
  EventLoop a;
  EventLoop b;
  Trace trace;
  a.add_signal_handler(SIGUSR1, trace.add("a.h"));
  b.add_signal_handler(SIGUSR2, trace.add("b.h"));
  EXPECT_EQ(signal_wakeup_fd(), b.self_pipe_write_fd());
  raise_at_process(SIGUSR1);  // written to b's self-pipe, where no SIGUSR1 handler exists
  passes(a, 2);
  passes(b, 2);
  EXPECT_TRUE(trace.events.empty());
  raise_at_process(SIGUSR2);
  passes(b, 2);
  EXPECT_EQ(trace.events, std::vector<std::string>{"b.h"});
  // Removing b's last handler turns the wakeup fd off for a too.
  EXPECT_TRUE(b.remove_signal_handler(SIGUSR2));
  EXPECT_EQ(signal_wakeup_fd(), -1);
  raise_at_process(SIGUSR1);  // a's handler is installed but nothing is written
  passes(a, 2);
  EXPECT_EQ(trace.events, std::vector<std::string>{"b.h"});
  b.close();
  a.close();
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
}

TEST(SignalHandlers, FullWakeupSocketDropsBytesAndReportsOnStderr) {
  EventLoop loop;
  int runs = 0;
  loop.add_signal_handler(SIGHUP, [&] { ++runs; });
  std::uint64_t failures_before = signal_wakeup_write_failures();
  testing::internal::CaptureStderr();
  int sent = 0;
  while (signal_wakeup_write_failures() == failures_before && sent < 100000) {
    ::kill(::getpid(), SIGHUP);
    ++sent;
  }
  passes(loop, 2);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_GT(signal_wakeup_write_failures(), failures_before) << "the self-pipe never filled";
  EXPECT_GT(runs, 0);
  EXPECT_LT(runs, sent);
  EXPECT_NE(err.find("Exception ignored when trying to write to the signal wakeup fd:\n"
                     "BlockingIOError: [Errno 11] Resource temporarily unavailable"),
            std::string::npos)
      << err;
  // The loop still works once drained.
  int before = runs;
  raise_at_process(SIGHUP);
  passes(loop, 2);
  EXPECT_EQ(runs, before + 1);
  loop.close();
}

}  // namespace
}  // namespace loopcheck
