// timers_zero on the reference loop: N call_later(0) before run_forever().
#include "../common/workload.hpp"
#include "fire_counter.hpp"

namespace loopcheck::bench::ref {
namespace {

void timers_zero(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  Batch batch{&loop, n};
  measure(state, n, [&] {
    batch.count = 0;
    for (std::size_t i = 0; i < n; ++i) loop.call_later(0.0, FireCounter{&batch});
    loop.run_forever();
    return batch.count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("timers_zero", "callbacks/s", loopcheck::bench::ref::timers_zero);
