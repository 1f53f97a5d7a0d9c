#include "unix_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>
#include <cstring>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck::detail {
namespace {

int sockopt_int(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) < 0) OSError::raise_errno(errno);
  return value;
}

std::string bytes_repr(const std::string& data) {
  bool single = data.find('\'') == std::string::npos || data.find('"') != std::string::npos;
  std::string out = single ? "b'" : "b\"";
  for (unsigned char c : data) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\'' && single) out += "\\'";
    else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += single ? "'" : "\"";
  return out;
}

using NameCall = int (*)(int, sockaddr*, socklen_t*);

std::optional<std::string> unix_name(int fd, NameCall call) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (call(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) return std::nullopt;
  std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  std::string path(addr.sun_path, n);
  // A path name is NUL-terminated inside the length; an abstract one keeps every byte.
  if (!is_abstract_unix_path(path)) path = path.substr(0, path.find('\0'));
  return path;
}

// str() of an AF_INET/AF_INET6 address tuple, or "" for other families.
std::string inet_address_str(int fd, NameCall call) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (call(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "";
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return "('" + std::string(host) + "', " + std::to_string(ntohs(in->sin_port)) + ")";
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "('" + std::string(host) + "', " + std::to_string(ntohs(in6->sin6_port)) + ", " +
           std::to_string(ntohl(in6->sin6_flowinfo)) + ", " + std::to_string(in6->sin6_scope_id) + ")";
  }
  return "";
}

std::string address_str(int fd, int family, NameCall call) {
  if (family == AF_UNIX) {
    auto name = unix_name(fd, call);
    return name ? unix_address_str(*name) : "";
  }
  return inet_address_str(fd, call);
}

}  // namespace

int socket_family(int fd) { return sockopt_int(fd, SO_DOMAIN); }
int socket_type(int fd) { return sockopt_int(fd, SO_TYPE); }
// Python reports the protocol the socket was made with; the kernel reports the one it chose
// for 0 (TCP, UDP), so those count as 0.
int socket_proto(int fd) {
  int proto = sockopt_int(fd, SO_PROTOCOL);
  int type = socket_type(fd);
  if ((type == SOCK_STREAM && proto == IPPROTO_TCP) || (type == SOCK_DGRAM && proto == IPPROTO_UDP)) return 0;
  return proto;
}

bool is_unix_stream_socket(int fd) { return socket_family(fd) == AF_UNIX && socket_type(fd) == SOCK_STREAM; }

std::string socket_repr(int fd) {
  int family = socket_family(fd);
  std::string out = "<socket.socket fd=" + std::to_string(fd) + ", family=" + std::to_string(family) +
                    ", type=" + std::to_string(socket_type(fd)) + ", proto=" + std::to_string(socket_proto(fd));
  std::string laddr = address_str(fd, family, ::getsockname);
  if (!laddr.empty()) out += ", laddr=" + laddr;
  std::string raddr = address_str(fd, family, ::getpeername);
  if (!raddr.empty()) out += ", raddr=" + raddr;
  return out + ">";
}

std::optional<std::string> unix_sockname(int fd) { return unix_name(fd, ::getsockname); }
std::optional<std::string> unix_peername(int fd) { return unix_name(fd, ::getpeername); }

std::string unix_address_str(const std::string& address) {
  return is_abstract_unix_path(address) ? bytes_repr(address) : address;
}

std::string unix_address_repr(const std::string& address) {
  return is_abstract_unix_path(address) ? bytes_repr(address) : py_repr(address);
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) OSError::raise_errno(errno);
}

}  // namespace loopcheck::detail
