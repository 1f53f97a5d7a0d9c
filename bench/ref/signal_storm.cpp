// signal_storm on the reference loop: a forked child sends N SIGUSR1 while a chained
// call_soon probe measures how long a callback waits for its pass. When the child has
// exited (pidfd reader) the loop is drained, then one more SIGUSR1 is sent from a thread
// while the loop blocks in epoll: a handler run must follow (else a lost final wakeup).
// The rate is signals sent per second; runs, probe p99/worst and lost wakeups go to
// counters and stderr.
#include <signal.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include <loopcheck/event_loop.hpp>

#include "../common/signal_storm_support.hpp"
#include "../common/workload.hpp"

namespace loopcheck::bench::ref {
namespace {

void passes(EventLoop& loop, int n) {
  for (int i = 0; i < n; ++i) {
    loop.stop();
    loop.run_forever();
  }
}

void signal_storm(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  StormStats stats;
  bool final_wait = false;
  loop.add_signal_handler(SIGUSR1, [&] {
    ++stats.handler_runs;
    if (final_wait) loop.stop();
  });
  measure(state, n, [&] {
    StormSender sender(static_cast<long>(n));
    bool done = false;
    double scheduled = 0;
    std::function<void()> probe = [&] {
      stats.delays.push_back(now_us() - scheduled);
      if (done) return;
      scheduled = now_us();
      loop.call_soon([&probe] { probe(); });
    };
    loop.add_reader(sender.pidfd(), [&] {
      done = true;
      loop.remove_reader(sender.pidfd());
      loop.stop();
    });
    scheduled = now_us();
    loop.call_soon([&probe] { probe(); });
    loop.run_forever();
    passes(loop, 3);  // what the storm left in the self-pipe
    long before = stats.handler_runs;
    final_wait = true;
    TimerHandleRef guard = loop.call_later(2.0, [&] { loop.stop(); });
    std::thread last([] { ::kill(::getpid(), SIGUSR1); });
    loop.run_forever();
    last.join();
    guard->cancel();
    final_wait = false;
    if (stats.handler_runs == before) ++stats.lost_final_wakeups;
    return n;
  });
  stats.report(state, "ref");
  loop.close();
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("signal_storm", "signals/s", loopcheck::bench::ref::signal_storm);
