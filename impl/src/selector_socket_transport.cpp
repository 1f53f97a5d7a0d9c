// SelectorSocketTransport: reading, writing with a buffer, closing and connection_lost.
#include "loopcheck/selector_socket_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/selector.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/unix_server.hpp"
#include "loopcheck/warnings.hpp"
#include "unix_socket.hpp"

namespace loopcheck {
namespace {

// constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
constexpr std::size_t kConnLostWriteLogThreshold = 5;

bool is_retry(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// One recv() buffer per thread: data_received only borrows it for the call.
std::vector<std::byte>& recv_buffer() {
  thread_local std::vector<std::byte> buffer(SelectorSocketTransport::kMaxSize);
  return buffer;
}

bool is_passthrough(const std::exception_ptr& e) { return is_system_exit_or_keyboard_interrupt(e); }

// ConnectionError('Connection is closed by peer'): an OSError built from a message only.
class MessageConnectionError : public Exception {
 public:
  explicit MessageConnectionError(std::string message) : Exception("ConnectionError", std::move(message)) {}

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "ConnectionError" || python_type == "OSError" || Exception::class_is_a(python_type);
  }
};

}  // namespace

std::shared_ptr<SelectorSocketTransport> SelectorSocketTransport::create(EventLoop& loop, int sock,
                                                                         std::shared_ptr<BaseProtocol> protocol,
                                                                         std::optional<Future<void>> waiter,
                                                                         std::optional<std::string> peername,
                                                                         std::shared_ptr<Server> server) {
  std::shared_ptr<SelectorSocketTransport> t(
      new SelectorSocketTransport(loop, sock, std::move(protocol), std::move(peername), std::move(server)));
  t->start(std::move(waiter));
  return t;
}

SelectorSocketTransport::SelectorSocketTransport(EventLoop& loop, int sock, std::shared_ptr<BaseProtocol> protocol,
                                                 std::optional<std::string> peername, std::shared_ptr<Server> server)
    : FlowControlMixin(&loop), sock_fd_(sock), loop_alive_(loop.lifetime_token()), server_(std::move(server)), peername_(std::move(peername)) {
  sockname_ = detail::unix_sockname(sock);
  if (!peername_) peername_ = detail::unix_peername(sock);
  set_protocol(std::move(protocol));
  if (server_) server_->attach(this);
  loop.set_fd_transport(sock_fd_, this);
}

// connection_made, then the reader, then the waiter: each one pass apart from nothing, in
// this order, as CPython queues them.
void SelectorSocketTransport::start(std::optional<Future<void>> waiter) {
  auto self = shared_from_this();
  loop_->call_soon([self] { self->protocol_->connection_made(*self); }, Label("connection_made"));
  loop_->call_soon([self] { self->add_reader(); }, Label("_add_reader"));
  if (waiter) {
    loop_->call_soon(
        [w = std::move(*waiter)]() mutable {
          if (!w.cancelled()) w.set_result();
        },
        Label("_set_result_unless_cancelled"));
  }
}

SelectorSocketTransport::~SelectorSocketTransport() {
  if (!sock_open_) return;
  if (loop_alive_.expired()) loop_ = nullptr;
  if (server_) server_->forget_client(this);
  warn("unclosed transport " + repr(), "ResourceWarning");
  if (loop_) loop_->clear_fd_transport(sock_fd_);
  syscalls().close(sock_fd_);
}

std::any SelectorSocketTransport::get_extra_info(std::string_view name) const {
  if (name == "socket") return sock_fd_;
  if (name == "sockname" && sockname_) return *sockname_;
  if (name == "peername" && peername_) return *peername_;
  return {};
}

void SelectorSocketTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  stream_protocol_ = dynamic_cast<Protocol*>(protocol.get());
  protocol_ = std::move(protocol);
  protocol_connected_ = true;
}

std::string SelectorSocketTransport::repr() const {
  std::string out = "<_SelectorSocketTransport";
  if (!sock_open_)
    out += " closed";
  else if (closing_)
    out += " closing";
  out += " fd=" + std::to_string(sock_fd_);
  if (loop_ && !loop_->is_closed()) {
    uint32_t events = loop_->selector().get_events(sock_fd_);
    out += (events & EVENT_READ) ? " read=polling" : " read=idle";
    out += std::string(" write=<") + ((events & EVENT_WRITE) ? "polling" : "idle") +
           ", bufsize=" + std::to_string(get_write_buffer_size()) + ">";
  }
  return out + ">";
}

// ---- reading ---------------------------------------------------------------------------

void SelectorSocketTransport::add_reader() {
  if (!is_reading()) return;
  auto self = shared_from_this();
  loop_->add_reader_internal(sock_fd_, [self] { self->read_ready(); }, Label("_read_ready"));
}

void SelectorSocketTransport::pause_reading() {
  if (!is_reading()) return;
  auto self = shared_from_this();  // the reader may hold the last reference
  paused_ = true;
  loop_->remove_reader_internal(sock_fd_);
  if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + " pauses reading");
}

void SelectorSocketTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  add_reader();
  if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + " resumes reading");
}

void SelectorSocketTransport::read_ready() {
  if (conn_lost_) return;
  auto& buffer = recv_buffer();
  ssize_t n = syscalls().recv(sock_fd_, buffer.data(), buffer.size(), 0);
  if (n < 0) {
    int err = errno;
    if (is_retry(err)) return;
    fatal_error(OSError::from_errno(err), "Fatal read error on socket transport");
    return;
  }
  if (n == 0) {
    on_eof();
    return;
  }
  try {
    if (!stream_protocol_) throw AttributeError("'" + protocol_repr(protocol_.get()) + "' object has no attribute 'data_received'");
    stream_protocol_->data_received(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
  } catch (...) {
    auto e = std::current_exception();
    if (is_passthrough(e)) throw;
    fatal_error(e, "Fatal error: protocol.data_received() call failed.");
  }
}

void SelectorSocketTransport::on_eof() {
  auto self = shared_from_this();  // the reader may hold the last reference
  if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + " received EOF");
  bool keep_open = false;
  try {
    keep_open = stream_protocol_ ? stream_protocol_->eof_received() : false;
  } catch (...) {
    auto e = std::current_exception();
    if (is_passthrough(e)) throw;
    fatal_error(e, "Fatal error: protocol.eof_received() call failed.");
    return;
  }
  if (keep_open)
    loop_->remove_reader_internal(sock_fd_);  // the protocol may still write
  else
    close();
}

// ---- writing ---------------------------------------------------------------------------

void SelectorSocketTransport::write(std::span<const std::byte> data) {
  if (eof_) throw RuntimeError("Cannot call write() after write_eof()");
  if (empty_waiter_) throw RuntimeError("unable to write; sendfile is in progress");
  if (data.empty()) return;
  if (conn_lost_) {
    if (conn_lost_ >= kConnLostWriteLogThreshold) log(LogLevel::WARNING, "socket.send() raised exception.");
    ++conn_lost_;
    return;
  }
  if (get_write_buffer_size() == 0) {
    // Try to send at once; only the rest is buffered.
    ssize_t n = syscalls().send(sock_fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      int err = errno;
      if (!is_retry(err)) {
        fatal_error(OSError::from_errno(err), "Fatal write error on socket transport");
        return;
      }
    } else {
      data = data.subspan(static_cast<std::size_t>(n));
      if (data.empty()) return;
    }
    auto self = shared_from_this();
    loop_->add_writer_internal(sock_fd_, [self] { self->write_ready(); }, Label("_write_ready"));
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
  maybe_pause_protocol();
}

void SelectorSocketTransport::drop_front(std::size_t n) {
  head_ += n;
  if (head_ == buffer_.size()) {
    buffer_.clear();
    head_ = 0;
  } else if (head_ > buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void SelectorSocketTransport::write_ready() {
  if (conn_lost_) return;
  auto self = shared_from_this();  // the writer may hold the last reference
  ssize_t n = syscalls().send(sock_fd_, buffer_.data() + head_, get_write_buffer_size(), MSG_NOSIGNAL);
  if (n < 0) {
    int err = errno;
    if (is_retry(err)) return;
    auto exc = OSError::from_errno(err);
    loop_->remove_writer_internal(sock_fd_);
    buffer_.clear();
    head_ = 0;
    fatal_error(exc, "Fatal write error on socket transport");
    if (empty_waiter_) empty_waiter_->set_exception(exc);
    return;
  }
  if (n > 0) drop_front(static_cast<std::size_t>(n));
  maybe_resume_protocol();  // may append to the buffer
  if (get_write_buffer_size() != 0) return;
  loop_->remove_writer_internal(sock_fd_);
  if (empty_waiter_) empty_waiter_->set_result();
  if (closing_)
    call_connection_lost(nullptr);
  else if (eof_)
    ::shutdown(sock_fd_, SHUT_WR);
}

void SelectorSocketTransport::write_eof() {
  if (closing_ || eof_) return;
  eof_ = true;
  if (get_write_buffer_size() == 0) ::shutdown(sock_fd_, SHUT_WR);
}

Future<void> SelectorSocketTransport::make_empty_waiter() {
  if (!loop_) throw AttributeError("'NoneType' object has no attribute 'create_future'");
  if (empty_waiter_) throw RuntimeError("Empty waiter is already set");
  empty_waiter_ = loop_->create_future<void>();
  if (get_write_buffer_size() == 0) empty_waiter_->set_result();
  return *empty_waiter_;
}

// ---- closing ---------------------------------------------------------------------------

void SelectorSocketTransport::close() {
  if (closing_) return;
  auto self = shared_from_this();  // the reader may hold the last reference
  closing_ = true;
  loop_->remove_reader_internal(sock_fd_);
  if (get_write_buffer_size() == 0) {
    ++conn_lost_;
    loop_->remove_writer_internal(sock_fd_);
    loop_->call_soon([self] { self->call_connection_lost(nullptr); }, Label("_call_connection_lost"));
  }
}

void SelectorSocketTransport::abort() { force_close(nullptr); }

// Called while handling `exc`: an OSError only closes (CPython logs it in debug mode), any
// other error goes to the exception handler first.
void SelectorSocketTransport::fatal_error(std::exception_ptr exc, const char* message) {
  if (exception_is_a(exc, "OSError")) {
    if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + ": " + message, format_exception_only(exc));
  } else {
    ExceptionContext context;
    context.message = message;
    context.exception = exc;
    context.set("transport", repr());
    context.set("protocol", protocol_repr(protocol_.get()));
    loop_->call_exception_handler(context);
  }
  force_close(exc);
}

void SelectorSocketTransport::force_close(std::exception_ptr exc) {
  if (conn_lost_) return;
  auto self = shared_from_this();  // the reader or writer may hold the last reference
  if (get_write_buffer_size() != 0) {
    buffer_.clear();
    head_ = 0;
    loop_->remove_writer_internal(sock_fd_);
  }
  if (!closing_) {
    closing_ = true;
    loop_->remove_reader_internal(sock_fd_);
  }
  ++conn_lost_;
  loop_->call_soon([self, exc] { self->call_connection_lost(exc); }, Label("_call_connection_lost"));
}

void SelectorSocketTransport::call_connection_lost(std::exception_ptr exc) {
  if (!sock_open_) throw AttributeError("'NoneType' object has no attribute 'close'");
  auto finish = [this] {
    loop_->clear_fd_transport(sock_fd_);
    syscalls().close(sock_fd_);
    sock_open_ = false;
    protocol_.reset();
    stream_protocol_ = nullptr;
    loop_ = nullptr;
    if (auto server = std::exchange(server_, nullptr)) server->detach(this);
  };
  try {
    if (protocol_connected_ && protocol_) protocol_->connection_lost(exc);
  } catch (...) {
    finish();
    throw;
  }
  finish();
  if (empty_waiter_) empty_waiter_->set_exception(MessageConnectionError("Connection is closed by peer"));
}

}  // namespace loopcheck
