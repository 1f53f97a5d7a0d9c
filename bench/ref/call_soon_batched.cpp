// call_soon_batched on the reference loop: N call_soon() before run_forever(); the loop
// runs them all in its first pass and the last one stops it.
#include <loopcheck/event_loop.hpp>

#include "../common/workload.hpp"

namespace loopcheck::bench::ref {
namespace {

struct Tick {
  EventLoop* loop;
  std::size_t* count;
  std::size_t n;
  void operator()() const {
    if (++*count == n) loop->stop();
  }
};

void call_soon_batched(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  std::size_t count = 0;
  measure(state, n, [&] {
    count = 0;
    for (std::size_t i = 0; i < n; ++i) loop.call_soon(Tick{&loop, &count, n});
    loop.run_forever();
    return count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("call_soon_batched", "callbacks/s", loopcheck::bench::ref::call_soon_batched);
