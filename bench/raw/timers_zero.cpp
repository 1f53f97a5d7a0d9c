// timers_zero, raw floor: N zero-delay timers pushed on a binary heap, then the heap loop
// (epoll_wait with the head's timeout, pop what is due).
#include "../common/workload.hpp"
#include "timer_heap.hpp"

namespace loopcheck::bench::raw {
namespace {

std::size_t zero_count = 0;

void fire() { ++zero_count; }

std::size_t run_zero(Poller& poller, TimerHeap& heap, std::size_t n) {
  zero_count = 0;
  const double now = monotonic_now();
  for (std::size_t i = 0; i < n; ++i) heap.push(now, fire);
  heap.run(poller);
  return zero_count;
}

void timers_zero(benchmark::State& state, std::size_t n) {
  Poller poller;
  TimerHeap heap;
  measure(state, n, [&] { return run_zero(poller, heap, n); });
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("timers_zero", "callbacks/s", loopcheck::bench::raw::timers_zero);
