// Real syscalls with a hand-driven CLOCK_MONOTONIC, so timers become due exactly when a
// test says so and never because wall time passed.
//
// The clock reads whole nanoseconds and starts at a fixed point. Polls never wait: the
// loop's computed timeout is replaced by 0, since waiting would not move this clock.
#pragma once

#include <cstdint>

#include "loopcheck/syscalls.hpp"

namespace loopcheck::sut {

class ManualClockSyscalls : public RealSyscalls {
 public:
  explicit ManualClockSyscalls(std::int64_t start_ns) : now_ns_(start_ns) {}

  void advance_ns(std::int64_t ns) noexcept { now_ns_ += ns; }
  std::int64_t now_ns() const noexcept { return now_ns_; }

  int clock_gettime(clockid_t clock, struct timespec* ts) override {
    if (clock != CLOCK_MONOTONIC) return RealSyscalls::clock_gettime(clock, ts);
    ts->tv_sec = static_cast<time_t>(now_ns_ / 1000000000);
    ts->tv_nsec = static_cast<long>(now_ns_ % 1000000000);
    return 0;
  }
  // CPython's time.get_clock_info('monotonic').resolution on Linux.
  int clock_getres(clockid_t clock, struct timespec* res) override {
    if (clock != CLOCK_MONOTONIC) return RealSyscalls::clock_getres(clock, res);
    res->tv_sec = 0;
    res->tv_nsec = 1;
    return 0;
  }
  int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int /*timeout_ms*/) override {
    return RealSyscalls::epoll_wait(epfd, events, maxevents, 0);
  }

 private:
  std::int64_t now_ns_;
};

}  // namespace loopcheck::sut
