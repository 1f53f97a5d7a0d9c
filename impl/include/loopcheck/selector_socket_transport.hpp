// SelectorSocketTransport (asyncio.selector_events._SelectorSocketTransport): a connected,
// non-blocking stream socket (here AF_UNIX) driven by the loop's selector.
//
// - create() takes ownership of the socket, enters the loop's fd-transport table (add_reader
//   and friends on its fd raise RuntimeError while it is open), attaches to the server that
//   accepted it, then queues connection_made, then the reader, then the waiter's result.
// - Reading: each ready pass recv()s up to 256 KiB and hands it to data_received. EOF calls
//   eof_received: true keeps the transport open (only the reader is removed), false closes
//   it. pause_reading()/resume_reading() remove/re-add the reader (no-ops when closing or
//   already in that state).
// - Writing: with an empty buffer, write() sends at once; the rest is buffered, a writer is
//   registered and the protocol is paused above the high-water mark (FlowControlMixin).
//   write_ready() sends from the buffer, resumes the protocol at the low-water mark, and once
//   the buffer is empty removes the writer and, when closing, calls connection_lost; after
//   write_eof() it shuts the write side down. RuntimeError('Cannot call write() after
//   write_eof()') and ('unable to write; sendfile is in progress') as in CPython.
// - After the connection is lost, each write() is dropped and counted; from the sixth one
//   each logs WARNING 'socket.send() raised exception.'.
// - close(): removes the reader; connection_lost(None) in the next pass when the buffer is
//   empty, else once it is drained. abort() drops the buffer and does the same at once.
// - Errors: an OSError from recv/send closes the transport (DEBUG log in debug mode); any
//   other exception, including one from a protocol method, goes to the exception handler
//   ('Fatal error: protocol.data_received() call failed.' ...) first. connection_lost(exc)
//   follows in the next pass. SystemExit/KeyboardInterrupt propagate.
// - connection_lost: the socket is closed even when the protocol raises; then the transport
//   forgets its protocol, loop and server (the server is told the client is gone).
// - Destroyed with its socket still open: ResourceWarning 'unclosed transport <repr>', and
//   the socket is closed (CPython's __del__).
//
// sendfile support (CPython's loop.sendfile on a socket transport): make_empty_waiter()
// gives a future that completes when the write buffer is empty (or fails with
// ConnectionError('Connection is closed by peer') when the connection is lost); while it is
// set, write() refuses. The socket fd stays reachable through fileno().
#pragma once

#include <any>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/flow_control.hpp"
#include "loopcheck/future.hpp"

namespace loopcheck {

class Server;

class SelectorSocketTransport final : public ReadTransport,
                                      public FlowControlMixin,
                                      public FdTransport,
                                      public std::enable_shared_from_this<SelectorSocketTransport> {
 public:
  // Buffer size passed to recv() (CPython's max_size).
  static constexpr std::size_t kMaxSize = 256 * 1024;

  // _SelectorSocketTransport(loop, sock, protocol, waiter, extra, server). `sock` must be a
  // connected non-blocking stream socket; the transport owns it from here on. `peername`
  // replaces getpeername() (the accept() address).
  static std::shared_ptr<SelectorSocketTransport> create(EventLoop& loop, int sock,
                                                         std::shared_ptr<BaseProtocol> protocol,
                                                         std::optional<Future<void>> waiter = std::nullopt,
                                                         std::optional<std::string> peername = std::nullopt,
                                                         std::shared_ptr<Server> server = nullptr);
  ~SelectorSocketTransport() override;

  // BaseTransport. Extra info: "socket" (int fd), "sockname" and "peername" (std::string raw
  // AF_UNIX addresses; empty std::any where CPython has None).
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const override { return closing_; }
  // loop.sendfile tries sendfile(2) on the socket first.
  SendfileMode sendfile_compatible() const override { return SendfileMode::TryNative; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  // `<_SelectorSocketTransport [closed|closing] fd=N read=polling|idle write=<idle|polling,
  // bufsize=N>>`; the read/write part only while the loop is open.
  std::string repr() const override;

  // ReadTransport
  bool is_reading() const override { return !closing_ && !paused_; }
  void pause_reading() override;
  void resume_reading() override;

  // WriteTransport
  std::size_t get_write_buffer_size() const override { return buffer_.size() - head_; }
  void write(std::span<const std::byte> data) override;
  void write_eof() override;
  bool can_write_eof() const override { return true; }
  void abort() override;

  // The socket fd (CPython's _sock_fd), and whether the socket is still open (_sock).
  int fileno() const noexcept { return sock_fd_; }
  bool socket_open() const noexcept { return sock_open_; }
  // _conn_lost: scheduled connection_lost plus dropped writes.
  std::size_t conn_lost() const noexcept { return conn_lost_; }
  bool eof_written() const noexcept { return eof_; }

  // sendfile support (_make_empty_waiter / _reset_empty_waiter). RuntimeError('Empty waiter
  // is already set') if one is set.
  Future<void> make_empty_waiter();
  void reset_empty_waiter() { empty_waiter_.reset(); }

 private:
  SelectorSocketTransport(EventLoop& loop, int sock, std::shared_ptr<BaseProtocol> protocol,
                          std::optional<std::string> peername, std::shared_ptr<Server> server);
  void start(std::optional<Future<void>> waiter);

  void read_ready();
  void on_eof();
  void write_ready();
  void add_reader();
  void fatal_error(std::exception_ptr exc, const char* message);
  void force_close(std::exception_ptr exc);
  void call_connection_lost(std::exception_ptr exc);
  void drop_front(std::size_t n);

  int sock_fd_;
  bool sock_open_ = true;
  std::weak_ptr<const void> loop_alive_;  // the destructor may run after the loop is gone
  std::shared_ptr<BaseProtocol> protocol_;
  Protocol* stream_protocol_ = nullptr;  // protocol_ as a Protocol, if it is one
  bool protocol_connected_ = false;
  std::shared_ptr<Server> server_;
  std::optional<std::string> sockname_;
  std::optional<std::string> peername_;
  // The write buffer is buffer_[head_:]; sent bytes leave the front lazily.
  std::vector<std::byte> buffer_;
  std::size_t head_ = 0;
  std::size_t conn_lost_ = 0;
  bool closing_ = false;
  bool paused_ = false;
  bool eof_ = false;
  std::optional<Future<void>> empty_waiter_;
};

}  // namespace loopcheck
