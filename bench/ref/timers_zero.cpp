// timers_zero on the reference loop: N call_later(0) before run_forever().
#include "../common/workload.hpp"
#include "fire_counter.hpp"

namespace loopcheck::bench::ref {
namespace {

void timers_zero(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  std::size_t count = 0;
  measure(state, n, [&] {
    count = 0;
    for (std::size_t i = 0; i < n; ++i) loop.call_later(0.0, FireCounter{&loop, &count, n});
    loop.run_forever();
    return count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("timers_zero", "callbacks/s", loopcheck::bench::ref::timers_zero);
