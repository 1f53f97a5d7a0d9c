// loop.sock_sendfile: base_events' checks and fallback, unix_events' native sendfile(2) path.
#include "loopcheck/sock_sendfile.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/sock_methods.hpp"
#include "loopcheck/syscalls.hpp"
#include "sendfile_outcome.hpp"

namespace loopcheck {

SendfileNotConnectedError::SendfileNotConnectedError()
    : Exception("ConnectionError", "[Errno socket is not connected] " + std::to_string(ENOTCONN)) {}

std::string SendfileNotConnectedError::repr() const {
  return "ConnectionError('socket is not connected', " + std::to_string(ENOTCONN) + ")";
}

namespace {

using SizeFuture = Future<std::size_t>;

// base_events._check_sendfile_params (the type checks are C++'s types).
void check_sendfile_params(const Socket& sock, const FileObject& file, std::int64_t offset,
                           std::optional<std::int64_t> count) {
  if (auto mode = file.mode(); mode && mode->find('b') == std::string::npos)
    throw ValueError("file should be opened in binary mode");
  if (socket_type(sock.fd) != SOCK_STREAM) throw ValueError("only SOCK_STREAM type sockets are supported");
  if (count && *count <= 0) throw ValueError("count must be a positive integer (got " + std::to_string(*count) + ")");
  if (offset < 0) throw ValueError("offset must be a non-negative integer (got " + std::to_string(offset) + ")");
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// ---- the fallback: read blocks, sock_sendall each ----------------------------------------

struct Fallback : std::enable_shared_from_this<Fallback> {
  EventLoop* loop;
  SizeFuture fut;
  Socket sock;
  std::shared_ptr<FileObject> file;
  std::int64_t offset;
  std::optional<std::int64_t> count;
  std::size_t blocksize = kSendfileFallbackReadBufferSize;
  std::size_t total_sent = 0;
  std::vector<char> buf;
  Future<void> sending;  // the sock_sendall in progress

  Fallback(EventLoop& l, SizeFuture f, const Socket& s, std::shared_ptr<FileObject> fl, std::int64_t off,
           std::optional<std::int64_t> cnt)
      : loop(&l), fut(std::move(f)), sock(s), file(std::move(fl)), offset(off), count(cnt) {}

  void start() {
    try {
      if (offset) file->seek(offset);  // before the try/finally: no seek back on failure
    } catch (...) {
      fut.set_exception(std::current_exception());
      return;
    }
    if (count) blocksize = std::min<std::size_t>(static_cast<std::size_t>(*count), blocksize);
    buf.resize(blocksize);
    // A cancelled result cancels the send in progress (a pass later than Task.cancel would).
    auto self = shared_from_this();
    fut.add_done_callback(
        [self](const SizeFuture& f) {
          if (f.cancelled() && self->sending.valid() && !self->sending.done()) self->sending.cancel();
        },
        "_sock_sendfile_fallback");
    run();
  }

  // The loop body: read a block, send it; blocks sent at once continue without a pass.
  void run() {
    try {
      for (;;) {
        if (fut.done()) return finish(nullptr);
        if (count) {
          auto left = *count - static_cast<std::int64_t>(total_sent);
          if (left <= 0) return finish(nullptr);
          blocksize = std::min<std::size_t>(static_cast<std::size_t>(left), blocksize);
        }
        std::size_t read = file->readinto(std::span<char>(buf.data(), blocksize));
        if (read == 0) return finish(nullptr);  // EOF
        sending = loop->sock_sendall(sock, std::string(buf.data(), read));
        if (!sending.done()) {
          auto self = shared_from_this();
          sending.add_done_callback([self, read](const Future<void>& f) { self->sent(f, read); }, "_sock_sendfile_fallback");
          return;
        }
        if (!sent_ok(sending, read)) return;
      }
    } catch (...) {
      finish(std::current_exception());
    }
  }

  void sent(const Future<void>& f, std::size_t read) {
    if (sent_ok(f, read)) run();
  }

  // False when the send failed or was cancelled (the fallback is finished then).
  bool sent_ok(const Future<void>& f, std::size_t read) {
    if (f.cancelled()) {
      finish(std::make_exception_ptr(CancelledError()));
      return false;
    }
    if (auto error = f.exception()) {
      finish(error);
      return false;
    }
    total_sent += read;
    return true;
  }

  // The `finally`: seek to the end of what was sent; an error there replaces the outcome.
  void finish(std::exception_ptr error) {
    try {
      if (total_sent > 0) file->seek(offset + static_cast<std::int64_t>(total_sent));
    } catch (...) {
      error = std::current_exception();
    }
    settle_sendfile(fut, error, total_sent);
  }
};

void start_fallback(EventLoop& loop, SizeFuture fut, const Socket& sock, std::shared_ptr<FileObject> file,
                    std::int64_t offset, std::optional<std::int64_t> count) {
  std::make_shared<Fallback>(loop, std::move(fut), sock, std::move(file), offset, count)->start();
}

// ---- the native path: sendfile(2) from writer callbacks ---------------------------------

struct Native : std::enable_shared_from_this<Native> {
  EventLoop* loop;
  SizeFuture fut;
  Socket sock;
  std::shared_ptr<FileObject> file;
  bool fallback;
  int fileno = -1;
  std::int64_t start_offset;   // the caller's offset, for the fallback
  std::int64_t offset;
  std::optional<std::int64_t> count;
  std::size_t blocksize = 0;
  std::size_t total_sent = 0;

  Native(EventLoop& l, SizeFuture f, const Socket& s, std::shared_ptr<FileObject> fl, bool fb, std::int64_t off,
         std::optional<std::int64_t> cnt)
      : loop(&l), fut(std::move(f)), sock(s), file(std::move(fl)), fallback(fb), start_offset(off), offset(off),
        count(cnt) {}

  // _sock_sendfile_native up to the first sendfile call. False: not available.
  void start() {
    try {
      fileno = file->fileno();
    } catch (const UnsupportedOperation&) {
      return not_available("not a regular file", false);
    } catch (const AttributeError&) {
      return not_available("not a regular file", false);
    }
    struct stat st {};
    if (syscalls().fstat(fileno, &st) < 0) return not_available("not a regular file", false);
    blocksize = count ? static_cast<std::size_t>(*count) : static_cast<std::size_t>(st.st_size);
    if (blocksize == 0) {
      fut.set_result(0);  // an empty file
      return;
    }
    step(false);
  }

  // SendfileNotAvailableError: the fallback's turn, or the caller's error. From a writer
  // callback the fallback starts a pass later, where the awaiting task would resume.
  void not_available(const char* message, bool from_callback) {
    if (!fallback) {
      fut.set_exception(SendfileNotAvailableError(message));
      return;
    }
    if (!from_callback) return start_fallback(*loop, fut, sock, file, start_offset, count);
    auto self = shared_from_this();
    loop->call_soon(
        [self] {
          if (!self->fut.done()) start_fallback(*self->loop, self->fut, self->sock, self->file, self->start_offset, self->count);
        },
        "_sock_sendfile_fallback");
  }

  // _sock_sendfile_update_filepos
  void update_filepos() const {
    if (total_sent > 0 && ::lseek(fileno, static_cast<off_t>(offset), SEEK_SET) < 0) OSError::raise_errno(errno);
  }

  // _sock_add_cancellation_callback
  void add_cancellation_callback() {
    EventLoop* l = loop;
    int fd = sock.fd;
    fut.add_done_callback(
        [l, fd](const SizeFuture& f) {
          if (f.cancelled()) l->remove_writer(fd);
        },
        "_sock_sendfile_cancelled");
  }

  void wait_writable(bool registered) {
    if (!registered) add_cancellation_callback();
    auto self = shared_from_this();
    loop->add_writer(sock.fd, [self] { self->step(true); }, "_sock_sendfile_native_impl");
  }

  // _sock_sendfile_native_impl: one sendfile call; `registered` when run as the writer.
  void step(bool registered) {
    if (registered) loop->remove_writer(sock.fd);
    if (fut.cancelled()) return update_filepos();
    if (count) {
      auto left = *count - static_cast<std::int64_t>(total_sent);
      if (left <= 0) {
        update_filepos();
        fut.set_result(total_sent);
        return;
      }
      blocksize = static_cast<std::size_t>(left);
    }
    off_t pos = static_cast<off_t>(offset);
    ssize_t sent = syscalls().sendfile(sock.fd, fileno, &pos, blocksize);
    if (sent < 0) return failed(errno, registered);
    if (sent == 0) {  // EOF
      update_filepos();
      fut.set_result(total_sent);
      return;
    }
    offset += sent;
    total_sent += static_cast<std::size_t>(sent);
    wait_writable(registered);
  }

  void failed(int err, bool registered) {
    if (would_block(err)) return wait_writable(registered);
    update_filepos();
    if (total_sent == 0) return not_available("os.sendfile call failed", registered);
    // ENOTCONN after the first call: the peer went away mid-transfer.
    if (registered && err == ENOTCONN)
      fut.set_exception(SendfileNotConnectedError());
    else
      fut.set_exception(OSError::from_errno(err));
  }
};

}  // namespace

Future<std::size_t> EventLoop::sock_sendfile(const Socket& sock, std::shared_ptr<FileObject> file, std::int64_t offset,
                                             std::optional<std::int64_t> count, bool fallback) {
  auto fut = create_future<std::size_t>();
  try {
    check_nonblocking_in_debug(get_debug(), sock);
    check_ssl_socket(sock);
    check_sendfile_params(sock, *file, offset, count);
    std::make_shared<Native>(*this, fut, sock, std::move(file), fallback, offset, count)->start();
  } catch (...) {
    // What the coroutine raised before its first wait (a closed file's ValueError, ...).
    if (!fut.done()) fut.set_exception(std::current_exception());
  }
  return fut;
}

}  // namespace loopcheck
