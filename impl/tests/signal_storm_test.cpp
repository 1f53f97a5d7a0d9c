// A storm of 1,000,000 signals from another process leaves the loop responsive and loses no
// final wakeup. The sender is a forked child that only calls kill() and _exit(); the loop
// watches its exit through a pidfd. Deadlines bound every wait; nothing is timed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/signals.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

constexpr long kStormSignals = 1000000;

// Forks a child that waits for one byte on `go`, then sends `count` SIGUSR1 to `target`.
pid_t start_sender(pid_t target, int go, long count) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  char byte;
  while (::read(go, &byte, 1) < 0 && errno == EINTR) {
  }
  for (long i = 0; i < count; ++i) ::kill(target, SIGUSR1);
  ::_exit(0);
}

TEST(SignalStorm, MillionSignalsFromAnotherProcessLeaveTheLoopResponsiveAndLoseNoFinalWakeup) {
  EventLoop loop;
  std::uint64_t drops_before = signal_wakeup_write_failures();
  long runs = 0;
  bool probe_scheduled = false;
  bool probe_ran = false;
  bool probe_ran_during_storm = false;
  bool sender_done = false;

  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  pid_t child = start_sender(::getpid(), go[0], kStormSignals);
  ASSERT_GT(child, 0);
  ::close(go[0]);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  ASSERT_GE(pidfd, 0);

  // The first handler run schedules a probe: a plain callback that must get its turn while
  // signal bytes keep arriving.
  loop.add_signal_handler(SIGUSR1, [&] {
    ++runs;
    if (!probe_scheduled) {
      probe_scheduled = true;
      loop.call_soon([&] {
        probe_ran = true;
        probe_ran_during_storm = !sender_done;
      });
    }
  });
  loop.add_reader(pidfd, [&] {
    sender_done = true;
    loop.remove_reader(pidfd);
  });
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[1]);

  bool finished = test::run_until(loop, [&] { return sender_done && probe_ran; }, 60000);
  int status = 0;
  if (!sender_done) ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(pidfd);
  ASSERT_TRUE(finished) << "sender done: " << sender_done << ", probe ran: " << probe_ran;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_GE(runs, 1);
  EXPECT_LE(runs, kStormSignals);

  // Drain whatever is still in flight, then one more signal, sent while the loop is blocked
  // in its poll, must run the handler: the last delivery is never lost.
  test::run_until(loop, [] { return false; }, 200);
  long before = runs;
  std::thread last([] { ::kill(::getpid(), SIGUSR1); });
  bool woke = test::run_until(loop, [&] { return runs > before; }, 10000);
  last.join();
  EXPECT_TRUE(woke) << "the handler did not run after the final signal";
  std::printf("storm: %ld signals sent, handler ran %ld times, probe ran %s the storm, %llu wakeup bytes dropped\n",
              kStormSignals, before, probe_ran_during_storm ? "during" : "after",
              static_cast<unsigned long long>(signal_wakeup_write_failures() - drops_before));
  loop.close();
  EXPECT_EQ(signal_disposition(SIGUSR1), "SIG_DFL");
}

}  // namespace
}  // namespace loopcheck
