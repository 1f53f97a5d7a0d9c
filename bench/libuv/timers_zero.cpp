// timers_zero on libuv: N uv_timer_t started with a 0 ms timeout, then uv_run until all
// have fired (a timer with repeat 0 stops itself). As in every libuv program, the caller
// owns and reuses the handles: uv_timer_init runs once at setup, uv_timer_start is timed.
#include <vector>

#include "../common/workload.hpp"
#include "uv_loop.hpp"

namespace loopcheck::bench::libuv {
namespace {

std::size_t zero_count = 0;

void fire(uv_timer_t*) { ++zero_count; }

void timers_zero(benchmark::State& state, std::size_t n) {
  UvLoop loop;
  std::vector<uv_timer_t> timers(n);
  for (auto& t : timers) uv_timer_init(loop.get(), &t);
  measure(state, n, [&] {
    zero_count = 0;
    uv_update_time(loop.get());
    for (auto& t : timers) uv_timer_start(&t, fire, 0, 0);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    return zero_count;
  });
  loop.close_handles();
}

}  // namespace
}  // namespace loopcheck::bench::libuv

LOOPCHECK_BENCH_WORKLOAD("timers_zero", "callbacks/s", loopcheck::bench::libuv::timers_zero);
