// UnixReadPipeTransport: CPython's unix_events._UnixReadPipeTransport, the transport that
// loop.connect_read_pipe() makes for the read end of a pipe, a socket or a character device.
//
// Observable behaviour, as in CPython:
// - Creation checks the fd: fstat failing raises its OSError (EBADF for a closed fd); not a
//   FIFO, socket or character device raises ValueError('Pipe transport is for pipes/sockets
//   only.') and the fd is left alone. Otherwise the fd becomes non-blocking and three
//   callbacks are queued: protocol.connection_made(transport), then the reader registration
//   (skipped when connection_made paused reading or the transport is closing), then the
//   waiter's result. A character device that epoll refuses (/dev/null: EPERM) fails in that
//   second callback, which the loop reports through its exception handler.
// - Each readable event reads up to max_size bytes: data -> protocol.data_received (an
//   exception from it goes to the loop's handler, the transport stays open); EAGAIN/EINTR ->
//   nothing; EOF -> closing at once, reader removed, and in the next pass
//   protocol.eof_received then connection_lost(None), whatever eof_received returned (debug
//   mode logs INFO '%r was closed by peer'); another OSError -> fatal error: EIO is only
//   logged at DEBUG in debug mode, anything else goes to call_exception_handler with
//   'Fatal read error on pipe transport', exception, transport, protocol; then as close(exc).
// - close(): once (when not yet closing): closing, reader removed, connection_lost(exc)
//   queued; connection_lost closes the fd even when it raises, then the transport forgets its
//   protocol and its loop. On a closed loop close() raises RuntimeError('Event loop is
//   closed') after marking the transport closing.
// - pause_reading/resume_reading are no-ops when redundant or closing; debug mode logs them at
//   DEBUG. is_reading() is `not paused and not closing`.
// - repr: `<_UnixReadPipeTransport [closed|closing] fd=N polling|idle|open|closed>`.
// - Destroyed with its pipe still open: ResourceWarning 'unclosed transport <repr>' through
//   warn(), and the fd is closed (CPython's __del__).
//
// The transport owns the fd. The loop keeps it alive while its callbacks are queued or its
// reader is registered; connect_read_pipe's caller keeps the shared_ptr it hands back. Like
// CPython, a pipe transport is not entered in loop._transports.
#pragma once

#include <any>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/protocols.hpp"
#include "loopcheck/transports.hpp"

namespace loopcheck {

class UnixReadPipeTransport final : public ReadTransport,
                                    public std::enable_shared_from_this<UnixReadPipeTransport> {
 public:
  // Bytes read per readable event (CPython's max_size).
  static constexpr std::size_t max_size = 256 * 1024;

  // _UnixReadPipeTransport(loop, pipe, protocol, waiter). Throws as described above; on
  // success the fd belongs to the transport.
  static std::shared_ptr<UnixReadPipeTransport> create(EventLoop& loop, int fd, std::shared_ptr<BaseProtocol> protocol,
                                                       std::optional<Future<void>> waiter = std::nullopt);
  ~UnixReadPipeTransport() override;
  UnixReadPipeTransport(const UnixReadPipeTransport&) = delete;
  UnixReadPipeTransport& operator=(const UnixReadPipeTransport&) = delete;

  // BaseTransport
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const override { return closing_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override { protocol_ = std::move(protocol); }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  // ReadTransport
  bool is_reading() const override { return !paused_ && !closing_; }
  void pause_reading() override;
  void resume_reading() override;

  // The fd, or -1 once connection_lost closed it (CPython's _pipe is None).
  int fileno() const noexcept { return pipe_open_ ? fd_ : -1; }

 private:
  struct Private {};

 public:
  UnixReadPipeTransport(Private, EventLoop& loop, int fd, std::shared_ptr<BaseProtocol> protocol);

 private:
  void start(std::optional<Future<void>> waiter);
  void add_reader_if_reading();
  void register_reader();
  void read_ready();
  void fatal_error(int err, std::exception_ptr exc, const char* message);
  void close_with(std::exception_ptr exc);
  void call_connection_lost(std::exception_ptr exc);
  Protocol& stream_protocol(const char* method) const;
  bool loop_alive() const noexcept { return loop_ != nullptr && !loop_token_.expired(); }
  // `Class.method(args)` as CPython labels a handle: with the arguments only in debug mode.
  Label label(std::string_view method, std::string_view args) const;

  EventLoop* loop_;  // null once connection_lost ran (CPython's _loop = None)
  std::weak_ptr<const void> loop_token_;
  int fd_;
  bool pipe_open_ = true;
  std::shared_ptr<BaseProtocol> protocol_;
  bool closing_ = false;
  bool paused_ = false;
  std::vector<std::byte> buffer_;  // read_ready's buffer, max_size bytes once used
};

namespace detail {
// The non-template part of EventLoop::connect_read_pipe: creates the transport with a waiter
// and calls `done(transport)` or `failed(exc)` when CPython's coroutine would return.
void connect_read_pipe_impl(EventLoop& loop, std::shared_ptr<BaseProtocol> protocol, int fd,
                            std::function<void(std::shared_ptr<UnixReadPipeTransport>)> done,
                            std::function<void(std::exception_ptr)> failed);
}  // namespace detail

// loop.connect_read_pipe(protocol_factory, pipe) for an fd: the future completes with
// (transport, protocol) one pass after connection_made ran (CPython's coroutine resumes
// after its waiter), or fails with what the transport's creation raised. Debug mode logs
// DEBUG 'Read pipe N connected: (transport, protocol)' when it completes.
template <class Factory>
auto EventLoop::connect_read_pipe(Factory&& protocol_factory, int fd) {
  using ProtocolPtr = decltype(protocol_factory());
  using Result = std::pair<std::shared_ptr<UnixReadPipeTransport>, ProtocolPtr>;
  Future<Result> result = create_future<Result>();
  try {
    ProtocolPtr protocol = protocol_factory();
    detail::connect_read_pipe_impl(
        *this, protocol, fd,
        [result, protocol](std::shared_ptr<UnixReadPipeTransport> t) mutable {
          if (!result.done()) result.set_result(Result(std::move(t), protocol));
        },
        [result](std::exception_ptr exc) mutable {
          if (!result.done()) result.set_exception(exc);
        });
  } catch (...) {
    result.set_exception(std::current_exception());
  }
  return result;
}

}  // namespace loopcheck
