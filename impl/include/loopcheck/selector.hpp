// EpollSelector (selectors.EpollSelector): which fds are watched for which events, and a
// select() that returns the ready ones.
//
// Keys are plain fds; the loop keeps its reader/writer handles itself. Errors are CPython's:
// ValueError('Invalid file descriptor: -1'), KeyError('<fd> is already registered' /
// '<fd> is not registered'), ValueError('Invalid events: 0'), OSError from epoll_ctl.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace loopcheck {

// selectors.EVENT_READ / EVENT_WRITE.
inline constexpr uint32_t EVENT_READ = 1;
inline constexpr uint32_t EVENT_WRITE = 2;

struct SelectorEvent {
  int fd;
  uint32_t events;  // ready events, restricted to the registered ones
};

class EpollSelector {
 public:
  // Creates the epoll fd (OSError on failure).
  EpollSelector();
  ~EpollSelector();
  EpollSelector(const EpollSelector&) = delete;
  EpollSelector& operator=(const EpollSelector&) = delete;

  // selector.register(fd, events). Rolls back its own bookkeeping if epoll_ctl fails.
  void register_fd(int fd, uint32_t events);
  // selector.modify(fd, events); a failing epoll_ctl unregisters the fd, then throws.
  void modify(int fd, uint32_t events);
  // selector.unregister(fd). An fd closed since it was registered is still unregistered
  // (epoll_ctl's error is ignored, as CPython does).
  void unregister(int fd);

  // Registered events of `fd`, 0 when it is not registered (never throws).
  uint32_t get_events(int fd) const noexcept {
    return fd >= 0 && static_cast<size_t>(fd) < events_.size() ? events_[fd] : 0;
  }
  bool contains(int fd) const noexcept { return get_events(fd) != 0; }
  // len(selector.get_map()).
  size_t size() const noexcept { return count_; }

  // selector.select(timeout): nullopt blocks; <= 0 polls; otherwise waits up to
  // ceil(timeout * 1000) ms. EINTR is retried with the remaining time (PEP 475); once the
  // deadline has passed an empty list is returned. At most max(len(map), 1) events are
  // returned per call, in epoll's order. The returned vector is reused by the next call.
  const std::vector<SelectorEvent>& select(std::optional<double> timeout);

  int fileno() const noexcept { return epfd_; }
  // Closes the epoll fd; further calls are invalid. Idempotent.
  void close() noexcept;

 private:
  int epfd_ = -1;
  size_t count_ = 0;
  std::vector<uint32_t> events_;  // registered events by fd
  std::vector<SelectorEvent> ready_;
  std::vector<struct epoll_event> buffer_;
};

}  // namespace loopcheck
