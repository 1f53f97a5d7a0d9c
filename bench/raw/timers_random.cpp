// timers_random, raw floor: N timers with delays uniform in 1-5 ms (fixed seed) pushed on
// the binary heap, then the heap loop.
#include "../common/random_delays.hpp"
#include "../common/workload.hpp"
#include "timer_heap.hpp"

namespace loopcheck::bench::raw {
namespace {

std::size_t random_count = 0;

void fire() { ++random_count; }

std::size_t run_random(Poller& poller, TimerHeap& heap, const std::vector<double>& delays) {
  random_count = 0;
  const double now = monotonic_now();
  for (double d : delays) heap.push(now + d, fire);
  heap.run(poller);
  return random_count;
}

void timers_random(benchmark::State& state, std::size_t n) {
  Poller poller;
  TimerHeap heap;
  const std::vector<double> delays = random_delays(n);
  measure(state, n, [&] { return run_random(poller, heap, delays); });
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("timers_random", "callbacks/s", loopcheck::bench::raw::timers_random);
