// _UnixWritePipeTransport and loop.connect_write_pipe.
#include "loopcheck/unix_write_pipe_transport.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/warnings.hpp"
#include "pipe_labels.hpp"

namespace loopcheck {
namespace {

using pipe_labels::class_name;
using pipe_labels::exception_arg_repr;
using pipe_labels::reprlib_other;

// Written bytes are dropped from the front of the buffer once they are this many and
// at least half of it.
constexpr std::size_t kCompactThreshold = 64 * 1024;

void set_nonblocking(int fd) {
  int flags = syscalls().fcntl(fd, F_GETFL, 0);
  if (flags < 0) OSError::raise_errno(errno);
  if (syscalls().fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) OSError::raise_errno(errno);
}

}  // namespace

UnixWritePipeTransport::Kind UnixWritePipeTransport::check_pipe_kind(int fd) {
  struct stat st {};
  if (syscalls().fstat(fd, &st) < 0) OSError::raise_errno(errno);
  bool is_fifo = S_ISFIFO(st.st_mode), is_socket = S_ISSOCK(st.st_mode);
  if (!(S_ISCHR(st.st_mode) || is_fifo || is_socket))
    throw ValueError("Pipe transport is only for pipes, sockets and character devices");
  return Kind{is_fifo || is_socket};
}

UnixWritePipeTransport::UnixWritePipeTransport(EventLoop& loop, int fd, std::shared_ptr<BaseProtocol> protocol)
    : FlowControlMixin(&loop), fileno_(fd), protocol_(std::move(protocol)), loop_alive_(loop.lifetime_token()) {}

std::shared_ptr<UnixWritePipeTransport> UnixWritePipeTransport::create(EventLoop& loop, int fd,
                                                                       std::shared_ptr<BaseProtocol> protocol,
                                                                       std::optional<Future<void>> waiter) {
  Kind kind = check_pipe_kind(fd);
  set_nonblocking(fd);
  std::shared_ptr<UnixWritePipeTransport> t(new UnixWritePipeTransport(loop, fd, std::move(protocol)));
  t->start(kind.fifo_or_socket, std::move(waiter));
  return t;
}

// connection_made, then the read-end watch (only once connection_made has run), then the
// waiter, each in its own handle, as CPython queues them.
void UnixWritePipeTransport::start(bool watch_read_end, std::optional<Future<void>> waiter) {
  EventLoop& loop = *loop_;
  auto self = shared_from_this();
  loop.call_soon([self, protocol = protocol_] { protocol->connection_made(*self); },
                 label(class_name(typeid(*protocol_)) + ".connection_made", reprlib_other(repr())));
  if (watch_read_end) {
    loop.call_soon(
        [self, &loop] {
          loop.add_reader_internal(self->fileno_, [self] { self->read_ready(); }, "_UnixWritePipeTransport._read_ready()");
        },
        label("BaseSelectorEventLoop._add_reader",
              std::to_string(fileno_) + ", " +
                  reprlib_other("<bound method _UnixWritePipeTransport._read_ready of " + repr() + ">")));
  }
  if (waiter) {
    loop.call_soon(
        [w = *waiter]() mutable {
          if (!w.cancelled()) w.set_result();
        },
        "_set_result_unless_cancelled()");
  }
}

UnixWritePipeTransport::~UnixWritePipeTransport() {
  if (!pipe_open_) return;
  warn("unclosed transport " + repr(), "ResourceWarning");
  syscalls().close(fileno_);
}

std::any UnixWritePipeTransport::get_extra_info(std::string_view name) const {
  if (name == "pipe") return fileno_;
  return {};
}

bool UnixWritePipeTransport::loop_usable() const noexcept {
  return loop_ && !loop_alive_.expired() && !loop_->is_closed();
}

std::string UnixWritePipeTransport::repr() const {
  std::string out = "<_UnixWritePipeTransport";
  if (!pipe_open_)
    out += " closed";
  else if (closing_)
    out += " closing";
  out += " fd=" + std::to_string(fileno_);
  if (pipe_open_ && loop_usable()) {
    out += (loop_->selector().get_events(fileno_) & EVENT_WRITE) ? " polling" : " idle";
    out += " bufsize=" + std::to_string(get_write_buffer_size());
  } else {
    out += pipe_open_ ? " open" : " closed";
  }
  return out + ">";
}

// ---- writing -------------------------------------------------------------------------------

// os.write: EINTR is retried (PEP 475); EAGAIN means nothing was taken.
std::size_t UnixWritePipeTransport::write_some(const std::byte* data, std::size_t size) {
  for (;;) {
    ssize_t n = syscalls().write(fileno_, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    OSError::raise_errno(errno);
  }
}

void UnixWritePipeTransport::write(std::span<const std::byte> data) {
  if (data.empty()) return;
  if (conn_lost_ || closing_) {
    if (conn_lost_ >= kLogThresholdForConnlostWrites)
      log(LogLevel::WARNING, "pipe closed by peer or os.write(pipe, data) raised exception.");
    ++conn_lost_;
    return;
  }
  if (get_write_buffer_size() == 0) {
    std::size_t n = 0;
    try {
      n = write_some(data.data(), data.size());
    } catch (...) {
      auto exc = std::current_exception();
      if (is_system_exit_or_keyboard_interrupt(exc)) throw;
      ++conn_lost_;
      fatal_error(exc, "Fatal write error on pipe transport");
      return;
    }
    if (n == data.size()) return;
    data = data.subspan(n);
    auto self = shared_from_this();
    loop_->add_writer_internal(fileno_, [self] { self->write_ready(); }, "_UnixWritePipeTransport._write_ready()");
  }
  if (head_ == buffer_.size()) buffer_.clear(), head_ = 0;
  buffer_.insert(buffer_.end(), data.begin(), data.end());
  maybe_pause_protocol();
}

void UnixWritePipeTransport::consume(std::size_t n) {
  head_ += n;
  if (head_ == buffer_.size()) {
    buffer_.clear();
    head_ = 0;
  } else if (head_ >= kCompactThreshold && head_ * 2 >= buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void UnixWritePipeTransport::write_ready() {
  if (get_write_buffer_size() == 0) throw Exception("AssertionError", "Data should not be empty");
  std::size_t n = 0;
  try {
    n = write_some(buffer_.data() + head_, get_write_buffer_size());
  } catch (...) {
    auto exc = std::current_exception();
    if (is_system_exit_or_keyboard_interrupt(exc)) throw;
    buffer_.clear();
    head_ = 0;
    ++conn_lost_;
    // fatal_error() does not remove the writer: the buffer is already empty.
    loop_->remove_writer_internal(fileno_);
    fatal_error(exc, "Fatal write error on pipe transport");
    return;
  }
  if (n == get_write_buffer_size()) {
    buffer_.clear();
    head_ = 0;
    loop_->remove_writer_internal(fileno_);
    maybe_resume_protocol();  // may append to the buffer
    if (closing_) {
      loop_or_raise("_remove_reader").remove_reader_internal(fileno_);
      call_connection_lost(nullptr);
    }
    return;
  }
  if (n > 0) consume(n);
}

// ---- closing -------------------------------------------------------------------------------

void UnixWritePipeTransport::write_eof() {
  if (closing_) return;
  if (!pipe_open_) throw Exception("AssertionError", "");
  closing_ = true;
  if (get_write_buffer_size() == 0) {
    loop_->remove_reader_internal(fileno_);
    schedule_connection_lost(nullptr);
  }
}

void UnixWritePipeTransport::close() {
  if (pipe_open_ && !closing_) write_eof();
}

void UnixWritePipeTransport::abort() { close_with(nullptr); }

void UnixWritePipeTransport::read_ready() {
  // The read end was closed by the peer.
  if (loop_->get_debug()) log(LogLevel::INFO, repr() + " was closed by peer");
  if (get_write_buffer_size() != 0)
    close_with(std::make_exception_ptr(BrokenPipeError(OSError::NoArgs{})));
  else
    close_with(nullptr);
}

void UnixWritePipeTransport::fatal_error(std::exception_ptr exc, const char* message) {
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
  close_with(exc);
}

// CPython's _close(exc).
void UnixWritePipeTransport::close_with(std::exception_ptr exc) {
  closing_ = true;
  if (get_write_buffer_size() != 0) loop_or_raise("_remove_writer").remove_writer_internal(fileno_);
  buffer_.clear();
  head_ = 0;
  loop_or_raise("_remove_reader").remove_reader_internal(fileno_);
  schedule_connection_lost(std::move(exc));
}

void UnixWritePipeTransport::schedule_connection_lost(std::exception_ptr exc) {
  auto self = shared_from_this();
  EventLoop& loop = loop_or_raise("call_soon");
  loop.call_soon([self, exc] { self->call_connection_lost(exc); },
                 label("_UnixWritePipeTransport._call_connection_lost", exception_arg_repr(exc)));
}

// `callable(args)` as a handle prints it: CPython 3.13 shows the arguments only in debug mode.
Label UnixWritePipeTransport::label(const std::string& callable, const std::string& args) const {
  bool debug = loop_ && !loop_alive_.expired() && loop_->get_debug();
  return Label(callable + (debug ? "(" + args + ")" : "()"));
}

// connection_lost(exc), then -- even if it raised -- close the fd and forget the pipe, the
// protocol and the loop. A second call finds them gone and fails like CPython's.
void UnixWritePipeTransport::call_connection_lost(std::exception_ptr exc) {
  std::exception_ptr error;
  try {
    if (!protocol_) throw AttributeError("'NoneType' object has no attribute 'connection_lost'");
    protocol_->connection_lost(exc);
  } catch (...) {
    error = std::current_exception();
  }
  if (!pipe_open_) throw AttributeError("'NoneType' object has no attribute 'close'");
  syscalls().close(fileno_);
  pipe_open_ = false;
  protocol_.reset();
  loop_ = nullptr;
  if (error) std::rethrow_exception(error);
}

EventLoop& UnixWritePipeTransport::loop_or_raise(const char* attribute) const {
  if (!loop_) throw AttributeError(std::string("'NoneType' object has no attribute '") + attribute + "'");
  return *loop_;
}

// ---- loop.connect_write_pipe ---------------------------------------------------------------

namespace detail {

void connect_write_pipe_impl(EventLoop& loop, std::shared_ptr<BaseProtocol> protocol, int fd,
                             std::function<void(std::shared_ptr<UnixWritePipeTransport>)> done,
                             std::function<void(std::exception_ptr)> failed) {
  Future<void> waiter = loop.create_future<void>();
  auto transport = UnixWritePipeTransport::create(loop, fd, protocol, waiter);
  // The coroutine resumes after the waiter: a cancelled waiter closes the transport.
  waiter.add_done_callback(
      [&loop, transport, protocol, fd, done = std::move(done), failed = std::move(failed)](const Future<void>& w) {
        if (w.cancelled()) {
          transport->close();
          failed(std::make_exception_ptr(CancelledError()));
          return;
        }
        if (loop.get_debug())
          log(LogLevel::DEBUG, "Write pipe " + std::to_string(fd) + " connected: (" + transport->repr() + ", " +
                                   protocol_repr(protocol.get()) + ")");
        done(transport);
      },
      "BaseEventLoop.connect_write_pipe()");
}

}  // namespace detail

}  // namespace loopcheck
