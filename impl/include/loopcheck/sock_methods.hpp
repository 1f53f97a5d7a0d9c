// The socket argument of the loop's sock_* methods and the checks they share
// (asyncio.selector_events: sock_recv, sock_sendall; base_events._check_ssl_socket).
//
// loop.sock_recv(sock, n) and loop.sock_sendall(sock, data) are declared in event_loop.hpp
// and defined in src/sock_methods.cpp. Like CPython's coroutines they report every error
// through the returned future, never by throwing.
#pragma once

#include "loopcheck/errors.hpp"

namespace loopcheck {

// CPython passes a socket.socket. Here: the socket's fd, which the caller keeps owning, and
// whether it is TLS-wrapped (an ssl.SSLSocket), which the sock_* methods refuse with
// TypeError('Socket cannot be of type SSLSocket').
struct Socket {
  Socket(int fd, bool tls = false) : fd(fd), tls(tls) {}  // implicit: an fd is a socket
  int fd;
  bool tls;
};

// base_events._check_ssl_socket.
void check_ssl_socket(const Socket& sock);
// sock.gettimeout() != 0: the fd lacks O_NONBLOCK. OSError if fcntl fails.
bool socket_is_blocking(int fd);
// sock.type (SOCK_STREAM, SOCK_DGRAM, ...). OSError if getsockopt fails (ENOTSOCK, say).
int socket_type(int fd);
// The debug-mode check the sock_* methods start with: ValueError('the socket must be
// non-blocking').
void check_nonblocking_in_debug(bool debug, const Socket& sock);

}  // namespace loopcheck
