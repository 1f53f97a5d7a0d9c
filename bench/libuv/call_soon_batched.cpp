// call_soon_batched on libuv: N idle handles started up front; the first iteration calls
// each once and each stops itself. Idle handles are libuv's queue of "run on the next
// iteration" callbacks (an intrusive list). In libuv the caller owns handle memory and
// reuses handles, so uv_idle_init runs once at setup and the timed part is start + run.
#include <vector>

#include "../common/workload.hpp"
#include "uv_loop.hpp"

namespace loopcheck::bench::libuv {
namespace {

std::size_t batch_count = 0;

void tick(uv_idle_t* idle) {
  ++batch_count;
  uv_idle_stop(idle);
}

void call_soon_batched(benchmark::State& state, std::size_t n) {
  UvLoop loop;
  std::vector<uv_idle_t> idles(n);
  for (auto& idle : idles) uv_idle_init(loop.get(), &idle);
  measure(state, n, [&] {
    batch_count = 0;
    for (auto& idle : idles) uv_idle_start(&idle, tick);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    return batch_count;
  });
  loop.close_handles();
}

}  // namespace
}  // namespace loopcheck::bench::libuv

LOOPCHECK_BENCH_WORKLOAD("call_soon_batched", "callbacks/s", loopcheck::bench::libuv::call_soon_batched);
