// timers_random on the reference loop: N call_later() with the shared 1-5 ms delays
// before run_forever().
#include "../common/random_delays.hpp"
#include "../common/workload.hpp"
#include "fire_counter.hpp"

namespace loopcheck::bench::ref {
namespace {

void timers_random(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  Batch batch{&loop, n};
  const std::vector<double> delays = random_delays(n);
  measure(state, n, [&] {
    batch.count = 0;
    for (double d : delays) loop.call_later(d, FireCounter{&batch});
    loop.run_forever();
    return batch.count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("timers_random", "callbacks/s", loopcheck::bench::ref::timers_random);
