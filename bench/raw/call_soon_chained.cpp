// call_soon_chained, raw floor: each callback pushes the next function pointer on a ring;
// each pass is one epoll_wait(0) and then the callbacks that were queued when it started.
#include "../common/workload.hpp"
#include "fn_ring.hpp"
#include "poller.hpp"

namespace loopcheck::bench::raw {
namespace {

// Plain function pointers carry no argument, so the running workload lives here.
struct Chain {
  FnRing ring;
  std::size_t count = 0;
  std::size_t n = 0;
  bool done = false;
} chain;

void step() {
  if (++chain.count < chain.n)
    chain.ring.push(step);
  else
    chain.done = true;
}

std::size_t run_chain(Poller& poller, std::size_t n) {
  chain.count = 0;
  chain.n = n;
  chain.done = false;
  chain.ring.push(step);
  while (!chain.done) {
    poller.poll(0);
    for (std::size_t k = chain.ring.size(); k > 0; --k) chain.ring.pop()();
  }
  return chain.count;
}

void call_soon_chained(benchmark::State& state, std::size_t n) {
  Poller poller;
  measure(state, n, [&] { return run_chain(poller, n); });
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("call_soon_chained", "callbacks/s", loopcheck::bench::raw::call_soon_chained);
