// signal_round_trip on the reference loop: the handler sends the next SIGUSR1 to the
// process itself; each round trip is kill -> C-level handler writes the byte -> the
// self-pipe reader queues the handle -> the handle runs one pass later.
#include <signal.h>
#include <unistd.h>

#include <loopcheck/event_loop.hpp>

#include "../common/workload.hpp"

namespace loopcheck::bench::ref {
namespace {

void signal_round_trip(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  std::size_t count = 0;
  loop.add_signal_handler(SIGUSR1, [&] {
    if (++count < n)
      ::kill(::getpid(), SIGUSR1);
    else
      loop.stop();
  });
  measure(state, n, [&] {
    count = 0;
    ::kill(::getpid(), SIGUSR1);
    loop.run_forever();
    return count;
  });
  loop.close();
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("signal_round_trip", "callbacks/s", loopcheck::bench::ref::signal_round_trip);
