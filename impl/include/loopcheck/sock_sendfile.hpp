// loop.sock_sendfile(sock, file, offset=0, count=None, *, fallback=True) (declared in
// event_loop.hpp, defined in src/sock_sendfile.cpp), as CPython's base_events and
// unix_events do it:
//
// 1. Checks, in this order: debug mode and a blocking socket -> ValueError('the socket must
//    be non-blocking'); a TLS socket -> TypeError('Socket cannot be of type SSLSocket'); a
//    file whose mode lacks 'b' -> ValueError('file should be opened in binary mode'); not
//    SOCK_STREAM -> ValueError('only SOCK_STREAM type sockets are supported'); count <= 0 ->
//    ValueError('count must be a positive integer (got N)'); offset < 0 ->
//    ValueError('offset must be a non-negative integer (got N)').
// 2. The native path: fileno() and fstat() of the file (failing: SendfileNotAvailableError
//    'not a regular file'); nothing to send (count None and size 0) returns 0. Then
//    sendfile(2) from `offset` in chunks of `count` (or the file size); EAGAIN/EINTR wait for
//    the socket to be writable (loop.add_writer); each chunk continues from a writer
//    callback. Its end (done, failed or cancelled) seeks the file to offset + bytes sent
//    when something was sent. A failing first call is SendfileNotAvailableError('os.sendfile
//    call failed'); a later one raises its own OSError (ENOTCONN after the first call is
//    CPython's ConnectionError('socket is not connected', ENOTCONN)). Cancelling the future
//    removes the writer.
// 3. SendfileNotAvailableError with fallback=True: the fallback seeks to `offset` (if not
//    0), reads 256 KiB blocks (at most `count` bytes in all) and sends each with
//    sock_sendall; finally it seeks to offset + bytes sent when something was sent.
//
// SIGPIPE: sendfile(2) has no MSG_NOSIGNAL, so sending to a peer that went away raises SIGPIPE
// unless the process ignores it, as CPython does at start-up (then the error is EPIPE).
#pragma once

#include <cstddef>

#include "loopcheck/errors.hpp"

namespace loopcheck {

// asyncio.exceptions.SendfileNotAvailableError (a RuntimeError).
class SendfileNotAvailableError : public RuntimeError {
 public:
  explicit SendfileNotAvailableError(std::string message)
      : RuntimeError("SendfileNotAvailableError", std::move(message)) {}

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "SendfileNotAvailableError" || RuntimeError::class_is_a(python_type);
  }
};

// CPython's ConnectionError('socket is not connected', errno.ENOTCONN) from a sendfile call
// after the first: the arguments are in the wrong order for OSError, so str() is
// '[Errno socket is not connected] 107' and errno is the text. It answers is_a() for
// ConnectionError and OSError; in C++ it is caught as Exception, not as OSError (whose errno
// is an int).
class SendfileNotConnectedError : public Exception {
 public:
  SendfileNotConnectedError();
  std::string repr() const override;

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "ConnectionError" || python_type == "OSError" || Exception::class_is_a(python_type);
  }
};

// constants.SENDFILE_FALLBACK_READBUFFER_SIZE: the fallback's read block.
inline constexpr std::size_t kSendfileFallbackReadBufferSize = 256 * 1024;

}  // namespace loopcheck
