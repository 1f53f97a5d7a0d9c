// Server (asyncio.base_events.Server), the loop's accept machinery and create_unix_server.
#include "loopcheck/unix_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/syscalls.hpp"
#include "unix_socket.hpp"

namespace loopcheck {
namespace {

// constants.ACCEPT_RETRY_DELAY
constexpr double kAcceptRetryDelay = 1.0;

// repr(asyncio.TransportSocket(sock)).
std::string transport_socket_repr(int fd) {
  std::string r = detail::socket_repr(fd);
  return "<asyncio.TransportSocket" + r.substr(std::strlen("<socket.socket"));
}

bool out_of_resources(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// _accept_connection2: the task that makes the transport for one accepted socket.
void accept_connection2(EventLoop& loop, const ProtocolFactory& factory, int conn, std::string peername,
                        const std::shared_ptr<Server>& server) {
  std::shared_ptr<BaseProtocol> protocol;
  std::shared_ptr<SelectorSocketTransport> transport;
  try {
    protocol = factory();
    auto waiter = loop.create_future<void>();
    transport = SelectorSocketTransport::create(loop, conn, protocol, waiter, std::move(peername), server);
    waiter.add_done_callback([transport](const Future<void>& w) {
      if (w.cancelled() || w.exception()) transport->close();
    });
  } catch (...) {
    auto e = std::current_exception();
    if (!transport) syscalls().close(conn);
    if (is_system_exit_or_keyboard_interrupt(e)) throw;
    if (loop.get_debug()) {
      ExceptionContext context;
      context.message = "Error on transport creation for incoming connection";
      context.exception = e;
      if (protocol) context.set("protocol", protocol_repr(protocol.get()));
      if (transport) context.set("transport", transport->repr());
      loop.call_exception_handler(context);
    }
  }
}

// _accept_connection: up to `backlog` accept() calls per ready pass.
void accept_connection(EventLoop& loop, const ProtocolFactory& factory,
                       const std::shared_ptr<Server::Listener>& listener, const std::shared_ptr<Server>& server,
                       int backlog) {
  for (int i = 0; i < backlog; ++i) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    int conn = ::accept4(listener->fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) return;
      if (!out_of_resources(err)) OSError::raise_errno(err);  // the loop reports it
      // Linux keeps reporting the socket ready: stop accepting for a while. (Like CPython,
      // the loop goes on, so each remaining round reports and schedules again.)
      ExceptionContext context;
      context.message = "socket.accept() out of system resource";
      context.exception = OSError::from_errno(err);
      context.set("socket", transport_socket_repr(listener->fd));
      loop.call_exception_handler(context);
      loop.remove_reader_internal(listener->fd);
      loop.call_later(
          kAcceptRetryDelay,
          [&loop, factory, listener, server, backlog] { detail::start_serving(loop, factory, listener, server, backlog); },
          Label("_start_serving"));
      continue;
    }
    std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string peer(addr.sun_path, n);
    if (!detail::is_abstract_unix_path(peer)) peer = peer.substr(0, peer.find('\0'));
    if (loop.get_debug())
      log(LogLevel::DEBUG, server->repr() + " got a new connection from " + detail::unix_address_repr(peer) + ": " +
                               detail::socket_repr(conn));
    loop.call_soon([&loop, factory, conn, peer, server] { accept_connection2(loop, factory, conn, peer, server); },
                   Label("_accept_connection2()"));
  }
}

}  // namespace

// ---- the loop's side ------------------------------------------------------------------------

void detail::start_serving(EventLoop& loop, const ProtocolFactory& factory, std::shared_ptr<Server::Listener> listener,
                           const std::shared_ptr<Server>& server, int backlog) {
  int fd = listener->fd;
  loop.add_reader_internal(
      fd, [&loop, factory, listener, server, backlog] { accept_connection(loop, factory, listener, server, backlog); },
      Label("_accept_connection"));
}

// The Unix loop's _stop_serving: stop accepting, close, then unlink the socket file if it is
// still the one the server bound (3.13's cleanup_socket).
void detail::stop_serving(EventLoop& loop, Server::Listener& listener) {
  std::optional<std::string> path;
  if (listener.cleanup_inode) path = unix_sockname(listener.fd);
  loop.remove_reader_internal(listener.fd);
  syscalls().close(listener.fd);
  listener.fd = -1;
  if (!path) return;
  struct stat st {};
  if (::stat(path->c_str(), &st) == 0) {
    if (st.st_ino != *listener.cleanup_inode || ::unlink(path->c_str()) == 0) return;
  }
  int err = errno;
  if (err == ENOENT) return;
  log(LogLevel::ERROR, "Unable to clean up listening UNIX socket " + py_repr(*path) + ": " +
                           exception_repr(OSError::from_errno(err)));
}

// ---- Server ---------------------------------------------------------------------------------

std::shared_ptr<Server> Server::create(EventLoop& loop, std::vector<std::shared_ptr<Listener>> sockets,
                                       ProtocolFactory factory, int backlog) {
  return std::shared_ptr<Server>(new Server(loop, std::move(sockets), std::move(factory), backlog));
}

Server::Server(EventLoop& loop, std::vector<std::shared_ptr<Listener>> sockets, ProtocolFactory factory, int backlog)
    : loop_(&loop), sockets_(std::move(sockets)), factory_(std::move(factory)), backlog_(backlog) {}

// A server dropped without close() (only possible once the loop let go of its readers):
// the sockets are closed, the files left, as CPython's garbage collector would.
Server::~Server() {
  if (closed_) return;
  for (auto& l : sockets_)
    if (l->fd >= 0) syscalls().close(std::exchange(l->fd, -1));
}

std::vector<int> Server::sockets() const {
  std::vector<int> fds;
  if (!closed_)
    for (const auto& l : sockets_) fds.push_back(l->fd);
  return fds;
}

std::string Server::repr() const {
  std::string out = "<Server sockets=(";
  auto fds = sockets();
  for (std::size_t i = 0; i < fds.size(); ++i) out += (i ? ", " : "") + transport_socket_repr(fds[i]);
  if (fds.size() == 1) out += ",";
  return out + ")>";
}

void Server::attach(SelectorSocketTransport* transport) { clients_.insert(transport); }

void Server::detach(SelectorSocketTransport* transport) {
  clients_.erase(transport);
  if (clients_.empty() && closed_) wakeup();
}

void Server::wakeup() {
  if (!waiters_) return;
  auto waiters = std::move(*waiters_);
  waiters_.reset();
  for (auto& w : waiters)
    if (!w.done()) w.set_result();
}

void Server::start_serving_now() {
  if (serving_) return;
  serving_ = true;
  auto self = shared_from_this();
  for (auto& l : sockets_) {
    if (::listen(l->fd, backlog_) < 0) OSError::raise_errno(errno);
    detail::start_serving(*loop_, factory_, l, self, backlog_);
  }
}

void Server::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& l : sockets_) detail::stop_serving(*loop_, *l);
  serving_ = false;
  if (clients_.empty()) wakeup();
}

std::vector<SelectorSocketTransport*> Server::client_list() const { return {clients_.begin(), clients_.end()}; }

void Server::close_clients() {
  for (auto* t : client_list()) t->close();
}

void Server::abort_clients() {
  for (auto* t : client_list()) t->abort();
}

// start_serving(): the task's first step starts serving, sleep(0) takes one more pass.
Future<void> Server::start_serving() {
  auto result = loop_->create_future<void>();
  auto self = shared_from_this();
  loop_->call_soon(
      [self, result]() mutable {
        if (result.done()) return;
        try {
          self->start_serving_now();
        } catch (...) {
          result.set_exception(std::current_exception());
          return;
        }
        self->loop_->call_soon([result]() mutable {
          if (!result.done()) result.set_result();
        });
      },
      Label("Server.start_serving()"));
  return result;
}

// wait_closed(): returns at once when already woken up, else waits for wakeup().
Future<void> Server::wait_closed() {
  auto result = loop_->create_future<void>();
  auto self = shared_from_this();
  loop_->call_soon(
      [self, result]() mutable {
        if (result.done()) return;
        if (!self->waiters_) {
          result.set_result();
          return;
        }
        auto waiter = self->loop_->create_future<void>();
        self->waiters_->push_back(waiter);
        waiter.add_done_callback([result](const Future<void>&) mutable {
          if (!result.done()) result.set_result();
        });
      },
      Label("Server.wait_closed()"));
  return result;
}

// ---- create_unix_server -----------------------------------------------------------------------

namespace {

int new_unix_socket() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) OSError::raise_errno(errno);
  return fd;
}

// Removes a stale socket file at `path`; logs any failure other than "not found".
void remove_stale_socket(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode) || ::unlink(path.c_str()) == 0) return;
  }
  int err = errno;
  if (err == ENOENT) return;
  log(LogLevel::ERROR, "Unable to check or remove stale UNIX socket " + py_repr(path) + ": " +
                           exception_repr(OSError::from_errno(err)));
}

void bind_unix(int fd, const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() > sizeof addr.sun_path) throw OSError("AF_UNIX path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0) return;
  int err = errno;
  if (err == EADDRINUSE) throw OSError(EADDRINUSE, "Address " + py_repr(path) + " is already in use");
  OSError::raise_errno(err);
}

// A new socket bound to `path` (the path branch of create_unix_server).
int bind_new_socket(const std::string& path) {
  int fd = new_unix_socket();
  if (!detail::is_abstract_unix_path(path)) remove_stale_socket(path);
  try {
    bind_unix(fd, path);
  } catch (...) {
    syscalls().close(fd);
    throw;
  }
  return fd;
}

void check_unix_stream_socket(int fd) {
  if (!detail::is_unix_stream_socket(fd))
    throw ValueError("A UNIX Domain Stream Socket was expected, got " + detail::socket_repr(fd));
}

// cleanup_socket: the inode of the bound file, so close() unlinks only that very file.
std::optional<ino_t> socket_file_inode(int fd) {
  std::string path = detail::unix_sockname(fd).value_or("");
  if (path.empty()) throw LookupError("IndexError", "string index out of range");  // path[0] on ''
  if (detail::is_abstract_unix_path(path)) return std::nullopt;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return st.st_ino;
  if (errno == ENOENT) return std::nullopt;
  OSError::raise_errno(errno);
}

// The synchronous part of create_unix_server, up to the Server object.
std::shared_ptr<Server> make_unix_server(EventLoop& loop, const ProtocolFactory& factory,
                                         const UnixServerOptions& o) {
  if (o.ssl) throw TypeError("ssl argument must be an SSLContext or None");
  if (o.ssl_handshake_timeout) throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
  if (o.ssl_shutdown_timeout) throw ValueError("ssl_shutdown_timeout is only meaningful with ssl");
  int fd;
  bool owned = false;  // a socket made here is closed on failure; a given one stays the caller's
  if (o.path) {
    if (o.sock) throw ValueError("path and sock can not be specified at the same time");
    fd = bind_new_socket(*o.path);
    owned = true;
  } else {
    if (!o.sock) throw ValueError("path was not specified, and no sock specified");
    fd = *o.sock;
    check_unix_stream_socket(fd);
  }
  auto listener = std::make_shared<Server::Listener>();
  try {
    if (o.cleanup_socket) listener->cleanup_inode = socket_file_inode(fd);
    detail::set_nonblocking(fd);
  } catch (...) {
    if (owned) syscalls().close(fd);
    throw;
  }
  listener->fd = fd;
  return Server::create(loop, {listener}, factory, o.backlog);
}

}  // namespace

Future<std::shared_ptr<Server>> EventLoop::create_unix_server(ProtocolFactory factory, const UnixServerOptions& options) {
  auto result = create_future<std::shared_ptr<Server>>();
  call_soon(
      [this, result, factory = std::move(factory), options]() mutable {
        if (result.done()) return;
        std::shared_ptr<Server> server;
        try {
          server = make_unix_server(*this, factory, options);
          if (options.start_serving) server->start_serving_now();
        } catch (...) {
          result.set_exception(std::current_exception());
          if (is_system_exit_or_keyboard_interrupt(std::current_exception())) throw;
          return;
        }
        if (!options.start_serving) {
          result.set_result(server);
          return;
        }
        // sleep(0): one more pass, so the accept reader is in place before the result.
        call_soon([result, server]() mutable {
          if (!result.done()) result.set_result(server);
        });
      },
      Label("create_unix_server()"));
  return result;
}

}  // namespace loopcheck
