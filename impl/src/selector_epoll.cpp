// EpollSelector: selectors.EpollSelector over the syscall seam.
#include <cerrno>
#include <cmath>
#include <ctime>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/selector.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {

namespace {

uint32_t to_epoll(uint32_t events) {
  uint32_t out = 0;
  if (events & EVENT_READ) out |= EPOLLIN;
  if (events & EVENT_WRITE) out |= EPOLLOUT;
  return out;
}

// Like selectors' poll-based mapping: anything but EPOLLIN counts as writable, anything but
// EPOLLOUT as readable (so EPOLLERR/EPOLLHUP wake both directions).
uint32_t from_epoll(uint32_t ev) {
  uint32_t out = 0;
  if (ev & ~static_cast<uint32_t>(EPOLLIN)) out |= EVENT_WRITE;
  if (ev & ~static_cast<uint32_t>(EPOLLOUT)) out |= EVENT_READ;
  return out;
}

void check_fd(int fd) {
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
}

double monotonic_now() {
  struct timespec ts {};
  syscalls().clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

EpollSelector::EpollSelector() {
  epfd_ = syscalls().epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) OSError::raise_errno(errno);
}

EpollSelector::~EpollSelector() { close(); }

void EpollSelector::close() noexcept {
  if (epfd_ >= 0) {
    syscalls().close(epfd_);
    epfd_ = -1;
  }
  events_.clear();
  count_ = 0;
}

void EpollSelector::register_fd(int fd, uint32_t events) {
  check_fd(fd);
  if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)))
    throw ValueError("Invalid events: " + std::to_string(events));
  if (contains(fd)) {
    std::string s = std::to_string(fd);
    throw KeyError(py_repr(s + " (FD " + s + ") is already registered"));
  }
  struct epoll_event ev {};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (syscalls().epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) OSError::raise_errno(errno);
  if (static_cast<size_t>(fd) >= events_.size()) events_.resize(static_cast<size_t>(fd) + 1, 0);
  events_[fd] = events;
  ++count_;
}

void EpollSelector::modify(int fd, uint32_t events) {
  check_fd(fd);
  if (!contains(fd)) throw KeyError(py_repr(std::to_string(fd) + " is not registered"));
  if (events == 0 || (events & ~(EVENT_READ | EVENT_WRITE)))
    throw ValueError("Invalid events: " + std::to_string(events));
  if (events == events_[fd]) return;
  struct epoll_event ev {};
  ev.events = to_epoll(events);
  ev.data.fd = fd;
  if (syscalls().epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) {
    int err = errno;
    events_[fd] = 0;  // CPython drops the key before re-raising
    --count_;
    OSError::raise_errno(err);
  }
  events_[fd] = events;
}

void EpollSelector::unregister(int fd) {
  check_fd(fd);
  if (!contains(fd)) throw KeyError(py_repr(std::to_string(fd) + " is not registered"));
  events_[fd] = 0;
  --count_;
  // The fd may have been closed since it was registered: the kernel already forgot it.
  syscalls().epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

const std::vector<SelectorEvent>& EpollSelector::select(std::optional<double> timeout) {
  ready_.clear();
  int timeout_ms = -1;
  if (timeout) timeout_ms = *timeout <= 0 ? 0 : static_cast<int>(std::ceil(*timeout * 1e3));
  size_t max_ev = count_ > 0 ? count_ : 1;
  if (buffer_.size() < max_ev) buffer_.resize(max_ev);

  // Only a blocking wait needs its start time (a 0 timeout must stay free of clock reads).
  double deadline = timeout_ms > 0 ? monotonic_now() + timeout_ms * 1e-3 : 0.0;
  int n;
  for (;;) {
    n = syscalls().epoll_wait(epfd_, buffer_.data(), static_cast<int>(max_ev), timeout_ms);
    if (n >= 0) break;
    if (errno != EINTR) OSError::raise_errno(errno);
    // PEP 475: retry with the time that is left; a passed deadline returns no events
    // (so an interrupted poll with timeout 0 returns nothing, as in CPython).
    if (timeout_ms == 0) return ready_;
    if (timeout_ms > 0) {
      double left = deadline - monotonic_now();
      if (left < 0) return ready_;
      timeout_ms = static_cast<int>(std::ceil(left * 1e3));
    }
  }
  for (int i = 0; i < n; ++i) {
    int fd = buffer_[i].data.fd;
    uint32_t registered = get_events(fd);
    if (registered == 0) continue;
    ready_.push_back(SelectorEvent{fd, from_epoll(buffer_[i].events) & registered});
  }
  return ready_;
}

}  // namespace loopcheck
