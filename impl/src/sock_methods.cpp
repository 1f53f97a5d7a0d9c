// loop.sock_recv and loop.sock_sendall (asyncio.selector_events), and the socket checks
// the sock_* methods share (base_events._check_ssl_socket, the debug-mode blocking check).
#include "loopcheck/sock_methods.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {

void check_ssl_socket(const Socket& sock) {
  if (sock.tls) throw TypeError("Socket cannot be of type SSLSocket");
}

bool socket_is_blocking(int fd) {
  int flags = syscalls().fcntl(fd, F_GETFL, 0);
  if (flags < 0) OSError::raise_errno(errno);
  return (flags & O_NONBLOCK) == 0;
}

int socket_type(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) OSError::raise_errno(errno);
  return type;
}

void check_nonblocking_in_debug(bool debug, const Socket& sock) {
  if (debug && socket_is_blocking(sock.fd)) throw ValueError("the socket must be non-blocking");
}

namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// sock.send(data): MSG_NOSIGNAL gives EPIPE without SIGPIPE, as CPython (which ignores
// SIGPIPE) sees it.
ssize_t send_some(int fd, const std::string& data, std::size_t from) {
  return syscalls().send(fd, data.data() + from, data.size() - from, MSG_NOSIGNAL);
}

}  // namespace

// ---- sock_recv ---------------------------------------------------------------------------

Future<std::string> EventLoop::sock_recv(const Socket& sock, std::size_t n) {
  auto fut = create_future<std::string>();
  int fd = sock.fd;
  auto recv_now = [fd, n](std::string& out) {  // false: try again later
    out.assign(n, '\0');
    ssize_t got = syscalls().recv(fd, out.data(), n, 0);
    if (got < 0) {
      if (would_block(errno)) return false;
      OSError::raise_errno(errno);
    }
    out.resize(static_cast<std::size_t>(got));
    return true;
  };
  HandleRef handle;
  try {
    check_ssl_socket(sock);
    check_nonblocking_in_debug(get_debug(), sock);
    std::string data;
    if (recv_now(data)) {
      fut.set_result(std::move(data));
      return fut;
    }
    ensure_fd_no_transport(fd);
    // _sock_recv: a future completed (or cancelled) meanwhile leaves the data in the socket.
    handle = add_reader_internal(
        fd,
        [fut, recv_now]() mutable {
          if (fut.done()) return;
          std::string data;
          try {
            if (!recv_now(data)) return;
          } catch (...) {
            fut.set_exception(std::current_exception());
            return;
          }
          fut.set_result(std::move(data));
        },
        "_sock_recv");
  } catch (...) {
    fut.set_exception(std::current_exception());
    return fut;
  }
  // _sock_read_done: the reader goes when the future is done, unless it was replaced.
  fut.add_done_callback(
      [this, fd, handle](const Future<std::string>&) {
        if (!handle->cancelled()) remove_reader(fd);
      },
      "_sock_read_done");
  return fut;
}

// ---- sock_sendall ------------------------------------------------------------------------

Future<void> EventLoop::sock_sendall(const Socket& sock, std::string data) {
  auto fut = create_future<void>();
  int fd = sock.fd;
  HandleRef handle;
  try {
    check_ssl_socket(sock);
    check_nonblocking_in_debug(get_debug(), sock);
    ssize_t n = send_some(fd, data, 0);
    if (n < 0) {
      if (!would_block(errno)) OSError::raise_errno(errno);
      n = 0;
    }
    if (static_cast<std::size_t>(n) == data.size()) {
      fut.set_result();
      return fut;
    }
    ensure_fd_no_transport(fd);
    // _sock_sendall: the rest goes out from writer callbacks, each from where the last ended.
    auto rest = std::make_shared<std::pair<std::string, std::size_t>>(std::move(data), static_cast<std::size_t>(n));
    handle = add_writer_internal(
        fd,
        [fut, fd, rest]() mutable {
          if (fut.done()) return;  // cancelled in an earlier pass
          ssize_t sent = send_some(fd, rest->first, rest->second);
          if (sent < 0) {
            if (!would_block(errno)) fut.set_exception(OSError::from_errno(errno));
            return;
          }
          rest->second += static_cast<std::size_t>(sent);
          if (rest->second == rest->first.size()) fut.set_result();
        },
        "_sock_sendall");
  } catch (...) {
    fut.set_exception(std::current_exception());
    return fut;
  }
  // _sock_write_done
  fut.add_done_callback(
      [this, fd, handle](const Future<void>&) {
        if (!handle->cancelled()) remove_writer(fd);
      },
      "_sock_write_done");
  return fut;
}

}  // namespace loopcheck
