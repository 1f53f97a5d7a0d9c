#include "loopcheck/unix_read_pipe_transport.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <typeinfo>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/warnings.hpp"
#include "pipe_labels.hpp"

namespace loopcheck {
namespace {

constexpr std::string_view kClassName = "_UnixReadPipeTransport";

using pipe_labels::class_name;
using pipe_labels::exception_arg_repr;
using pipe_labels::reprlib_other;

// os.set_blocking(fd, False).
void set_non_blocking(int fd) {
  int flags = syscalls().fcntl(fd, F_GETFL, 0);
  if (flags < 0 || syscalls().fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) OSError::raise_errno(errno);
}

// Runs `fn` when the scope ends, also by an exception (Python's `finally`).
template <class Fn>
struct Finally {
  Fn fn;
  ~Finally() { fn(); }
};
template <class Fn>
Finally(Fn) -> Finally<Fn>;

}  // namespace

std::shared_ptr<UnixReadPipeTransport> UnixReadPipeTransport::create(EventLoop& loop, int fd,
                                                                     std::shared_ptr<BaseProtocol> protocol,
                                                                     std::optional<Future<void>> waiter) {
  struct stat st {};
  if (syscalls().fstat(fd, &st) < 0) OSError::raise_errno(errno);
  if (!(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode)))
    throw ValueError("Pipe transport is for pipes/sockets only.");
  set_non_blocking(fd);
  // From here the transport owns the fd: if queuing fails (closed loop), its destructor
  // warns and closes it, as CPython's __del__ does for the half-made object.
  auto transport = std::make_shared<UnixReadPipeTransport>(Private{}, loop, fd, std::move(protocol));
  transport->start(std::move(waiter));
  return transport;
}

UnixReadPipeTransport::UnixReadPipeTransport(Private, EventLoop& loop, int fd, std::shared_ptr<BaseProtocol> protocol)
    : loop_(&loop), loop_token_(loop.lifetime_token()), fd_(fd), protocol_(std::move(protocol)) {}

UnixReadPipeTransport::~UnixReadPipeTransport() {
  if (!pipe_open_) return;
  warn("unclosed transport " + repr(), "ResourceWarning");
  syscalls().close(fd_);
}

// connection_made, then the reader (only once connection_made ran), then the waiter.
void UnixReadPipeTransport::start(std::optional<Future<void>> waiter) {
  auto self = shared_from_this();
  std::shared_ptr<BaseProtocol> protocol = protocol_;
  loop_->call_soon([self, protocol] { protocol->connection_made(*self); },
                   Label(class_name(typeid(*protocol)) + ".connection_made" +
                         (loop_->get_debug() ? "(" + reprlib_other(repr()) + ")" : "()")));
  loop_->call_soon([self] { self->add_reader_if_reading(); },
                   label("_add_reader", std::to_string(fd_) + ", " +
                                            reprlib_other("<bound method " + std::string(kClassName) +
                                                          "._read_ready of " + repr() + ">")));
  if (waiter) {
    loop_->call_soon(
        [waiter = *waiter]() mutable {
          if (!waiter.cancelled()) waiter.set_result();
        },
        "_set_result_unless_cancelled()");
  }
}

Label UnixReadPipeTransport::label(std::string_view method, std::string_view args) const {
  std::string text = std::string(kClassName) + "." + std::string(method);
  text += loop_alive() && loop_->get_debug() ? "(" + std::string(args) + ")" : "()";
  return Label(std::move(text));
}

void UnixReadPipeTransport::add_reader_if_reading() {
  if (!is_reading()) return;
  register_reader();
}

void UnixReadPipeTransport::register_reader() {
  auto self = shared_from_this();
  loop_->add_reader_internal(fd_, [self] { self->read_ready(); }, label("_read_ready", ""));
}

std::string UnixReadPipeTransport::repr() const {
  std::string info = "<" + std::string(kClassName);
  if (!pipe_open_)
    info += " closed";
  else if (closing_)
    info += " closing";
  info += " fd=" + std::to_string(fd_);
  bool has_selector = loop_alive() && !loop_->is_closed();
  if (pipe_open_ && has_selector)
    info += (loop_->selector().get_events(fd_) & EVENT_READ) ? " polling" : " idle";
  else
    info += pipe_open_ ? " open" : " closed";
  return info + ">";
}

std::any UnixReadPipeTransport::get_extra_info(std::string_view name) const {
  if (name == "pipe") return fd_;
  return {};
}

Protocol& UnixReadPipeTransport::stream_protocol(const char* method) const {
  auto* protocol = dynamic_cast<Protocol*>(protocol_.get());
  if (!protocol) {
    std::string owner = protocol_ ? "'" + class_name(typeid(*protocol_)) + "' object" : "'NoneType' object";
    throw AttributeError(owner + " has no attribute '" + method + "'");
  }
  return *protocol;
}

void UnixReadPipeTransport::read_ready() {
  if (buffer_.size() < max_size) buffer_.resize(max_size);
  ssize_t n = syscalls().read(fd_, buffer_.data(), max_size);
  if (n < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return;  // a spurious wake-up
    fatal_error(err, OSError::from_errno(err), "Fatal read error on pipe transport");
    return;
  }
  if (n > 0) {
    stream_protocol("data_received").data_received(std::span<const std::byte>(buffer_.data(), std::size_t(n)));
    return;
  }
  // EOF: eof_received and connection_lost run back to back in the next pass.
  if (loop_->get_debug()) log(LogLevel::INFO, repr() + " was closed by peer");
  closing_ = true;
  loop_->remove_reader_internal(fd_);
  stream_protocol("eof_received");  // CPython looks the method up here
  auto protocol = std::dynamic_pointer_cast<Protocol>(protocol_);
  loop_->call_soon([protocol] { protocol->eof_received(); },
                   Label(class_name(typeid(*protocol)) + ".eof_received()"));
  auto self = shared_from_this();
  loop_->call_soon([self] { self->call_connection_lost(nullptr); }, label("_call_connection_lost", "None"));
}

void UnixReadPipeTransport::pause_reading() {
  if (!is_reading()) return;
  paused_ = true;
  loop_->remove_reader_internal(fd_);
  if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + " pauses reading");
}

void UnixReadPipeTransport::resume_reading() {
  if (closing_ || !paused_) return;
  paused_ = false;
  register_reader();
  if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + " resumes reading");
}

void UnixReadPipeTransport::close() {
  if (!closing_) close_with(nullptr);
}

// EIO (a pty whose other side closed) is an ordinary end: only a DEBUG record in debug mode.
void UnixReadPipeTransport::fatal_error(int err, std::exception_ptr exc, const char* message) {
  if (err == EIO) {
    if (loop_->get_debug()) log(LogLevel::DEBUG, repr() + ": " + message, format_exception_only(exc));
  } else {
    ExceptionContext context;
    context.message = message;
    context.exception = exc;
    context.set("transport", repr());
    context.set("protocol", protocol_ ? protocol_->repr() : "None");
    loop_->call_exception_handler(context);
  }
  close_with(exc);
}

void UnixReadPipeTransport::close_with(std::exception_ptr exc) {
  closing_ = true;
  if (!loop_alive()) throw RuntimeError("Event loop is closed");
  loop_->remove_reader_internal(fd_);
  auto self = shared_from_this();
  loop_->call_soon([self, exc] { self->call_connection_lost(exc); },
                   label("_call_connection_lost", exception_arg_repr(exc)));
}

// The fd is closed and the protocol and loop forgotten even when connection_lost raises.
void UnixReadPipeTransport::call_connection_lost(std::exception_ptr exc) {
  if (!protocol_) throw AttributeError("'NoneType' object has no attribute 'connection_lost'");
  Finally cleanup{[this] {
    if (pipe_open_) syscalls().close(fd_);
    pipe_open_ = false;
    protocol_ = nullptr;
    loop_ = nullptr;
  }};
  protocol_->connection_lost(exc);
}

namespace detail {

void connect_read_pipe_impl(EventLoop& loop, std::shared_ptr<BaseProtocol> protocol, int fd,
                            std::function<void(std::shared_ptr<UnixReadPipeTransport>)> done,
                            std::function<void(std::exception_ptr)> failed) {
  Future<void> waiter = loop.create_future<void>();
  auto transport = UnixReadPipeTransport::create(loop, fd, protocol, waiter);
  EventLoop* lp = &loop;
  waiter.add_done_callback(
      [lp, fd, transport, protocol, done = std::move(done), failed = std::move(failed)](const Future<void>& w) {
        try {
          w.result();
        } catch (...) {
          transport->close();
          failed(std::current_exception());
          return;
        }
        if (lp->get_debug())
          log(LogLevel::DEBUG, "Read pipe " + std::to_string(fd) + " connected: (" + transport->repr() + ", " +
                                   protocol->repr() + ")");
        done(transport);
      },
      "BaseEventLoop.connect_read_pipe()");
}

}  // namespace detail
}  // namespace loopcheck
