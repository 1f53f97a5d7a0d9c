// call_soon_batched on the reference loop: N call_soon() before run_forever(); the loop
// runs them all in its first pass and the last one stops it.
#include "../common/workload.hpp"
#include "fire_counter.hpp"

namespace loopcheck::bench::ref {
namespace {

void call_soon_batched(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  Batch batch{&loop, n};
  measure(state, n, [&] {
    batch.count = 0;
    for (std::size_t i = 0; i < n; ++i) loop.call_soon(FireCounter{&batch});
    loop.run_forever();
    return batch.count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("call_soon_batched", "callbacks/s", loopcheck::bench::ref::call_soon_batched);
