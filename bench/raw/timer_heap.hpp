// The raw timer loop: a binary min-heap of (deadline, function pointer) and one
// epoll_wait per pass whose timeout comes from the heap head, as a loop computes it. The
// clock is read once per pass (a cached loop time, the cheapest correct choice).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ctime>
#include <vector>

#include "fn_ring.hpp"
#include "poller.hpp"

namespace loopcheck::bench::raw {

inline double monotonic_now() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class TimerHeap {
 public:
  struct Timer {
    double when;
    Fn fn;
  };

  void push(double when, Fn fn) {
    heap_.push_back(Timer{when, fn});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }

  // Runs passes until the heap is empty: poll with the head's timeout, then run every due
  // timer in deadline order.
  void run(Poller& poller) {
    while (!heap_.empty()) {
      double wait = heap_.front().when - monotonic_now();
      poller.poll(wait <= 0 ? 0 : static_cast<int>(std::ceil(wait * 1000)));
      const double now = monotonic_now();
      while (!heap_.empty() && heap_.front().when <= now) {
        Fn fn = heap_.front().fn;
        std::pop_heap(heap_.begin(), heap_.end(), Later{});
        heap_.pop_back();
        fn();
      }
    }
  }

 private:
  // A function object (not a function pointer) so the comparison inlines into the heap code.
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const noexcept { return a.when > b.when; }
  };
  std::vector<Timer> heap_;
};

}  // namespace loopcheck::bench::raw
