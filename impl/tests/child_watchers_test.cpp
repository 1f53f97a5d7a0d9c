// Child watchers (CPython's test_unix_events ChildWatcherTestsMixin and the policy tests,
// by behaviour) with real children: fork + _exit, or a paused child killed by the test.
// Every test leaves no child behind (no zombie either), no thread and no fd.
//
// Loops run with run_forever, as asyncio runs them: only then is a loop the running one
// (get_running_loop(), which MultiLoop, Threaded and Pidfd registration needs) and
// is_running() true. A bare run_once is neither, and blocks for ever with nothing to do;
// every wait here ends at an event (a report, a log record, a pidfd) or a deadline.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <semaphore>
#include <thread>

#include "loopcheck/child_watcher_policy.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/signals.hpp"
#include "loopcheck/warnings.hpp"
#include "../src/child_status.hpp"
#include "test_support.hpp"

namespace loopcheck::test {
namespace {

// Fails the test if the process still has a child, exited or not (destroyed last).
struct NoChildrenLeft {
  ~NoChildrenLeft() {
    siginfo_t info{};
    int r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    EXPECT_TRUE(r < 0 && errno == ECHILD) << "a child process (or zombie) outlived the test";
  }
};

// Children of the test; whatever is left is killed and reaped at the end.
struct Children {
  std::vector<pid_t> pids;
  pid_t exiting(int code) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(code);
    pids.push_back(pid);
    return pid;
  }
  pid_t paused() {
    pid_t pid = ::fork();
    if (pid == 0) {
      for (;;) ::pause();
    }
    pids.push_back(pid);
    return pid;
  }
  ~Children() {
    for (pid_t pid : pids) {
      ::kill(pid, SIGKILL);
      int status;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

// Waits (without reaping) until `pid` has exited: its pidfd becomes readable. False at the
// deadline, or when `pid` is not a live or zombie child (nothing to wait for).
bool await_exit(pid_t pid, int ms = 5000) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  struct pollfd fds = {pidfd, POLLIN, 0};
  auto end = std::chrono::steady_clock::now() + deadline_ms(ms);
  int r;
  do {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    r = ::poll(&fds, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
  } while (r < 0 && errno == EINTR);
  ::close(pidfd);
  return r == 1;
}

// os.waitpid + waitstatus_to_exitcode, for a child the test reaps itself.
int reap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return -1000 - errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

struct CapturedWarnings {
  std::mutex mu;
  std::vector<std::string> texts;
  ScopedWarningHandler scope{[this](const WarningRecord& w) {
    std::lock_guard lock(mu);
    texts.push_back(w.category + ": " + w.message);
  }};
  std::vector<std::string> take() {
    std::lock_guard lock(mu);
    return std::exchange(texts, {});
  }
};

// Something a test waits for happened: the loop running in this thread (if any) leaves
// run_forever after this pass, so that run_loop_until looks at its predicate again. Every
// callback, handler and log record a test waits for calls it.
void progress() {
  if (EventLoop* running = get_running_loop_or_null()) running->stop();
}

// Runs `loop` the way asyncio does (run_forever: it is the running loop, is_running() is
// true) until done() holds or the deadline passes. The loop blocks in select between
// events; progress() (or the deadline timer) ends a run so that done() is checked again.
template <class Pred>
bool run_loop_until(EventLoop& loop, Pred done, int ms = 5000) {
  bool expired = false;
  TimerHandleRef deadline = loop.call_later(
      static_cast<double>(deadline_ms(ms).count()) / 1000.0,
      [&] {
        expired = true;
        loop.stop();
      },
      "deadline");
  while (!done() && !expired) loop.run_forever();
  deadline->cancel();
  return done();
}

// Runs fn() inside `loop`, running (asyncio.get_running_loop() is `loop`), in one pass that
// does not block: fn is ready, and stop() ends the run after it.
template <class Fn>
void run_in(EventLoop& loop, Fn fn) {
  loop.call_soon([&loop, fn] {
    loop.stop();
    fn();
  });
  loop.run_forever();
}

// The asyncio logger for a test: keeps every record; each WARNING counts as progress, and
// a thread can wait for the n-th one (watcher threads log from outside any loop).
class WaitableLogger : public CapturingLogger {
 public:
  void log(const LogRecord& record) override {
    CapturingLogger::log(record);
    if (record.level < LogLevel::WARNING) return;
    {
      std::lock_guard lock(mu_);
      ++warnings_;
    }
    cv_.notify_all();
    progress();
  }
  // True once `n` WARNING records (or more) were logged; false at the deadline.
  bool wait_for_warnings(std::size_t n, int ms = 5000) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline_ms(ms), [&] { return warnings_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t warnings_ = 0;
};

struct WaitableLog {
  std::shared_ptr<WaitableLogger> logger = std::make_shared<WaitableLogger>();
  ScopedLogger scope{logger};
  std::vector<LogRecord> warnings() const { return logger->records_at_least(LogLevel::WARNING); }
};

// Exits reported to callbacks: pid -> returncodes, in order. A report is progress.
struct Reports {
  std::mutex mu;
  std::map<pid_t, std::vector<int>> by_pid;
  std::atomic<int> count{0};
  ChildCallback callback() {
    return [this](pid_t pid, int returncode) {
      {
        std::lock_guard lock(mu);
        by_pid[pid].push_back(returncode);
        ++count;
      }
      progress();
    };
  }
  std::vector<int> of(pid_t pid) {
    std::lock_guard lock(mu);
    return by_pid[pid];
  }
};

std::vector<std::string> warning_texts(const WaitableLog& log) {
  std::vector<std::string> out;
  for (const auto& r : log.warnings()) out.push_back(r.message);
  return out;
}

// The number of open fds (a pidfd shows up here while a reader holds it).
int open_fd_count() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (dirent* entry = ::readdir(dir))
      if (entry->d_name[0] != '.') ++n;
    ::closedir(dir);
  }
  return n - 1;  // the directory's own fd
}

class ChildWatcherTest : public ::testing::Test {
 protected:
  NoChildrenLeft no_children_left;  // checked last
  WaitableLog log;
  CapturedWarnings warnings;
  Children children;
  Reports reports;
  EventLoop loop;

  // Runs the loop until `n` exits were reported (or the deadline).
  bool run_until_reported(int n) {
    return run_loop_until(loop, [&] { return reports.count.load() >= n; });
  }
};

std::string deprecation(const std::string& name) {
  return "DeprecationWarning: '" + name + "' is deprecated as of Python 3.12 and will be removed in Python 3.14.";
}

// ---- returncodes ------------------------------------------------------------------------

TEST(WaitstatusToExitcode, ExitStatusSignalAndOther) {
  EXPECT_EQ(detail::waitstatus_to_exitcode(3 << 8), 3);      // exited with 3
  EXPECT_EQ(detail::waitstatus_to_exitcode(SIGKILL), -9);    // killed by SIGKILL
  EXPECT_EQ(detail::waitstatus_to_exitcode(0x137f), 0x137f);  // stopped: the raw status
}

// ---- AbstractChildWatcher / BaseChildWatcher ----------------------------------------------

TEST(AbstractChildWatcher, EveryMethodRaisesNotImplementedError) {
  AbstractChildWatcher w;
  EXPECT_EQ(raised([&] { w.add_child_handler(1, [](pid_t, int) {}); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.remove_child_handler(1); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.attach_loop(nullptr); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.close(); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.is_active(); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.enter(); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { w.exit(); }), "NotImplementedError");
  BaseChildWatcher b;
  EXPECT_EQ(raised([&] { b.do_waitpid(1); }), "NotImplementedError");
  EXPECT_EQ(raised([&] { b.do_waitpid_all(); }), "NotImplementedError");
  EXPECT_FALSE(b.is_active());
}

// ---- SafeChildWatcher ---------------------------------------------------------------------

TEST_F(ChildWatcherTest, SafeWarnsDeprecationAndReportsAnExitStatus) {
  SafeChildWatcher w;
  EXPECT_EQ(warnings.take(), std::vector<std::string>{deprecation("SafeChildWatcher")});
  w.attach_loop(&loop);
  pid_t pid = children.exiting(3);
  {
    ChildWatcherScope with(w);
    w.add_child_handler(pid, reports.callback());
  }
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(pid), std::vector<int>{3});
  EXPECT_FALSE(w.remove_child_handler(pid));  // reported: forgotten
  w.close();
}

TEST_F(ChildWatcherTest, SafeReportsASignalAsItsNegativeNumber) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  w.add_child_handler(pid, reports.callback());
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(pid), std::vector<int>{-SIGTERM});
  w.close();
}

TEST_F(ChildWatcherTest, SafeReportsAChildThatExitedBeforeRegistrationAtOnce) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.exiting(5);
  ASSERT_TRUE(await_exit(pid));
  w.add_child_handler(pid, reports.callback());
  EXPECT_EQ(reports.of(pid), std::vector<int>{5});  // no loop pass needed
  w.close();
}

TEST_F(ChildWatcherTest, SafeReports255WithAWarningForAChildReapedElsewhere) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.exiting(3);
  EXPECT_EQ(reap(pid), 3);
  w.add_child_handler(pid, reports.callback());
  EXPECT_EQ(reports.of(pid), std::vector<int>{255});
  EXPECT_EQ(warning_texts(log),
            std::vector<std::string>{"Unknown child process pid " + std::to_string(pid) + ", will report returncode 255"});
  w.close();
}

TEST_F(ChildWatcherTest, SafeReRegistrationReplacesTheCallback) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  std::vector<std::string> calls;
  w.add_child_handler(pid, [&](pid_t, int) {
    calls.push_back("first");
    progress();
  });
  w.add_child_handler(pid, [&](pid_t, int rc) {
    calls.push_back("second " + std::to_string(rc));
    progress();
  });
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(run_loop_until(loop, [&] { return !calls.empty(); }));
  EXPECT_EQ(calls, std::vector<std::string>{"second -9"});
  w.close();
}

TEST_F(ChildWatcherTest, SafeRemovedChildIsNeitherReportedNorReaped) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  pid_t other = children.paused();
  w.add_child_handler(pid, reports.callback());
  EXPECT_TRUE(w.remove_child_handler(pid));
  EXPECT_FALSE(w.remove_child_handler(pid));
  EXPECT_FALSE(w.remove_child_handler(other));
  // A registered child that exits after `pid` did: once it is reported, the SIGCHLD handler
  // has run with `pid` exited.
  pid_t marker = children.paused();
  w.add_child_handler(marker, reports.callback());
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(await_exit(pid));
  ::kill(marker, SIGKILL);
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(marker), std::vector<int>{-9});
  EXPECT_EQ(reports.count.load(), 1);  // not `pid`
  EXPECT_EQ(reap(pid), -9);            // still ours to reap
  w.close();
}

TEST_F(ChildWatcherTest, SafeLeavesUnregisteredChildrenAlone) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t unregistered = children.exiting(2);
  pid_t watched = children.paused();
  w.add_child_handler(watched, reports.callback());
  ASSERT_TRUE(await_exit(unregistered));
  ::kill(watched, SIGKILL);
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(watched), std::vector<int>{-9});
  EXPECT_EQ(reap(unregistered), 2);
  w.close();
}

TEST_F(ChildWatcherTest, SafeCallbackErrorGoesToTheExceptionHandler) {
  std::vector<std::string> contexts;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) {
    contexts.push_back(c.message.value_or("") + " | " + format_exception_only(c.exception));
    progress();
  });
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  w.add_child_handler(pid, [](pid_t, int) { throw ValueError("boom"); });
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(run_loop_until(loop, [&] { return !contexts.empty(); }));
  EXPECT_EQ(contexts, std::vector<std::string>{"Unknown exception in SIGCHLD handler | ValueError: boom"});
  w.close();
}

TEST_F(ChildWatcherTest, SafeDetachingWithPendingChildrenWarnsAndReattachingReportsThem) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  warnings.take();
  pid_t pid = children.paused();
  w.add_child_handler(pid, reports.callback());
  w.attach_loop(nullptr);
  EXPECT_EQ(warnings.take(), std::vector<std::string>{"RuntimeWarning: A loop is being detached from a child watcher "
                                                      "with pending handlers"});
  EXPECT_EQ(signal_disposition(SIGCHLD), "SIG_DFL");
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(await_exit(pid));
  w.attach_loop(&loop);  // the exit is caught inside attach_loop
  EXPECT_EQ(reports.of(pid), std::vector<int>{-9});
  w.close();
  EXPECT_TRUE(warnings.take().empty());  // nothing pending any more
}

TEST_F(ChildWatcherTest, SafeAttachLoopMovesTheSigchldHandlerBetweenLoops) {
  EventLoop other;
  SafeChildWatcher w;
  w.attach_loop(&loop);
  EXPECT_TRUE(loop.signal_handler(SIGCHLD));
  w.attach_loop(&other);
  EXPECT_FALSE(loop.signal_handler(SIGCHLD));
  EXPECT_TRUE(other.signal_handler(SIGCHLD));
  EXPECT_EQ(signal_disposition(SIGCHLD), "python-handler");
  w.close();
  EXPECT_FALSE(other.signal_handler(SIGCHLD));
  EXPECT_EQ(signal_disposition(SIGCHLD), "SIG_DFL");
}

TEST_F(ChildWatcherTest, SafeIsActiveOnlyWhileItsLoopRuns) {
  SafeChildWatcher w;
  EXPECT_FALSE(w.is_active());
  w.attach_loop(&loop);
  EXPECT_FALSE(w.is_active());
  bool active = false;
  run_in(loop, [&] { active = w.is_active(); });
  EXPECT_TRUE(active);
  EXPECT_FALSE(w.is_active());  // stopped again
  w.close();
}

TEST_F(ChildWatcherTest, SafeCloseForgetsChildrenAndDropsTheHandler) {
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  w.add_child_handler(pid, reports.callback());
  w.close();
  EXPECT_TRUE(warnings.take().size() == 1);  // only the deprecation: close forgets first
  EXPECT_FALSE(loop.remove_signal_handler(SIGCHLD));
  EXPECT_FALSE(w.remove_child_handler(pid));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(reap(pid), -9);
}

TEST_F(ChildWatcherTest, SafeLogsEachExitInDebugMode) {
  loop.set_debug(true);
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.exiting(7);
  ASSERT_TRUE(await_exit(pid));
  w.add_child_handler(pid, reports.callback());
  bool logged = false;
  for (const auto& r : log.logger->records())
    logged = logged || (r.level == LogLevel::DEBUG &&
                        r.message == "process " + std::to_string(pid) + " exited with returncode 7");
  EXPECT_TRUE(logged);
  w.close();
}

TEST_F(ChildWatcherTest, SafeDetachedWatcherCannotAskTheLoopForDebug) {
  SafeChildWatcher w;
  pid_t pid = children.exiting(1);
  ASSERT_TRUE(await_exit(pid));
  EXPECT_EQ(raised([&] { w.add_child_handler(pid, reports.callback()); }),
            "AttributeError: 'NoneType' object has no attribute 'get_debug'");
}

// A SIGCHLD the loop dispatched before close() leaves the watcher's handle in the ready
// queue; it runs after close(), as in CPython. A watcher destroyed meanwhile must not be
// reached through it (found by child_watcher_property: a use after free).
TEST_F(ChildWatcherTest, SafeDestroyedWithItsSigchldHandleQueuedIsNotReached) {
  std::vector<std::string> contexts;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { contexts.push_back(c.message.value_or("")); });
  auto w = std::make_unique<SafeChildWatcher>();
  w->attach_loop(&loop);
  pid_t pid = children.exiting(3);
  ASSERT_TRUE(await_exit(pid));
  run_in(loop, [] {});  // the self-pipe reader queues the SIGCHLD handle for the next pass
  w->close();
  w.reset();
  run_in(loop, [] {});  // the queued handle runs
  EXPECT_TRUE(contexts.empty());
  EXPECT_EQ(reap(pid), 3);  // left alone
}

// CPython 3.12/3.13: the handle queued before close() runs Fast's _do_waitpid_all detached;
// inside `with watcher:` the exit goes to the zombie table, then self._loop.get_debug() and
// the handler's self._loop.call_exception_handler fail on None, so the loop reports the
// AttributeError for the callback, and the block's end warns about the exit.
TEST_F(ChildWatcherTest, FastClosedInsideTheBlockRunsAQueuedSigchldHandleAsCPythonDoes) {
  std::vector<std::string> contexts;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) {
    contexts.push_back(c.message.value_or("") + " | " + format_exception_only(c.exception));
  });
  FastChildWatcher w;
  w.attach_loop(&loop);
  w.enter();
  pid_t pid = children.exiting(3);
  ASSERT_TRUE(await_exit(pid));
  run_in(loop, [] {});  // queues the SIGCHLD handle
  w.close();
  run_in(loop, [] {});
  EXPECT_EQ(contexts, std::vector<std::string>{"Exception in callback BaseChildWatcher._sig_chld() | AttributeError: "
                                               "'NoneType' object has no attribute 'call_exception_handler'"});
  w.exit();
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"Caught subprocesses termination from unknown pids: {" +
                                                         std::to_string(pid) + ": 3}"});
  EXPECT_EQ(reap(pid), -1000 - ECHILD);
}

// Injected failures of waitpid (CPython's tests mock os.waitpid the same way).
struct WaitpidFailures : RealSyscalls {
  std::atomic<int> eintr{0};
  std::atomic<bool> echild{false};
  pid_t waitpid(pid_t pid, int* status, int options) override {
    if (eintr > 0) {
      --eintr;
      errno = EINTR;
      return -1;
    }
    if (echild) {
      errno = ECHILD;
      return -1;
    }
    return RealSyscalls::waitpid(pid, status, options);
  }
};

TEST_F(ChildWatcherTest, SafeRetriesWaitpidOnEintr) {
  WaitpidFailures failures;
  failures.eintr = 3;
  ScopedSyscalls scoped(failures);
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.exiting(4);
  ASSERT_TRUE(await_exit(pid));
  w.add_child_handler(pid, reports.callback());
  EXPECT_EQ(reports.of(pid), std::vector<int>{4});
  EXPECT_EQ(failures.eintr.load(), 0);
  w.close();
}

TEST_F(ChildWatcherTest, SafeTreatsEchildAsReapedElsewhere) {
  WaitpidFailures failures;
  failures.echild = true;
  ScopedSyscalls scoped(failures);
  SafeChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  w.add_child_handler(pid, reports.callback());
  EXPECT_EQ(reports.of(pid), std::vector<int>{255});
  EXPECT_EQ(warning_texts(log).size(), 1u);
  w.close();
}

// ---- FastChildWatcher ---------------------------------------------------------------------

TEST_F(ChildWatcherTest, FastRequiresTheContextManager) {
  FastChildWatcher w;
  EXPECT_EQ(warnings.take(), std::vector<std::string>{deprecation("FastChildWatcher")});
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  EXPECT_EQ(raised([&] { w.add_child_handler(pid, reports.callback()); }), "AssertionError: Must use the context manager");
  w.close();
}

TEST_F(ChildWatcherTest, FastReportsARegisteredChild) {
  FastChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  {
    ChildWatcherScope with(w);
    w.add_child_handler(pid, reports.callback());
  }
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(pid), std::vector<int>{-9});
  w.close();
}

TEST_F(ChildWatcherTest, FastReapsAnUnknownChildAndWarnsOutsideTheBlock) {
  FastChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.exiting(2);
  ASSERT_TRUE(await_exit(pid));
  ASSERT_TRUE(run_loop_until(loop, [&] { return !log.warnings().empty(); }));
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"Caught subprocess termination from unknown pid: " +
                                                         std::to_string(pid) + " -> 2"});
  EXPECT_EQ(reap(pid), -1000 - ECHILD);  // reaped by the watcher
  w.close();
}

TEST_F(ChildWatcherTest, FastKeepsExitsInsideTheBlockUntilRegistrationOrItsEnd) {
  FastChildWatcher w;
  w.attach_loop(&loop);
  w.enter();
  pid_t first = children.exiting(2);
  pid_t second = children.exiting(3);
  ASSERT_TRUE(await_exit(first));
  ASSERT_TRUE(await_exit(second));
  w.do_waitpid_all();
  w.add_child_handler(first, reports.callback());
  EXPECT_EQ(reports.of(first), std::vector<int>{2});  // at once
  EXPECT_TRUE(log.warnings().empty());
  w.enter();  // nested: only the outermost exit reports
  w.exit();
  EXPECT_TRUE(log.warnings().empty());
  w.exit();
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"Caught subprocesses termination from unknown pids: {" +
                                                         std::to_string(second) + ": 3}"});
  w.close();
}

TEST_F(ChildWatcherTest, FastNeverReportsAChildReapedElsewhere) {
  FastChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  pid_t marker = children.paused();  // reported once waitpid(-1) ran after our reap
  {
    ChildWatcherScope with(w);
    w.add_child_handler(pid, reports.callback());
    w.add_child_handler(marker, reports.callback());
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(reap(pid), -9);
  ::kill(marker, SIGKILL);
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(marker), std::vector<int>{-9});
  EXPECT_EQ(reports.count.load(), 1);  // never `pid`
  EXPECT_TRUE(log.warnings().empty());
  EXPECT_TRUE(w.remove_child_handler(pid));  // still registered
  w.close();
}

// ---- MultiLoopChildWatcher ----------------------------------------------------------------

TEST_F(ChildWatcherTest, MultiLoopNeedsARunningLoopToRegister) {
  MultiLoopChildWatcher w;
  EXPECT_EQ(warnings.take(), std::vector<std::string>{deprecation("MultiLoopChildWatcher")});
  EXPECT_EQ(raised([&] { w.add_child_handler(1, reports.callback()); }), "RuntimeError: no running event loop");
}

TEST_F(ChildWatcherTest, MultiLoopInstallsAProcessWideHandlerOnceAndCloseRestoresIt) {
  MultiLoopChildWatcher w;
  EXPECT_FALSE(w.is_active());
  EXPECT_EQ(raised([&] {
              std::exception_ptr error;
              std::thread([&] {
                try {
                  w.attach_loop(nullptr);
                } catch (...) {
                  error = std::current_exception();
                }
              }).join();
              if (error) std::rethrow_exception(error);
            }),
            "ValueError: signal only works in main thread of the main interpreter");
  EXPECT_FALSE(w.is_active());
  w.attach_loop(nullptr);
  EXPECT_TRUE(w.is_active());
  EXPECT_EQ(signal_disposition(SIGCHLD), "python-handler");
  EXPECT_FALSE(loop.remove_signal_handler(SIGCHLD));  // no loop handler
  w.attach_loop(&loop);                               // once only
  w.close();
  EXPECT_FALSE(w.is_active());
  EXPECT_EQ(signal_disposition(SIGCHLD), "SIG_DFL");
}

TEST_F(ChildWatcherTest, MultiLoopReportsOnTheRegisteringLoop) {
  MultiLoopChildWatcher w;
  w.attach_loop(&loop);
  pid_t exited = children.exiting(2);
  pid_t killed = children.paused();
  run_in(loop, [&] {
    w.add_child_handler(exited, reports.callback());
    w.add_child_handler(killed, reports.callback());
    ::kill(killed, SIGKILL);
  });
  ASSERT_TRUE(run_until_reported(2));
  EXPECT_EQ(reports.of(exited), std::vector<int>{2});
  EXPECT_EQ(reports.of(killed), std::vector<int>{-9});
  w.close();
}

TEST_F(ChildWatcherTest, MultiLoopReportsEachChildOnItsOwnLoopInItsOwnThread) {
  MultiLoopChildWatcher w;
  w.attach_loop(&loop);
  pid_t here = children.paused();
  pid_t there = children.paused();
  std::binary_semaphore there_registered{0};
  std::atomic<bool> there_done{false};
  std::atomic<int> there_code{0};
  std::atomic<bool> there_on_its_thread{false};
  std::thread::id there_thread;
  {
    std::jthread other([&] {  // joined at the end of the block, also on a failed assertion
      there_thread = std::this_thread::get_id();
      EventLoop l2;
      run_in(l2, [&] {
        w.add_child_handler(there, [&](pid_t, int rc) {
          there_on_its_thread = std::this_thread::get_id() == there_thread;
          there_code = rc;
          there_done = true;
          progress();
        });
      });
      there_registered.release();
      run_loop_until(l2, [&] { return there_done.load(); });
      l2.close();
    });
    EXPECT_TRUE(there_registered.try_acquire_for(deadline_ms(5000)));
    run_in(loop, [&] { w.add_child_handler(here, reports.callback()); });
    ::kill(there, SIGTERM);
    ::kill(here, SIGKILL);
    EXPECT_TRUE(run_until_reported(1));
  }
  EXPECT_EQ(reports.of(here), std::vector<int>{-9});
  EXPECT_TRUE(there_done.load());
  EXPECT_TRUE(there_on_its_thread.load());
  EXPECT_EQ(there_code.load(), -SIGTERM);
  w.close();
}

TEST_F(ChildWatcherTest, MultiLoopCloseLeavesAReplacedHandlerAlone) {
  MultiLoopChildWatcher w;
  w.attach_loop(&loop);
  loop.add_signal_handler(SIGCHLD, [] {});
  w.close();
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"SIGCHLD handler was changed by outside code"});
  EXPECT_TRUE(loop.remove_signal_handler(SIGCHLD));
}

TEST_F(ChildWatcherTest, MultiLoopWarnsWhenTheRegisteringLoopIsClosed) {
  MultiLoopChildWatcher w;
  w.attach_loop(&loop);
  pid_t pid = children.paused();
  {
    EventLoop doomed;
    run_in(doomed, [&] { w.add_child_handler(pid, reports.callback()); });
  }  // closed and destroyed: the watcher must not touch it
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(log.logger->wait_for_warnings(1));
  EXPECT_EQ(warning_texts(log),
            std::vector<std::string>{"Loop <_UnixSelectorEventLoop running=False closed=True debug=False> that handles "
                                     "pid " + std::to_string(pid) + " is closed"});
  EXPECT_EQ(reports.count.load(), 0);
  w.close();
}

// ---- ThreadedChildWatcher -----------------------------------------------------------------

TEST_F(ChildWatcherTest, ThreadedNeedsARunningLoopAndIsAlwaysActive) {
  ThreadedChildWatcher w;
  EXPECT_TRUE(warnings.take().empty());  // not deprecated
  EXPECT_TRUE(w.is_active());
  EXPECT_EQ(raised([&] { w.add_child_handler(1, reports.callback()); }), "RuntimeError: no running event loop");
  w.attach_loop(nullptr);
  w.close();
  EXPECT_TRUE(w.is_active());
  EXPECT_TRUE(w.remove_child_handler(1));
}

TEST_F(ChildWatcherTest, ThreadedReportsFromANamedThreadPerChild) {
  ThreadedChildWatcher w;
  pid_t pid = children.paused();
  std::vector<std::string> names;
  run_in(loop, [&] {
    w.add_child_handler(pid, reports.callback());
    names = ThreadedChildWatcher::live_thread_names();
    ::kill(pid, SIGKILL);
  });
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(names, std::vector<std::string>{"asyncio-waitpid-0"});
  EXPECT_EQ(reports.of(pid), std::vector<int>{-9});
}

TEST_F(ChildWatcherTest, ThreadedReports255ForAChildReapedElsewhere) {
  ThreadedChildWatcher w;
  pid_t pid = children.exiting(3);
  EXPECT_EQ(reap(pid), 3);
  run_in(loop, [&] { w.add_child_handler(pid, reports.callback()); });
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(pid), std::vector<int>{255});
  EXPECT_EQ(warning_texts(log),
            std::vector<std::string>{"Unknown child process pid " + std::to_string(pid) + ", will report returncode 255"});
}

// os.waitpid(pid, 0) on a process that is alive but not ours fails at once (ECHILD): no
// waiting for the process to end.
TEST_F(ChildWatcherTest, ThreadedReports255AtOnceForALiveProcessThatIsNotAChild) {
  ThreadedChildWatcher w;
  pid_t parent = ::getppid();
  run_in(loop, [&] { w.add_child_handler(parent, reports.callback()); });
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(parent), std::vector<int>{255});
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"Unknown child process pid " + std::to_string(parent) +
                                                         ", will report returncode 255"});
}

TEST_F(ChildWatcherTest, ThreadedReportsEveryChildOnceInAnyExitOrder) {
  ThreadedChildWatcher w;
  std::vector<pid_t> pids;
  for (int i = 0; i < 12; ++i) pids.push_back(children.paused());
  run_in(loop, [&] {
    for (pid_t pid : pids) w.add_child_handler(pid, reports.callback());
  });
  for (std::size_t i = 0; i < pids.size(); ++i) ::kill(pids[(i * 5) % pids.size()], i % 2 ? SIGKILL : SIGTERM);
  ASSERT_TRUE(run_until_reported(static_cast<int>(pids.size())));
  for (std::size_t i = 0; i < pids.size(); ++i) {
    std::size_t k = (i * 5) % pids.size();
    EXPECT_EQ(reports.of(pids[k]), std::vector<int>{i % 2 ? -SIGKILL : -SIGTERM});
  }
  w.join_finished();
}

TEST_F(ChildWatcherTest, ThreadedDestructionStopsPendingWaitsWithAResourceWarning) {
  pid_t pid = children.paused();
  {
    ThreadedChildWatcher w;
    run_in(loop, [&] { w.add_child_handler(pid, reports.callback()); });
    EXPECT_EQ(ThreadedChildWatcher::live_thread_names().size(), 1u);
  }
  EXPECT_TRUE(ThreadedChildWatcher::live_thread_names().empty());
  EXPECT_EQ(warnings.take(), std::vector<std::string>{"ResourceWarning: <class 'asyncio.unix_events.ThreadedChildWatcher'> "
                                                      "has registered but not finished child processes"});
  EXPECT_EQ(reports.count.load(), 0);
}

TEST_F(ChildWatcherTest, ThreadedWarnsWhenTheRegisteringLoopIsClosed) {
  ThreadedChildWatcher w;
  pid_t pid = children.paused();
  {
    EventLoop doomed;
    run_in(doomed, [&] { w.add_child_handler(pid, reports.callback()); });
  }
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(log.logger->wait_for_warnings(1));
  EXPECT_EQ(warning_texts(log),
            std::vector<std::string>{"Loop <_UnixSelectorEventLoop running=False closed=True debug=False> that handles "
                                     "pid " + std::to_string(pid) + " is closed"});
  w.settle();
}

// ---- PidfdChildWatcher --------------------------------------------------------------------

TEST_F(ChildWatcherTest, PidfdNeedsARunningLoopAndReportsInItsReader) {
  PidfdChildWatcher w;
  EXPECT_TRUE(warnings.take().empty());
  pid_t pid = children.exiting(6);
  EXPECT_EQ(raised([&] { w.add_child_handler(pid, reports.callback()); }), "RuntimeError: no running event loop");
  run_in(loop, [&] { w.add_child_handler(pid, reports.callback()); });
  ASSERT_TRUE(run_until_reported(1));
  EXPECT_EQ(reports.of(pid), std::vector<int>{6});
  EXPECT_TRUE(w.is_active());
  EXPECT_TRUE(w.remove_child_handler(pid));
}

TEST_F(ChildWatcherTest, PidfdRaisesProcessLookupErrorForAVanishedPid) {
  PidfdChildWatcher w;
  pid_t pid = children.exiting(0);
  EXPECT_EQ(reap(pid), 0);
  std::string error;
  run_in(loop, [&] { error = raised([&] { w.add_child_handler(pid, reports.callback()); }); });
  EXPECT_EQ(error, "ProcessLookupError: [Errno 3] No such process");
}

TEST_F(ChildWatcherTest, PidfdRegisteringTwiceReportsTwiceTheSecondWith255) {
  PidfdChildWatcher w;
  pid_t pid = children.paused();
  run_in(loop, [&] {
    w.add_child_handler(pid, reports.callback());
    w.add_child_handler(pid, reports.callback());
    ::kill(pid, SIGKILL);
  });
  ASSERT_TRUE(run_until_reported(2));
  EXPECT_EQ(reports.of(pid), (std::vector<int>{-9, 255}));
  EXPECT_EQ(warning_texts(log), std::vector<std::string>{"child process pid " + std::to_string(pid) +
                                                         " exit status already read:  will report returncode 255"});
}

TEST_F(ChildWatcherTest, PidfdReaderDroppedWithItsLoopClosesThePidfd) {
  pid_t pid = children.paused();
  {
    EventLoop other;
    PidfdChildWatcher w;
    int fds_before = open_fd_count();
    std::string error = "not run";
    run_in(other, [&] { error = raised([&] { w.add_child_handler(pid, reports.callback()); }); });
    EXPECT_EQ(error, "");
    EXPECT_EQ(open_fd_count(), fds_before + 1);  // the reader's pidfd
  }  // the fd leak gate checks the pidfd went with the loop
  EXPECT_EQ(reports.count.load(), 0);
}

// ---- policy -------------------------------------------------------------------------------

TEST_F(ChildWatcherTest, PolicyDefaultIsPidfdAndSetChildWatcherClosesThePrevious) {
  ChildWatcherPolicy policy;
  auto w = policy.get_child_watcher();
  EXPECT_EQ(w->class_name(), can_use_pidfd() ? "PidfdChildWatcher" : "ThreadedChildWatcher");
  EXPECT_EQ(warnings.take(), std::vector<std::string>{deprecation("get_child_watcher")});
  auto safe = std::make_shared<SafeChildWatcher>();
  policy.set_child_watcher(safe);
  EXPECT_EQ(warnings.take(), (std::vector<std::string>{deprecation("SafeChildWatcher"), deprecation("set_child_watcher")}));
  policy.set_event_loop(&loop);  // attaches
  EXPECT_EQ(signal_disposition(SIGCHLD), "python-handler");
  policy.set_child_watcher(nullptr);  // closes the safe watcher
  EXPECT_EQ(signal_disposition(SIGCHLD), "SIG_DFL");
  EXPECT_EQ(policy.current_child_watcher(), nullptr);
}

}  // namespace
}  // namespace loopcheck::test
