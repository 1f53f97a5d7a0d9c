// create_unix_connection: argument checks, sock_connect on a new socket, then the transport.
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "loopcheck/errors.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/unix_server.hpp"
#include "unix_socket.hpp"

namespace loopcheck {
namespace {

using ConnectionFuture = Future<UnixConnection>;

void check_arguments(const UnixConnectionOptions& o) {
  if (o.ssl.value_or(false)) {
    if (!o.server_hostname) throw ValueError("you have to pass server_hostname when using ssl");
  } else {
    if (o.server_hostname) throw ValueError("server_hostname is only meaningful with ssl");
    if (o.ssl_handshake_timeout) throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
    if (o.ssl_shutdown_timeout) throw ValueError("ssl_shutdown_timeout is only meaningful with ssl");
  }
}

// OSError(err, text) as Python builds it: the errno picks the subclass.
std::exception_ptr os_error(int err, std::string text) {
  switch (err) {
    case ECONNREFUSED: return std::make_exception_ptr(ConnectionRefusedError(err, std::move(text)));
    case ENOENT: return std::make_exception_ptr(FileNotFoundError(err, std::move(text)));
    case EACCES:
    case EPERM: return std::make_exception_ptr(PermissionError(err, std::move(text)));
    case ECONNRESET: return std::make_exception_ptr(ConnectionResetError(err, std::move(text)));
    case ETIMEDOUT: return std::make_exception_ptr(TimeoutError(err, std::move(text)));
    default: return std::make_exception_ptr(OSError(err, std::move(text)));
  }
}

// _create_connection_transport: the protocol, the transport, then (transport, protocol) once
// connection_made has run.
// A socket made by connect_path is closed on failure (`owned`); a given one stays the caller's.
void make_transport(EventLoop& loop, ConnectionFuture result, const ProtocolFactory& factory, int fd, bool ssl,
                    bool owned) {
  std::shared_ptr<BaseProtocol> protocol;
  try {
    detail::set_nonblocking(fd);
    if (ssl) throw NotImplementedError("the reference loop has no TLS transport");
    protocol = factory();
  } catch (...) {
    if (owned) syscalls().close(fd);
    result.set_exception(std::current_exception());
    return;
  }
  auto waiter = loop.create_future<void>();
  auto transport = SelectorSocketTransport::create(loop, fd, protocol, waiter);
  waiter.add_done_callback([result, transport, protocol](const Future<void>& w) mutable {
    if (w.cancelled() || w.exception()) {
      transport->close();
      if (!result.done()) result.set_exception(w.cancelled() ? std::make_exception_ptr(CancelledError()) : w.exception());
      return;
    }
    if (!result.done()) result.set_result(UnixConnection(transport, protocol));
  });
}

// _sock_connect_cb: the connect finished (or failed) in the background.
void connect_done(int fd, const std::string& path, Future<void> fut) {
  if (fut.done()) return;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == EAGAIN || err == EINTR) return;  // still connecting: the writer stays
  if (err != 0)
    fut.set_exception(os_error(err, "Connect call failed " + detail::unix_address_str(path)));
  else
    fut.set_result();
}

// sock_connect(sock, path) for a non-blocking AF_UNIX socket: the future is done at once
// unless connect() has to finish in the background.
Future<void> sock_connect(EventLoop& loop, int fd, const std::string& path) {
  auto fut = loop.create_future<void>();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() > sizeof addr.sun_path) {
    fut.set_exception(OSError("AF_UNIX path too long"));
    return fut;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0) {
    fut.set_result();
    return fut;
  }
  int err = errno;
  if (err != EAGAIN && err != EINPROGRESS && err != EINTR) {
    fut.set_exception(OSError::from_errno(err));
    return fut;
  }
  loop.ensure_fd_no_transport(fd);
  loop.add_writer_internal(fd, [fd, path, fut] { connect_done(fd, path, fut); }, Label("_sock_connect_cb"));
  fut.add_done_callback([&loop, fd](const Future<void>&) { loop.remove_writer_internal(fd); },
                        Label("_sock_write_done"));
  return fut;
}

// The path branch: a new socket, connected; closed again if the connect fails.
void connect_path(EventLoop& loop, ConnectionFuture result, ProtocolFactory factory, const std::string& path,
                  bool ssl) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    result.set_exception(OSError::from_errno(errno));
    return;
  }
  Future<void> connected;
  try {
    detail::set_nonblocking(fd);
    connected = sock_connect(loop, fd, path);
  } catch (...) {
    syscalls().close(fd);
    result.set_exception(std::current_exception());
    return;
  }
  auto proceed = [&loop, result, factory, fd, ssl](const Future<void>& f) mutable {
    if (f.cancelled() || f.exception()) {
      syscalls().close(fd);
      if (!result.done()) result.set_exception(f.cancelled() ? std::make_exception_ptr(CancelledError()) : f.exception());
      return;
    }
    if (result.done()) {
      syscalls().close(fd);
      return;
    }
    make_transport(loop, result, factory, fd, ssl, true);
  };
  // Awaiting a future that is already done does not yield: go on in this pass.
  if (connected.done())
    proceed(connected);
  else
    connected.add_done_callback(std::move(proceed));
}

}  // namespace

Future<UnixConnection> EventLoop::create_unix_connection(ProtocolFactory factory, const UnixConnectionOptions& options) {
  auto result = create_future<UnixConnection>();
  call_soon(
      [this, result, factory = std::move(factory), options]() mutable {
        if (result.done()) return;
        try {
          check_arguments(options);
          if (options.path && options.sock) throw ValueError("path and sock can not be specified at the same time");
          if (!options.path && !options.sock) throw ValueError("no path and sock were specified");
          if (options.sock && !detail::is_unix_stream_socket(*options.sock))
            throw ValueError("A UNIX Domain Stream Socket was expected, got " + detail::socket_repr(*options.sock));
        } catch (...) {
          result.set_exception(std::current_exception());
          return;
        }
        bool ssl = options.ssl.value_or(false);
        if (options.path)
          connect_path(*this, result, std::move(factory), *options.path, ssl);
        else
          make_transport(*this, result, factory, *options.sock, ssl, false);
      },
      Label("create_unix_connection()"));
  return result;
}

}  // namespace loopcheck
