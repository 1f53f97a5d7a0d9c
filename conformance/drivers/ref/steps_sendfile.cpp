// sendfile steps: file objects (regular_file, memory_file, NAME.tell), sock_sendfile, and
// loop.sendfile on a transport. Python's driver: steps_sockets.py and steps_fds.py.
#include <fcntl.h>

#include <cerrno>

#include "data.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/loop_sendfile.hpp"
#include "loopcheck/sock_methods.hpp"
#include "loopcheck/sock_sendfile.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

// An int keyword argument (offset=, count=); C++'s signature takes integers only.
std::optional<std::int64_t> int_kw(const Step& s, const char* key) {
  if (!s.has_kw(key)) return std::nullopt;
  const auto& v = s.kw[key];
  if (!v.is_number_integer())
    throw Unsupported(s.op + " takes " + key + " as a C++ integer; " + value_repr(v) +
                      " cannot be passed, so Python's TypeError for a non-int " + key + " has no counterpart");
  return v.get<std::int64_t>();
}

bool fd_is_closed(int fd) { return ::fcntl(fd, F_GETFD) < 0 && errno == EBADF; }

}  // namespace

// regular_file F ...: the fd steps_fds.cpp opens, plus the file object Python binds to F
// (its mode decides sock_sendfile's binary-mode check). The driver keeps owning the fd.
void Runner::regular_file_object(const Step& s) {
  regular_file(s);
  std::string name = s.name(0, "a name");
  std::string mode = s.kw.contains("mode") ? text_value(s.kw["mode"]) : "rb";
  files_[name] = std::make_shared<FdFile>(fds_.at(name), mode, /*owns_fd=*/false);
}

// memory_file M size=N: io.BytesIO of N pattern bytes.
void Runner::memory_file(const Step& s) {
  std::size_t size = s.kw.contains("size") ? s.kw["size"].get<std::size_t>() : 0;
  files_[s.name(0, "a name")] = std::make_shared<BytesFile>(pattern(size));
}

// The file object named F. A bare fd (a pipe end) is opened as a binary file each time, as
// Python's open(fd, "rb", buffering=0, closefd=False). `close_fd F` closes the fd behind the
// object's back: the object learns it here, as Python's closed file object knows it.
std::shared_ptr<FileObject> Runner::file_named(const std::string& name) {
  auto it = files_.find(name);
  auto fd = fds_.find(name);
  if (it != files_.end()) {
    if (fd != fds_.end() && !it->second->closed() && fd_is_closed(fd->second)) it->second->close();
    return it->second;
  }
  if (fd != fds_.end()) return std::make_shared<FdFile>(fd->second, "rb", /*owns_fd=*/false);
  throw StepError("unknown file '" + name + "' (not created by an earlier step)");
}

// NAME.tell on a file object; false when NAME is not a file.
bool Runner::file_method(const Step& s, const std::string& object, const std::string& method) {
  if (method != "tell" || (!files_.count(object) && !fds_.count(object))) return false;
  rec_.returned(s.op, {file_named(object)->tell()});
  return true;
}

// sock_sendfile SOCK FILE [offset=N] [count=N] [fallback=false] [blocking=true] [task=NAME]
void Runner::sock_sendfile(const Step& s) {
  std::string sock_name = s.name(0, "a socket name");
  Socket sock(fd(s, 0), tls_sockets_.count(sock_name) > 0);
  auto file = file_named(s.name(1, "a file name"));
  if (!s.kw.value("blocking", false)) {  // Python's step: sock.setblocking(False)
    int flags = ::fcntl(sock.fd, F_GETFL);
    if (flags >= 0) ::fcntl(sock.fd, F_SETFL, flags | O_NONBLOCK);
  }
  auto offset = int_kw(s, "offset");
  auto count = int_kw(s, "count");
  bool fallback = s.kw.value("fallback", true);
  auto fut = loop_.sock_sendfile(sock, file, offset.value_or(0), count, fallback);
  await_size(s, fut);
}

// An async step's future: awaited with the step's deadline at top level; inside a callback
// its outcome is recorded when it is done, and `task=NAME` lets `cancel NAME` cancel it.
void Runner::await_size(const Step& s, Future<std::size_t> fut) {
  if (loop_.is_running()) {
    int line = s.line;
    std::string op = s.op;
    fut.add_done_callback(
        [this, line, op](const Future<std::size_t>& f) {
          int saved = rec_.current_line;
          rec_.current_line = line;
          if (f.cancelled())
            rec_.event("cancelled", {op});
          else if (auto e = f.exception())
            rec_.raised(op, e);
          else
            rec_.returned(op, {f.result()});
          rec_.current_line = saved;
        },
        label("done"));
    if (s.has_kw("task")) tasks_[text_value(s.kw["task"])] = [fut]() mutable { return fut.cancel(); };
    return;
  }
  std::size_t result = 0;
  if (with_deadline([&] { result = loop_.run_until_complete(fut); }, deadline(s))) {
    fut.cancel();
    rec_.event("timeout", {s.op});
    return;
  }
  rec_.returned(s.op, {result});
}

// `cancel NAME` for a task started by an async step; false when NAME is no such task.
bool Runner::cancel_task(const std::string& name) {
  auto it = tasks_.find(name);
  if (it == tasks_.end()) return false;
  it->second();
  return true;
}

// sendfile T FILE [offset=N] [count=N] [fallback=false] [task=NAME]: loop.sendfile(transport, ...)
void Runner::sendfile(const Step& s) {
  std::string name = s.name(0, "a transport name");
  auto it = transports_.find(name);
  if (it == transports_.end()) throw StepError("line " + std::to_string(s.line) + ": sendfile needs a transport");
  auto file = file_named(s.name(1, "a file name"));
  auto offset = int_kw(s, "offset");
  auto count = int_kw(s, "count");
  auto fut = loop_.sendfile(it->second, file, offset.value_or(0), count, s.kw.value("fallback", true));
  await_size(s, fut);
}

}  // namespace loopcheck::ref
