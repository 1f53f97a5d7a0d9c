// call_soon_chained on libuv. libuv has no call_soon queue; the natural "run this again on
// the next loop iteration" idiom is an idle handle: while it is active, every iteration
// polls with a zero timeout and calls it once, which is exactly one callback plus one
// epoll_wait(0) per pass, the shape of a chained call_soon. (A 0 ms uv_timer restarted from
// its own callback would instead run again within the same uv__run_timers pass, skipping the
// poll: checked on libuv 1.44.) The handle is reused, so libuv allocates nothing per callback.
#include "../common/workload.hpp"
#include "uv_loop.hpp"

namespace loopcheck::bench::libuv {
namespace {

struct Chain {
  uv_idle_t idle;
  std::size_t count = 0;
  std::size_t n = 0;
};

void step(uv_idle_t* idle) {
  auto* chain = static_cast<Chain*>(idle->data);
  if (++chain->count >= chain->n) uv_idle_stop(idle);  // no active handle left: uv_run returns
}

void call_soon_chained(benchmark::State& state, std::size_t n) {
  UvLoop loop;
  Chain chain;
  chain.n = n;
  uv_idle_init(loop.get(), &chain.idle);
  chain.idle.data = &chain;
  measure(state, n, [&] {
    chain.count = 0;
    uv_idle_start(&chain.idle, step);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    return chain.count;
  });
  loop.close_handles();
}

}  // namespace
}  // namespace loopcheck::bench::libuv

LOOPCHECK_BENCH_WORKLOAD("call_soon_chained", "callbacks/s", loopcheck::bench::libuv::call_soon_chained);
