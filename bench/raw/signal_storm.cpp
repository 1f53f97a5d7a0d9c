// signal_storm, raw floor: a sigaction handler writes each signal's number to a
// non-blocking socketpair; one epoll set holds its read end and the sender's pidfd. A
// chained probe (a function queued for the next pass) measures each pass's delay; epoll
// waits 0 ms while the probe is queued. Same storm, drain and final wakeup as ref.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "../common/raw_signal_pipe.hpp"
#include "../common/signal_storm_support.hpp"
#include "../common/workload.hpp"

namespace loopcheck::bench::raw {
namespace {

void signal_storm(benchmark::State& state, std::size_t n) {
  RawSignalPipe wake(SIGUSR1);
  int ep = wake.epoll_fd();
  StormStats stats;

  // One pass: wait, then run the handler once per byte; returns false if nothing came.
  auto pass = [&](int timeout_ms, int pidfd, bool& child_done) {
    epoll_event events[8];
    int ready = ::epoll_wait(ep, events, 8, timeout_ms);
    bool any = false;
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.fd == pidfd) {
        child_done = true;
        ::epoll_ctl(ep, EPOLL_CTL_DEL, pidfd, nullptr);
        continue;
      }
      unsigned char buf[4096];
      ssize_t got;
      while ((got = ::recv(wake.read_fd(), buf, sizeof buf, 0)) > 0) {
        stats.handler_runs += got;
        any = true;
      }
    }
    return any;
  };

  measure(state, n, [&] {
    StormSender sender(static_cast<long>(n));
    epoll_event pev{};
    pev.events = EPOLLIN;
    pev.data.fd = sender.pidfd();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, sender.pidfd(), &pev);
    bool done = false;
    double scheduled = now_us();
    while (!done) {
      pass(0, sender.pidfd(), done);
      stats.delays.push_back(now_us() - scheduled);  // the chained probe
      scheduled = now_us();
    }
    for (int i = 0; i < 3; ++i) pass(0, -1, done);
    long before = stats.handler_runs;
    std::thread last([] { ::kill(::getpid(), SIGUSR1); });
    for (int i = 0; i < 4 && stats.handler_runs == before; ++i) pass(500, -1, done);
    last.join();
    if (stats.handler_runs == before) ++stats.lost_final_wakeups;
    return n;
  });
  stats.report(state, "raw");
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("signal_storm", "signals/s", loopcheck::bench::raw::signal_storm);
