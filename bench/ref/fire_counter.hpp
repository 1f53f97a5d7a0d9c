// FireCounter: the timer callback of the ref timer workloads; the N-th one stops the loop.
#pragma once

#include <loopcheck/event_loop.hpp>

#include <cstddef>

namespace loopcheck::bench::ref {

struct FireCounter {
  EventLoop* loop;
  std::size_t* count;
  std::size_t n;
  void operator()() const {
    if (++*count == n) loop->stop();
  }
};

}  // namespace loopcheck::bench::ref
