// call_soon_chained on the reference loop: each callback call_soon()s the next one, so
// every pass runs one callback after one epoll_wait(0).
#include <loopcheck/event_loop.hpp>

#include "../common/workload.hpp"

namespace loopcheck::bench::ref {
namespace {

struct Step {
  EventLoop* loop;
  std::size_t* count;
  std::size_t n;
  void operator()() const {
    if (++*count < n)
      loop->call_soon(*this);
    else
      loop->stop();
  }
};

void call_soon_chained(benchmark::State& state, std::size_t n) {
  EventLoop loop;
  std::size_t count = 0;
  measure(state, n, [&] {
    count = 0;
    loop.call_soon(Step{&loop, &count, n});
    loop.run_forever();
    return count;
  });
}

}  // namespace
}  // namespace loopcheck::bench::ref

LOOPCHECK_BENCH_WORKLOAD("call_soon_chained", "callbacks/s", loopcheck::bench::ref::call_soon_chained);
