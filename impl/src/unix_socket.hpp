// Small helpers over AF_UNIX stream sockets shared by the socket transport, the Unix server
// and create_unix_connection: what Python's socket object answers (family, type, repr,
// getsockname) computed from a bare fd.
#pragma once

#include <optional>
#include <string>

namespace loopcheck::detail {

// sock.family / sock.type (SOCK_NONBLOCK and SOCK_CLOEXEC never show) / sock.proto.
int socket_family(int fd);
int socket_type(int fd);
int socket_proto(int fd);
bool is_unix_stream_socket(int fd);

// repr(socket.socket) as CPython 3.11+ prints it: `<socket.socket fd=5, family=1, type=1,
// proto=0, laddr=/tmp/s.sock>`; laddr/raddr only when the address is not empty.
std::string socket_repr(int fd);

// The raw AF_UNIX address (a path, or NUL + name for an abstract one, "" when unbound), or
// nullopt when the call fails.
std::optional<std::string> unix_sockname(int fd);
std::optional<std::string> unix_peername(int fd);
// An abstract name starts with NUL; the file system never sees it.
inline bool is_abstract_unix_path(const std::string& path) { return !path.empty() && path[0] == '\0'; }
// str() of what Python's getsockname() returns for such an address: the path itself, or
// the bytes repr b'\x00name' for an abstract name.
std::string unix_address_str(const std::string& address);
// repr() of the same value: 'path' or b'\x00name'.
std::string unix_address_repr(const std::string& address);

// sock.setblocking(False); raises OSError.
void set_nonblocking(int fd);

}  // namespace loopcheck::detail
