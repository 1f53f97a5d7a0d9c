// Poller: an epoll fd with one idle eventfd registered for reading, standing in for the
// wake-up fd every real loop keeps registered. poll(timeout) is one epoll_wait call.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace loopcheck::bench::raw {

class Poller {
 public:
  Poller() : epfd_(epoll_create1(EPOLL_CLOEXEC)), wakefd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakefd_;
    if (epfd_ < 0 || wakefd_ < 0 || epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0) {
      int err = errno;
      close_fds();
      throw std::runtime_error("raw poller setup failed: errno " + std::to_string(err));
    }
  }
  ~Poller() { close_fds(); }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Returns the number of ready fds (always 0 here: nothing writes the eventfd).
  int poll(int timeout_ms) noexcept {
    epoll_event events[8];
    int n = epoll_wait(epfd_, events, 8, timeout_ms);
    return n < 0 ? 0 : n;  // EINTR: the caller's loop simply polls again
  }

 private:
  void close_fds() noexcept {
    if (wakefd_ >= 0) ::close(wakefd_);
    if (epfd_ >= 0) ::close(epfd_);
  }

  int epfd_;
  int wakefd_;
};

}  // namespace loopcheck::bench::raw
