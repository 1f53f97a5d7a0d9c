// A syscall seam for pipe-writing properties and fuzzers: real syscalls, except that each
// write(2) to one fd takes the next scripted injection (a short write, EAGAIN, EINTR or
// EPIPE) while there is one. What a test cannot know in advance (how much the kernel took)
// stays real; only the script's steps are forced.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <deque>

#include "loopcheck/syscalls.hpp"

namespace loopcheck::sut {

struct InjectedWrites : RealSyscalls {
  enum class Step { Short, Eagain, Eintr, Epipe };
  struct Injection {
    Step step;
    std::size_t n;  // Short: at most this many bytes reach the kernel
  };
  int fd = -1;
  std::deque<Injection> script;
  // EPIPEs handed out so far: a write that returned one closed the transport.
  std::size_t epipes = 0;

  ssize_t write(int f, const void* buf, size_t count) override {
    if (f != fd || script.empty()) return RealSyscalls::write(f, buf, count);
    Injection i = script.front();
    script.pop_front();
    switch (i.step) {
      case Step::Short:
        return RealSyscalls::write(f, buf, std::min(i.n, count));
      case Step::Eagain:
        errno = EAGAIN;
        return -1;
      case Step::Eintr:
        errno = EINTR;
        return -1;
      case Step::Epipe:
        ++epipes;
        errno = EPIPE;
        return -1;
    }
    return -1;
  }
};

inline const char* show(InjectedWrites::Step step) {
  switch (step) {
    case InjectedWrites::Step::Short: return "short";
    case InjectedWrites::Step::Eagain: return "EAGAIN";
    case InjectedWrites::Step::Eintr: return "EINTR";
    case InjectedWrites::Step::Epipe: return "EPIPE";
  }
  return "?";
}

}  // namespace loopcheck::sut
