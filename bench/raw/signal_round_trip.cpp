// signal_round_trip, raw floor: a sigaction handler (SA_RESTART) writes the signal number
// to a non-blocking socketpair; the loop is epoll_wait on its read end, one recv, then the
// callback for each byte, which sends the next SIGUSR1.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/raw_signal_pipe.hpp"
#include "../common/workload.hpp"

namespace loopcheck::bench::raw {
namespace {

void signal_round_trip(benchmark::State& state, std::size_t n) {
  RawSignalPipe wake(SIGUSR1);
  int ep = wake.epoll_fd();
  std::size_t count = 0;
  measure(state, n, [&] {
    count = 0;
    ::kill(::getpid(), SIGUSR1);
    while (count < n) {
      epoll_event events[8];
      if (::epoll_wait(ep, events, 8, -1) <= 0) continue;
      unsigned char buf[256];
      ssize_t got = ::recv(wake.read_fd(), buf, sizeof buf, 0);
      for (ssize_t i = 0; i < got; ++i)
        if (++count < n) ::kill(::getpid(), SIGUSR1);
    }
    return count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("signal_round_trip", "callbacks/s", loopcheck::bench::raw::signal_round_trip);
