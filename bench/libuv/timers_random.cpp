// timers_random on libuv: N uv_timer_t started with the shared 1-5 ms delays, rounded to
// libuv's millisecond resolution, then uv_run until all have fired. Handles are initialised
// once at setup, as libuv programs reuse them.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/random_delays.hpp"
#include "../common/workload.hpp"
#include "uv_loop.hpp"

namespace loopcheck::bench::libuv {
namespace {

std::size_t random_count = 0;

void fire(uv_timer_t*) { ++random_count; }

void timers_random(benchmark::State& state, std::size_t n) {
  UvLoop loop;
  std::vector<uv_timer_t> timers(n);
  for (auto& t : timers) uv_timer_init(loop.get(), &t);
  std::vector<uint64_t> delays_ms;
  for (double d : random_delays(n)) delays_ms.push_back(std::max<uint64_t>(1, std::llround(d * 1000)));
  measure(state, n, [&] {
    random_count = 0;
    uv_update_time(loop.get());
    for (std::size_t i = 0; i < n; ++i) uv_timer_start(&timers[i], fire, delays_ms[i], 0);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    return random_count;
  });
  loop.close_handles();
}

}  // namespace
}  // namespace loopcheck::bench::libuv

LOOPCHECK_BENCH_WORKLOAD("timers_random", "callbacks/s", loopcheck::bench::libuv::timers_random);
