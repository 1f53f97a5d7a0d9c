// Unix domain socket servers and connections: CPython's loop.create_unix_server,
// loop.create_unix_connection (asyncio.unix_events) and asyncio.base_events.Server.
//
// Both calls are coroutines in CPython; here they return a Future that the loop completes
// the way the awaiting task would: the argument checks and the work start in the next pass
// (the task's first step), so every error -- ValueError for bad arguments included -- is the
// future's exception, never thrown by the call. The reference follows CPython 3.13 where
// versions differ: cleanup_socket (the socket file is unlinked when the server closes, if it
// is still the same file) and Server.wait_closed waiting for the clients to go.
//
// create_unix_server(factory, {path | sock, backlog=100, ssl, ssl_handshake_timeout,
// ssl_shutdown_timeout, start_serving=true, cleanup_socket=true}):
// - ssl given as a bool: TypeError('ssl argument must be an SSLContext or None'); a TLS
//   timeout without ssl: ValueError('ssl_handshake_timeout is only meaningful with ssl') /
//   ('ssl_shutdown_timeout ...'); path and sock: ValueError('path and sock can not be
//   specified at the same time'); neither: ValueError('path was not specified, and no sock
//   specified'); a sock that is not AF_UNIX/SOCK_STREAM: ValueError('A UNIX Domain Stream
//   Socket was expected, got <socket.socket ...>').
// - path (not abstract, i.e. not starting with NUL): an existing socket file is removed (a
//   stale one, or a live server's); another file is kept and bind fails with OSError(98,
//   "Address 'PATH' is already in use"); a stat() failure other than ENOENT is logged at
//   ERROR "Unable to check or remove stale UNIX socket 'PATH': NotADirectoryError(20, 'Not a
//   directory')" and bind is tried anyway; other bind errors are raised as they are.
// - start_serving: listen(backlog) and accept from the next pass; the future completes one
//   pass later (CPython's sleep(0)). Otherwise the socket is bound but not listening.
//
// create_unix_connection(factory, {path | sock, ssl, server_hostname,
// ssl_handshake_timeout, ssl_shutdown_timeout}):
// - ssl without server_hostname: ValueError('you have to pass server_hostname when using
//   ssl'); server_hostname without ssl: ValueError('server_hostname is only meaningful with
//   ssl'); TLS timeouts without ssl as above; path and sock: as above; neither:
//   ValueError('no path and sock were specified'); a bad sock as above.
// - path: a new non-blocking socket connects (ENOENT -> FileNotFoundError, no listener ->
//   ConnectionRefusedError, ...; the socket is closed on failure).
// - the future's result is (transport, protocol) once connection_made has run.
//
// TLS is not part of the reference: ssl is CPython's None/True/False only, and a connection
// with ssl=True (past the checks) fails with NotImplementedError.
//
// Sockets passed as `sock` belong to the server or transport once the future succeeds;
// when it fails they stay the caller's.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/protocols.hpp"
#include "loopcheck/selector_socket_transport.hpp"

namespace loopcheck {

struct UnixServerOptions {
  std::optional<std::string> path{};  // a std::filesystem::path converts to it
  std::optional<int> sock{};
  int backlog = 100;
  std::optional<bool> ssl{};  // None, or a bool (which CPython refuses)
  std::optional<double> ssl_handshake_timeout{};
  std::optional<double> ssl_shutdown_timeout{};
  bool start_serving = true;
  bool cleanup_socket = true;
};

struct UnixConnectionOptions {
  std::optional<std::string> path{};
  std::optional<int> sock{};
  std::optional<bool> ssl{};
  std::optional<std::string> server_hostname{};
  std::optional<double> ssl_handshake_timeout{};
  std::optional<double> ssl_shutdown_timeout{};
};

// asyncio.base_events.Server for Unix sockets.
class Server : public std::enable_shared_from_this<Server> {
 public:
  // A listening socket; fd is -1 once the server closed it (CPython's sock.fileno()).
  struct Listener {
    int fd = -1;
    std::optional<ino_t> cleanup_inode;  // set when the socket file is unlinked at close
  };

  static std::shared_ptr<Server> create(EventLoop& loop, std::vector<std::shared_ptr<Listener>> sockets,
                                        ProtocolFactory factory, int backlog);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  EventLoop& get_loop() const noexcept { return *loop_; }
  bool is_serving() const noexcept { return serving_; }
  // server.sockets: the listening fds, none once closed.
  std::vector<int> sockets() const;
  // Stops listening: each socket's reader is removed, the socket closed and its file
  // unlinked (cleanup_socket); waiters of wait_closed() are released once no client is left.
  // Idempotent.
  void close();
  // 3.13's close_clients() / abort_clients(): close() / abort() on every client transport.
  void close_clients();
  void abort_clients();
  // The coroutine start_serving(): starts listening now; done one pass later.
  Future<void> start_serving();
  // The coroutine wait_closed() (3.12.1+): done once the server is closed and every client
  // transport has lost its connection.
  Future<void> wait_closed();
  // `<Server sockets=(<asyncio.TransportSocket fd=N, family=1, type=1, proto=0, laddr=...>,)>`.
  std::string repr() const;

  // Seams for the transports and the loop.
  void attach(SelectorSocketTransport* transport);
  void detach(SelectorSocketTransport* transport);
  // A transport destroyed without losing its connection (its loop closed first).
  void forget_client(SelectorSocketTransport* transport) noexcept { clients_.erase(transport); }
  std::size_t client_count() const noexcept { return clients_.size(); }
  void start_serving_now();  // Server._start_serving

 private:
  Server(EventLoop& loop, std::vector<std::shared_ptr<Listener>> sockets, ProtocolFactory factory, int backlog);
  void wakeup();
  std::vector<SelectorSocketTransport*> client_list() const;

  EventLoop* loop_;
  std::vector<std::shared_ptr<Listener>> sockets_;
  bool closed_ = false;  // CPython's _sockets is None
  std::set<SelectorSocketTransport*> clients_;
  std::optional<std::vector<Future<void>>> waiters_{std::in_place};  // nullopt: woken up
  ProtocolFactory factory_;
  int backlog_;
  bool serving_ = false;
};

namespace detail {
// BaseSelectorEventLoop._start_serving / _stop_serving / _accept_connection.
void start_serving(EventLoop& loop, const ProtocolFactory& factory, std::shared_ptr<Server::Listener> listener,
                   const std::shared_ptr<Server>& server, int backlog);
void stop_serving(EventLoop& loop, Server::Listener& listener);
}  // namespace detail

}  // namespace loopcheck
