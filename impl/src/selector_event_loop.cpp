// BaseSelectorEventLoop: construction, the self-pipe, reader/writer callbacks, the
// fd-transport table and close().
#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {

EventLoop::EventLoop() {
  struct timespec res {};
  if (syscalls().clock_getres(CLOCK_MONOTONIC, &res) == 0)
    clock_resolution_ = static_cast<double>(res.tv_sec) + static_cast<double>(res.tv_nsec) * 1e-9;
  log(LogLevel::DEBUG, "Using selector: EpollSelector");
  make_self_pipe();
}

EventLoop::~EventLoop() {
  if (is_closed()) return;
  try {
    close();
  } catch (...) {
    // Destroying a running loop is a bug in the caller; nothing sensible is left to do.
  }
}

// ---- self-pipe -----------------------------------------------------------------------------

void EventLoop::make_self_pipe() {
  int sv[2];
  if (syscalls().socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    OSError::raise_errno(errno);
  ssock_ = sv[0];
  csock_ = sv[1];
  try {
    add_reader_internal(ssock_, [this] { read_from_self(); }, "BaseSelectorEventLoop._read_from_self");
  } catch (...) {
    syscalls().close(ssock_);
    syscalls().close(csock_);
    ssock_ = csock_ = -1;
    throw;
  }
}

void EventLoop::close_self_pipe() noexcept {
  if (ssock_ < 0) return;
  try {
    remove_reader_internal(ssock_);
  } catch (...) {
  }
  std::lock_guard lock(inbox_mu_);  // no call_soon_threadsafe may be sending right now
  syscalls().close(ssock_);
  syscalls().close(csock_);
  ssock_ = csock_ = -1;
}

// _read_from_self: drain the socket in 4096-byte chunks until it would block.
void EventLoop::read_from_self() {
  unsigned char buf[4096];
  for (;;) {
    ssize_t n = syscalls().recv(ssock_, buf, sizeof buf, 0);
    if (n > 0) {
      process_self_data(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    OSError::raise_errno(errno);
  }
}

void EventLoop::process_self_data(const unsigned char* data, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) {
    if (data[i] == 0) continue;  // a wake-up from call_soon_threadsafe
    if (self_pipe_byte_handler_) self_pipe_byte_handler_(data[i]);
  }
}

void EventLoop::write_to_self() noexcept {
  std::lock_guard lock(inbox_mu_);
  write_to_self_locked();
}

void EventLoop::write_to_self_locked() noexcept {
  if (csock_ < 0) return;
  static const char kNul = '\0';
  ssize_t n;
  do {
    n = syscalls().send(csock_, &kNul, 1, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && get_debug()) {
    int err = errno;
    try {
      log(LogLevel::DEBUG, "Fail to write a null byte into the self-pipe socket",
          format_exception_only(OSError::from_errno(err)));
    } catch (...) {
    }
  }
}

// ---- reader / writer callbacks -------------------------------------------------------------

EventLoop::FdEntry* EventLoop::fd_entry(int fd) noexcept {
  if (fd < 0) return nullptr;
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  return &fds_[fd];
}

HandleRef EventLoop::add_io(int fd, Callback callback, Label label, bool writer) {
  check_closed();
  HandleRef handle = Handle::make(std::move(callback), std::move(label), this);
  uint32_t direction = writer ? EVENT_WRITE : EVENT_READ;
  uint32_t mask = selector_.get_events(fd);
  if (mask == 0) {
    selector_.register_fd(fd, direction);  // validates fd, may throw
    FdEntry* e = fd_entry(fd);
    handle->add_ref();
    (writer ? e->writer : e->reader) = handle.get();
    return handle;
  }
  FdEntry* e = fd_entry(fd);
  try {
    selector_.modify(fd, mask | direction);
  } catch (...) {
    // The selector dropped the key, and with it both handles.
    if (e->reader) std::exchange(e->reader, nullptr)->release();
    if (e->writer) std::exchange(e->writer, nullptr)->release();
    throw;
  }
  handle->add_ref();
  Handle* old = std::exchange(writer ? e->writer : e->reader, handle.get());
  if (old) {
    old->cancel();
    old->release();
  }
  return handle;
}

bool EventLoop::remove_io(int fd, bool writer) {
  if (is_closed()) return false;
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  uint32_t mask = selector_.get_events(fd);
  if (mask == 0) return false;
  FdEntry* e = fd_entry(fd);
  mask &= ~(writer ? EVENT_WRITE : EVENT_READ);
  try {
    if (mask == 0)
      selector_.unregister(fd);
    else
      selector_.modify(fd, mask);
  } catch (...) {
    if (e->reader) std::exchange(e->reader, nullptr)->release();
    if (e->writer) std::exchange(e->writer, nullptr)->release();
    throw;
  }
  Handle* old = std::exchange(writer ? e->writer : e->reader, nullptr);
  if (!old) return false;
  old->cancel();
  old->release();
  return true;
}

HandleRef EventLoop::add_reader_internal(int fd, Callback callback, Label label) {
  return add_io(fd, std::move(callback), std::move(label), false);
}
HandleRef EventLoop::add_writer_internal(int fd, Callback callback, Label label) {
  return add_io(fd, std::move(callback), std::move(label), true);
}
bool EventLoop::remove_reader_internal(int fd) { return remove_io(fd, false); }
bool EventLoop::remove_writer_internal(int fd) { return remove_io(fd, true); }

void EventLoop::add_reader(int fd, Callback callback, Label label) {
  ensure_fd_no_transport(fd);
  add_reader_internal(fd, std::move(callback), std::move(label));
}
void EventLoop::add_writer(int fd, Callback callback, Label label) {
  ensure_fd_no_transport(fd);
  add_writer_internal(fd, std::move(callback), std::move(label));
}
bool EventLoop::remove_reader(int fd) {
  ensure_fd_no_transport(fd);
  return remove_reader_internal(fd);
}
bool EventLoop::remove_writer(int fd) {
  ensure_fd_no_transport(fd);
  return remove_writer_internal(fd);
}

// _process_events: per ready fd, its reader then its writer; a cancelled one is unregistered
// instead of queued.
void EventLoop::process_events(const std::vector<SelectorEvent>& events) {
  for (const SelectorEvent& ev : events) {
    FdEntry* e = fd_entry(ev.fd);
    if ((ev.events & EVENT_READ) && e->reader) {
      if (e->reader->cancelled()) {
        remove_reader_internal(ev.fd);
      } else {
        e->reader->add_ref();
        ready_.push_back(e->reader);
      }
    }
    e = fd_entry(ev.fd);  // the table may have grown
    if ((ev.events & EVENT_WRITE) && e->writer) {
      if (e->writer->cancelled()) {
        remove_writer_internal(ev.fd);
      } else {
        e->writer->add_ref();
        ready_.push_back(e->writer);
      }
    }
  }
}

// ---- transports ----------------------------------------------------------------------------

void EventLoop::set_fd_transport(int fd, const FdTransport* transport) {
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
  fd_entry(fd)->transport = transport;
}

void EventLoop::clear_fd_transport(int fd) noexcept {
  if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) fds_[fd].transport = nullptr;
}

void EventLoop::ensure_fd_no_transport(int fd) const {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  const FdTransport* t = fds_[fd].transport;
  if (t && !t->is_closing())
    throw RuntimeError("File descriptor " + std::to_string(fd) + " is used by transport " + t->repr());
}

// ---- close ---------------------------------------------------------------------------------

void EventLoop::close() {
  if (is_running()) throw RuntimeError("Cannot close a running event loop");
  if (is_closed()) return;
  close_self_pipe();
  // BaseEventLoop.close
  if (get_debug()) log(LogLevel::DEBUG, "Close " + repr());
  {
    std::lock_guard lock(inbox_mu_);
    closed_.store(true, std::memory_order_release);
  }
  drop_all_handles();
  // The selector forgets every key; reader/writer handles are dropped, not cancelled.
  for (FdEntry& e : fds_) {
    if (e.reader) std::exchange(e.reader, nullptr)->release();
    if (e.writer) std::exchange(e.writer, nullptr)->release();
  }
  selector_.close();
  for (auto& hook : close_hooks_) hook();
}

}  // namespace loopcheck
