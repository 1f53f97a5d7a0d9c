// call_soon_batched, raw floor: N function pointers pushed on a ring, then popped and
// called. No poll at all: the ring alone.
#include "../common/workload.hpp"
#include "fn_ring.hpp"

namespace loopcheck::bench::raw {
namespace {

std::size_t batch_count = 0;

void tick() { ++batch_count; }

std::size_t run_batch(FnRing& ring, std::size_t n) {
  batch_count = 0;
  for (std::size_t i = 0; i < n; ++i) ring.push(tick);
  while (!ring.empty()) ring.pop()();
  return batch_count;
}

void call_soon_batched(benchmark::State& state, std::size_t n) {
  FnRing ring;
  measure(state, n, [&] { return run_batch(ring, n); });
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("call_soon_batched", "callbacks/s", loopcheck::bench::raw::call_soon_batched);
