// FireCounter: the callback of the ref batch workloads; the N-th one stops the loop.
//
// It captures one pointer to the batch's shared state, as a C callback would take one
// `void*` (raw and libuv count in a global): the handle then holds an 8-byte callable.
#pragma once

#include <loopcheck/event_loop.hpp>

#include <cstddef>

namespace loopcheck::bench::ref {

struct Batch {
  EventLoop* loop;
  std::size_t n;
  std::size_t count = 0;
};

struct FireCounter {
  Batch* batch;
  void operator()() const {
    if (++batch->count == batch->n) batch->loop->stop();
  }
};

}  // namespace loopcheck::bench::ref
