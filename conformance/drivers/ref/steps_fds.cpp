// File descriptor steps: pipes, socketpairs, files, raw reads and writes, readers/writers.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "data.hpp"
#include "loopcheck/errors.hpp"
#include "runner.hpp"

namespace loopcheck::ref {

// ---- fds ---------------------------------------------------------------------------------

// pipe R W [size=N]: a known capacity (F_SETPIPE_SZ) makes partial writes deterministic.
void Runner::pipe(const Step& s) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) OSError::raise_errno(errno);
  if (s.kw.contains("size") && ::fcntl(p[1], F_SETPIPE_SZ, s.kw["size"].get<int>()) < 0) {
    int err = errno;
    ::close(p[0]);
    ::close(p[1]);
    OSError::raise_errno(err);
  }
  fds_[s.name(0, "a name for the read end")] = p[0];
  fds_[s.name(1, "a name for the write end")] = p[1];
}

void Runner::socketpair(const Step& s) {
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) OSError::raise_errno(errno);
  fds_[s.name(0, "a name")] = p[0];
  fds_[s.name(1, "a name")] = p[1];
}

// read_fd and write_fd never block (INTERPRETING.md 5): the fd is made non-blocking first.
static void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void Runner::write_fd(const Step& s) {
  int f = fd(s, 0);
  set_nonblocking(f);
  const auto& what = s.arg(1, "a byte count or text");
  std::string data = what.is_number_integer() ? pattern(what.get<std::size_t>()) : text_value(what);
  ssize_t n = ::write(f, data.data(), data.size());
  if (n < 0) OSError::raise_errno(errno);
  rec_.returned(s.op, {n});
}

void Runner::read_fd(const Step& s) {
  int f = fd(s, 0);
  set_nonblocking(f);
  std::string buf(s.arg(1, "a byte count").get<std::size_t>(), '\0');
  ssize_t n = ::read(f, buf.data(), buf.size());
  if (n < 0) OSError::raise_errno(errno);
  buf.resize(std::size_t(n));
  rec_.returned(s.op, data_args(buf));
}

void Runner::close_fd(const Step& s) {
  if (::close(fd(s, 0)) < 0) OSError::raise_errno(errno);
}

void Runner::add_io(const Step& s) {
  int f = fd(s, 0);
  std::string name = s.name(1, "a callback name");
  if (s.op == "add_reader")
    loop_.add_reader(f, callback(name), label(name));
  else
    loop_.add_writer(f, callback(name), label(name));
}

void Runner::remove_io(const Step& s) {
  int f = fd(s, 0);
  rec_.returned(s.op, {s.op == "remove_reader" ? loop_.remove_reader(f) : loop_.remove_writer(f)});
}

namespace {

// open() flags for a Python file mode: "rb", "wb", "ab", "r+b" ...
int open_flags(const std::string& mode) {
  bool plus = mode.find('+') != std::string::npos;
  if (mode.find('w') != std::string::npos) return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
  if (mode.find('a') != std::string::npos) return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
  return plus ? O_RDWR : O_RDONLY;
}

int open_or_raise(const std::string& path, int flags) {
  int f = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (f < 0) OSError::raise_errno(errno);
  return f;
}

}  // namespace

// A file named F in the scenario's directory (the working directory), holding N pattern
// bytes, opened with `mode` (default "rb").
void Runner::regular_file(const Step& s) {
  std::string name = s.name(0, "a name");
  std::string content = pattern(s.kw.contains("size") ? s.kw["size"].get<std::size_t>() : 0);
  int w = open_or_raise(name, O_WRONLY | O_CREAT | O_TRUNC);
  bool written = ::write(w, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(w);
  if (!written) throw StepError("cannot fill the regular file '" + name + "'");
  std::string mode = s.kw.contains("mode") ? text_value(s.kw["mode"]) : "rb";
  fds_[name] = open_or_raise(name, open_flags(mode));
}

void Runner::devnull(const Step& s) {
  bool write = s.kw.contains("mode") && text_value(s.kw["mode"]) == "w";
  fds_[s.name(0, "a name")] = open_or_raise("/dev/null", write ? O_WRONLY : O_RDONLY);
}

// os.get_blocking(fd): O_NONBLOCK is clear.
void Runner::get_blocking(const Step& s) {
  int flags = ::fcntl(fd(s, 0), F_GETFL);
  if (flags < 0) OSError::raise_errno(errno);
  rec_.returned(s.op, {(flags & O_NONBLOCK) == 0});
}

}  // namespace loopcheck::ref
