// UnixWritePipeTransport (asyncio.unix_events._UnixWritePipeTransport): writes to a pipe,
// socket or character device without blocking, buffering what the fd does not take.
//
// - Construction (create()) accepts only FIFOs, sockets and character devices
//   (ValueError('Pipe transport is only for pipes, sockets and character devices')), sets
//   O_NONBLOCK, then queues connection_made, then -- for a FIFO or socket -- the reader that
//   notices the read end closing, then the waiter's result.
// - write(): nothing for empty data. Once closing or after a failed write each call is
//   dropped and counted; from the sixth (LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5) each one logs
//   WARNING 'pipe closed by peer or os.write(pipe, data) raised exception.'. With an empty
//   buffer the data is written at once; what the fd does not take (EAGAIN/EINTR: all of it)
//   is buffered and a writer is registered. With data buffered, writes only append, so
//   bytes leave in call order.
// - An OSError from the write (EPIPE, EIO, ...) closes the transport quietly (DEBUG log
//   '<repr>: Fatal write error on pipe transport' in debug mode); any other exception goes to
//   the exception handler first. connection_lost(exc) follows in the next pass.
// - The read end closing (the reader fires): INFO '<repr> was closed by peer' in debug mode,
//   then connection_lost(None), or connection_lost(BrokenPipeError()) if data was buffered.
// - write_eof()/close() close once the buffer is drained; abort() drops the buffer.
// - The fd is closed after connection_lost, even when connection_lost raises; then the
//   transport forgets its pipe, protocol and loop (a second scheduled connection_lost fails
//   with AttributeError("'NoneType' object has no attribute 'close'"), as in CPython).
// - Destroyed with its pipe still open: ResourceWarning 'unclosed transport <repr>' through
//   warn(), and the fd is closed (CPython's __del__).
//
// The loop keeps the transport alive while its callbacks are registered; the caller keeps
// the shared_ptr that connect_write_pipe hands back. Like CPython, the transport does not
// enter the loop's fd-transport table (add_reader on its fd is not refused).
#pragma once

#include <any>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/flow_control.hpp"
#include "loopcheck/future.hpp"

namespace loopcheck {

class EventLoop;

// constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
inline constexpr std::size_t kLogThresholdForConnlostWrites = 5;

class UnixWritePipeTransport final : public FlowControlMixin,
                                     public std::enable_shared_from_this<UnixWritePipeTransport> {
 public:
  // _UnixWritePipeTransport(loop, pipe, protocol, waiter). Takes ownership of `fd` unless it
  // throws (ValueError for another file kind, OSError from fstat/fcntl).
  static std::shared_ptr<UnixWritePipeTransport> create(EventLoop& loop, int fd,
                                                        std::shared_ptr<BaseProtocol> protocol,
                                                        std::optional<Future<void>> waiter = std::nullopt);
  ~UnixWritePipeTransport() override;

  // BaseTransport
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const override { return closing_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override { protocol_ = std::move(protocol); }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  // `<_UnixWritePipeTransport [closed|closing] fd=N idle|polling bufsize=N>`, `... open>` once
  // the loop is closed, `<_UnixWritePipeTransport closed fd=N closed>` after connection_lost.
  std::string repr() const override;

  // WriteTransport
  std::size_t get_write_buffer_size() const override { return buffer_.size() - head_; }
  void write(std::span<const std::byte> data) override;
  void write_eof() override;
  bool can_write_eof() const override { return true; }
  void abort() override;

  // Inspection: the fd (CPython's _fileno), whether the pipe is still open (_pipe is not
  // None), the dropped-write count (_conn_lost).
  int fileno() const noexcept { return fileno_; }
  bool pipe_open() const noexcept { return pipe_open_; }
  std::size_t conn_lost() const noexcept { return conn_lost_; }

 private:
  struct Kind {
    bool fifo_or_socket;
  };
  UnixWritePipeTransport(EventLoop& loop, int fd, std::shared_ptr<BaseProtocol> protocol);
  static Kind check_pipe_kind(int fd);
  void start(bool watch_read_end, std::optional<Future<void>> waiter);

  void read_ready();
  void write_ready();
  // Writes what it can; returns the count written (0 for EAGAIN/EINTR); throws the error.
  std::size_t write_some(const std::byte* data, std::size_t size);
  void fatal_error(std::exception_ptr exc, const char* message);
  void close_with(std::exception_ptr exc);
  void call_connection_lost(std::exception_ptr exc);
  void schedule_connection_lost(std::exception_ptr exc);
  void consume(std::size_t n);
  EventLoop& loop_or_raise(const char* attribute) const;
  Label label(const std::string& callable, const std::string& args) const;
  // The loop exists, is still there and is not closed (CPython: it has a selector).
  bool loop_usable() const noexcept;

  int fileno_;
  bool pipe_open_ = true;
  std::shared_ptr<BaseProtocol> protocol_;
  // The buffer is buffer_[head_:]; written bytes are dropped from the front lazily.
  std::vector<std::byte> buffer_;
  std::size_t head_ = 0;
  std::size_t conn_lost_ = 0;
  bool closing_ = false;  // close() or write_eof() was called, or the connection is lost
  std::weak_ptr<const void> loop_alive_;  // the loop may be destroyed before the transport
};

namespace detail {
// The non-template part of EventLoop::connect_write_pipe: creates the transport with a
// waiter and calls `done(transport)` or `failed(exc)` when CPython's coroutine would return.
void connect_write_pipe_impl(EventLoop& loop, std::shared_ptr<BaseProtocol> protocol, int fd,
                             std::function<void(std::shared_ptr<UnixWritePipeTransport>)> done,
                             std::function<void(std::exception_ptr)> failed);
}  // namespace detail

// loop.connect_write_pipe(protocol_factory, pipe) for an fd: the future completes with
// (transport, protocol) one pass after connection_made ran (CPython's coroutine resumes
// after its waiter), or fails with what the transport's creation raised. Debug mode logs
// DEBUG 'Write pipe N connected: (transport, protocol)' when it completes.
template <class Factory>
auto EventLoop::connect_write_pipe(Factory&& protocol_factory, int fd) {
  using ProtocolPtr = decltype(protocol_factory());
  using Result = std::pair<std::shared_ptr<UnixWritePipeTransport>, ProtocolPtr>;
  Future<Result> result = create_future<Result>();
  try {
    ProtocolPtr protocol = protocol_factory();
    detail::connect_write_pipe_impl(
        *this, protocol, fd,
        [result, protocol](std::shared_ptr<UnixWritePipeTransport> t) mutable {
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
