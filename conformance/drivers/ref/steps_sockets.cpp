// Unix socket steps (conformance/drivers/python/steps_sockets.py): socket, stale_socket,
// path_exists, create_unix_server, create_unix_connection, fd_limit, and the methods of
// servers (SRV.is_serving, SRV.close, SRV.wait_closed, SRV.start_serving, SRV.sockname) and
// of plain sockets (S.connect PATH). Connections are transports: their methods go through
// the shared transport dispatch.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/unix_server.hpp"
#include "await_step.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

// A scenario path in the scenario's directory (the working directory); a name starting
// with NUL is abstract and made unique the same way ("\0" + directory + "/" + rest).
std::string socket_path(const std::string& tmpdir, const nlohmann::json& v) {
  std::string name = text_value(v);
  std::string dir = tmpdir.empty() ? std::filesystem::current_path().string() : tmpdir;
  if (!name.empty() && name[0] == '\0') return std::string(1, '\0') + dir + "/" + name.substr(1);
  return dir + "/" + name;
}

sockaddr_un unix_address(const std::string& path, socklen_t& len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() > sizeof addr.sun_path) throw OSError("AF_UNIX path too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  return addr;
}

void bind_or_raise(int fd, const std::string& path) {
  socklen_t len;
  sockaddr_un addr = unix_address(path, len);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) OSError::raise_errno(errno);
}

std::optional<double> seconds_kw(const Step& s, const char* key) {
  if (!s.kw.contains(key) || s.kw[key].is_null()) return std::nullopt;
  if (!s.kw[key].is_number())
    throw Unsupported(std::string(key) + "= takes a number of seconds in C++; " + s.kw[key].dump() + " cannot be passed");
  return s.kw[key].get<double>();
}

// ssl=true/false is CPython's bool; a context (ssl=server/client) needs TLS, which the
// reference does not have.
std::optional<bool> ssl_kw(const Step& s) {
  if (!s.kw.contains("ssl") || s.kw["ssl"].is_null()) return std::nullopt;
  if (s.kw["ssl"].is_boolean()) return s.kw["ssl"].get<bool>();
  throw Unsupported("the reference loop has no TLS: ssl=" + text_value(s.kw["ssl"]) + " (an SSLContext) cannot be passed");
}

// The `sockname` answer: repr() of what Python's getsockname() returns.
std::string sockname_repr(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) OSError::raise_errno(errno);
  std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  std::string path(addr.sun_path, n);
  if (path.empty() || path[0] != '\0') return py_repr(path.substr(0, path.find('\0')));
  std::string out = "b'";
  for (unsigned char c : path) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

}  // namespace

// socket NAME [family=unix|inet] [type=stream|dgram] [nonblock=true] [bind=PATH] [ssl=true]
void Runner::socket(const Step& s) {
  std::string name = s.name(0, "a socket name");
  std::string family = s.kw.contains("family") ? text_value(s.kw["family"]) : "unix";
  std::string type = s.kw.contains("type") ? text_value(s.kw["type"]) : "stream";
  int domain = family == "inet" ? AF_INET : AF_UNIX;
  int kind = (type == "dgram" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC;
  if (s.kw.value("nonblock", false)) kind |= SOCK_NONBLOCK;
  int fd = ::socket(domain, kind, 0);
  if (fd < 0) OSError::raise_errno(errno);
  fds_[name] = fd;
  if (s.kw.contains("bind")) {
    if (domain == AF_UNIX) {
      bind_or_raise(fd, socket_path(rec_.tmpdir, s.kw["bind"]));
    } else {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) OSError::raise_errno(errno);
    }
  }
  if (s.kw.value("ssl", false)) throw Unsupported("the reference loop has no TLS: an SSL socket cannot be made");
}

// stale_socket PATH: a socket file nobody listens on.
void Runner::stale_socket(const Step& s) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) OSError::raise_errno(errno);
  try {
    bind_or_raise(fd, socket_path(rec_.tmpdir, s.arg(0, "a path")));
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

// path_exists PATH: os.path.exists (follows symlinks; any error is false).
void Runner::path_exists(const Step& s) {
  struct stat st {};
  std::string path = socket_path(rec_.tmpdir, s.arg(0, "a path"));
  rec_.returned(s.op, {!path.empty() && path[0] != '\0' && ::stat(path.c_str(), &st) == 0});
}

// fd_limit exhausted|restored: RLIMIT_NOFILE lowered to the lowest free fd, or put back.
void Runner::fd_limit(const Step& s) {
  std::string which = s.name(0, "exhausted or restored");
  if (!saved_fd_limit_) {
    rlimit saved{};
    if (::getrlimit(RLIMIT_NOFILE, &saved) < 0) OSError::raise_errno(errno);
    saved_fd_limit_ = saved;
  }
  if (which == "restored") {
    if (::setrlimit(RLIMIT_NOFILE, &*saved_fd_limit_) < 0) OSError::raise_errno(errno);
    return;
  }
  int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (probe < 0) OSError::raise_errno(errno);
  ::close(probe);
  rlimit lowered{static_cast<rlim_t>(probe), saved_fd_limit_->rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &lowered) < 0) OSError::raise_errno(errno);
}

void Runner::create_unix_server(const Step& s) {
  std::string name = s.name(0, "a server name");
  UnixServerOptions o;
  if (s.kw.contains("path")) o.path = socket_path(rec_.tmpdir, s.kw["path"]);
  if (s.kw.contains("sock")) o.sock = socket_fd(text_value(s.kw["sock"]));
  if (s.kw.contains("backlog")) o.backlog = s.kw["backlog"].get<int>();
  o.ssl = ssl_kw(s);
  o.ssl_handshake_timeout = seconds_kw(s, "ssl_handshake_timeout");
  o.ssl_shutdown_timeout = seconds_kw(s, "ssl_shutdown_timeout");
  if (s.kw.contains("start_serving")) o.start_serving = s.kw["start_serving"].get<bool>();
  auto counter = std::make_shared<int>(0);
  ProtocolFactory factory = [this, name, counter] { return make_protocol(name + "." + std::to_string(++*counter)); };
  await_step(s, loop_.create_unix_server(std::move(factory), o),
             [this, name](std::shared_ptr<Server>& server) { servers_[name] = server; });
}

void Runner::create_unix_connection(const Step& s) {
  std::string name = s.name(0, "a connection name");
  UnixConnectionOptions o;
  if (s.kw.contains("path")) {
    std::filesystem::path p = socket_path(rec_.tmpdir, s.kw["path"]);  // pathlib=true: a path-like is the same path
    o.path = p;
  }
  if (s.kw.contains("sock")) o.sock = socket_fd(text_value(s.kw["sock"]));
  if (s.kw.contains("server_hostname")) {
    const auto& h = s.kw["server_hostname"];
    if (!(h.is_string() || (h.is_object() && h.contains("str"))))
      throw Unsupported("server_hostname is a std::optional<std::string> in C++; " + h.dump() +
                        " cannot be passed, so CPython's AssertionError has no counterpart");
    o.server_hostname = text_value(h);
  }
  o.ssl = ssl_kw(s);
  o.ssl_handshake_timeout = seconds_kw(s, "ssl_handshake_timeout");
  o.ssl_shutdown_timeout = seconds_kw(s, "ssl_shutdown_timeout");
  auto protocol = make_protocol(name);
  await_step(s, loop_.create_unix_connection([protocol] { return protocol; }, o),
             [this, name](UnixConnection& c) { transports_[name] = c.first; });
}

int Runner::socket_fd(const std::string& name) const {
  auto it = fds_.find(name);
  if (it == fds_.end()) throw StepError("unknown name '" + name + "' (not created by an earlier step)");
  return it->second;
}

// SRV.METHOD and S.METHOD (a plain socket); false when `object` is neither.
bool Runner::socket_method(const Step& s, const std::string& object, const std::string& method) {
  auto srv = servers_.find(object);
  if (srv != servers_.end()) {
    Server& server = *srv->second;
    if (method == "is_serving") {
      rec_.returned(s.op, {server.is_serving()});
    } else if (method == "close") {
      server.close();
    } else if (method == "close_clients") {
      server.close_clients();
    } else if (method == "abort_clients") {
      server.abort_clients();
    } else if (method == "wait_closed") {
      await_step(s, server.wait_closed(), [] {});
    } else if (method == "start_serving") {
      await_step(s, server.start_serving(), [] {});
    } else if (method == "sockname") {
      auto fds = server.sockets();
      if (fds.empty()) throw LookupError("IndexError", "tuple index out of range");
      rec_.returned(s.op, {sockname_repr(fds[0])});
    } else if (method == "repr") {
      rec_.returned(s.op, {server.repr()});
    } else {
      throw Unsupported("server method " + method + " is not implemented by the ref driver yet");
    }
    return true;
  }
  if (method == "connect" && fds_.count(object)) {
    // A plain blocking connect of an existing socket (no new fd).
    socklen_t len;
    sockaddr_un addr = unix_address(socket_path(rec_.tmpdir, s.arg(0, "a path")), len);
    if (::connect(fds_.at(object), reinterpret_cast<sockaddr*>(&addr), len) < 0) OSError::raise_errno(errno);
    return true;
  }
  return false;
}

}  // namespace loopcheck::ref
