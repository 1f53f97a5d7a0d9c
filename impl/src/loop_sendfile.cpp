// loop.sendfile on a transport: base_events' sendfile and _sendfile_fallback,
// selector_events' _sendfile_native for the socket transport.
#include <algorithm>
#include <memory>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/loop_sendfile.hpp"
#include "loopcheck/selector_socket_transport.hpp"
#include "loopcheck/sock_methods.hpp"
#include "loopcheck/sock_sendfile.hpp"
#include "sendfile_outcome.hpp"

namespace loopcheck {
namespace {

using SizeFuture = Future<std::size_t>;

// Copies a finished future's outcome (result, exception or cancellation) into `to`.
void settle(SizeFuture& to, const SizeFuture& from) {
  if (to.done()) return;
  if (from.cancelled())
    to.cancel();
  else if (auto e = from.exception())
    to.set_exception(e);
  else
    to.set_result(from.result());
}

// ---- the fallback: read blocks, drain, write them to the transport ------------------------

struct Fallback : std::enable_shared_from_this<Fallback> {
  EventLoop* loop;
  SizeFuture fut;
  std::shared_ptr<BaseTransport> transport;
  std::shared_ptr<FileObject> file;
  std::int64_t offset;
  std::optional<std::int64_t> count;
  std::size_t blocksize = kSendfileFallbackBlockSize;
  std::size_t total_sent = 0;
  std::vector<char> buf;
  std::shared_ptr<SendfileFallbackProtocol> proto;
  std::optional<Future<void>> draining;  // the write-ready future waited for
  bool finished = false;

  Fallback(EventLoop& l, SizeFuture f, std::shared_ptr<BaseTransport> t, std::shared_ptr<FileObject> fl,
           std::int64_t off, std::optional<std::int64_t> cnt)
      : loop(&l), fut(std::move(f)), transport(std::move(t)), file(std::move(fl)), offset(off), count(cnt) {}

  // Up to the try: a failing seek or protocol swap ends it with nothing to undo.
  void start() {
    if (offset) file->seek(offset);
    if (count) blocksize = std::min<std::size_t>(static_cast<std::size_t>(*count), blocksize);
    buf.resize(blocksize);
    proto = SendfileFallbackProtocol::install(*loop, transport);
    auto self = shared_from_this();
    fut.add_done_callback([self](const SizeFuture& f) { self->cancelled(f); }, "_sendfile_fallback");
    schedule_read();
  }

  // Task.cancel: the awaited future is cancelled, and the `finally` runs.
  void cancelled(const SizeFuture& f) {
    if (!f.cancelled() || finished) return;
    if (draining) draining->cancel();
    finish(nullptr);
  }

  // run_in_executor(None, file.readinto, view) completes a pass later at the earliest.
  void schedule_read() {
    auto self = shared_from_this();
    loop->call_soon([self] { self->guard([&] { self->read_block(); }); }, "_sendfile_fallback");
  }

  // Runs a step of the loop body; an exception ends the fallback with it.
  template <typename F>
  void guard(F&& step) {
    if (finished) return;
    try {
      step();
    } catch (...) {
      finish(std::current_exception());
    }
  }

  void read_block() {
    if (count) {
      auto left = *count - static_cast<std::int64_t>(total_sent);
      if (left <= 0) return finish(nullptr);
      blocksize = std::min<std::size_t>(static_cast<std::size_t>(left), blocksize);
    }
    std::size_t read = file->readinto(std::span<char>(buf.data(), blocksize));
    if (read == 0) return finish(nullptr);  // EOF
    auto ready = proto->drain();
    if (!ready || ready->done()) return after_drain(ready, read);
    draining = ready;
    auto self = shared_from_this();
    ready->add_done_callback(
        [self, read](const Future<void>& f) {
          self->draining.reset();
          self->guard([&] { self->after_drain(f, read); });
        },
        "_sendfile_fallback");
  }

  // `await proto.drain()` returned (or raised): write the block and read the next.
  void after_drain(const std::optional<Future<void>>& ready, std::size_t read) {
    if (ready) ready->result();  // raises the drain's error or CancelledError
    auto* writer = dynamic_cast<WriteTransport*>(transport.get());
    writer->write(std::as_bytes(std::span<const char>(buf.data(), read)));
    total_sent += read;
    schedule_read();
  }

  // The `finally`: seek to the end of what was sent, then restore the protocol; an error in
  // either replaces the outcome.
  void finish(std::exception_ptr error) {
    finished = true;
    try {
      if (total_sent > 0) file->seek(offset + static_cast<std::int64_t>(total_sent));
      proto->restore();
    } catch (...) {
      error = std::current_exception();
    }
    settle_sendfile(fut, error, total_sent);
  }
};

void start_fallback(EventLoop& loop, SizeFuture fut, std::shared_ptr<BaseTransport> transport,
                    std::shared_ptr<FileObject> file, std::int64_t offset, std::optional<std::int64_t> count) {
  std::make_shared<Fallback>(loop, std::move(fut), std::move(transport), std::move(file), offset, count)->start();
}

// ---- the native path: selector_events._sendfile_native ----------------------------------

// The arguments of one loop.sendfile call.
struct Call {
  EventLoop* loop;
  SizeFuture fut;
  std::shared_ptr<BaseTransport> transport;
  std::shared_ptr<FileObject> file;
  std::int64_t offset;
  std::optional<std::int64_t> count;
  bool fallback;
};

// SendfileNotAvailableError from the native path: the caller's with fallback=False.
void native_unavailable(Call& c, std::exception_ptr error) {
  if (!c.fallback) return c.fut.set_exception(error);
  try {
    start_fallback(*c.loop, c.fut, c.transport, c.file, c.offset, c.count);
  } catch (...) {
    c.fut.set_exception(std::current_exception());
  }
}

// What the native path's outcome means for loop.sendfile.
void native_done(Call& c, const SizeFuture& sent) {
  if (c.fut.done()) return;
  if (!sent.cancelled() && sent.exception() && exception_is_a(sent.exception(), "SendfileNotAvailableError"))
    return native_unavailable(c, sent.exception());
  settle(c.fut, sent);
}

struct Native : std::enable_shared_from_this<Native> {
  Call call;
  std::shared_ptr<SelectorSocketTransport> transport;
  bool resume_reading = false;
  Future<void> waiter;
  SizeFuture sending;

  Native(Call c, std::shared_ptr<SelectorSocketTransport> t) : call(std::move(c)), transport(std::move(t)) {}

  // Up to `await transp._make_empty_waiter()`; an error there leaves the transport out of
  // the fd table and paused, as in CPython (no try/finally yet).
  void start() {
    call.loop->clear_fd_transport(transport->fileno());
    resume_reading = transport->is_reading();
    transport->pause_reading();
    waiter = transport->make_empty_waiter();
    auto self = shared_from_this();
    call.fut.add_done_callback([self](const SizeFuture& f) { self->cancelled(f); }, "_sendfile_native");
    if (waiter.done()) return waited();  // awaiting a done future does not yield
    waiter.add_done_callback([self](const Future<void>&) { self->waited(); }, "_sendfile_native");
  }

  // Task.cancel cancels what the task awaits.
  void cancelled(const SizeFuture& f) {
    if (!f.cancelled()) return;
    if (sending.valid())
      sending.cancel();
    else
      waiter.cancel();
  }

  void waited() {
    if (call.fut.done()) return;
    if (waiter.cancelled()) return (void)call.fut.cancel();
    if (auto e = waiter.exception()) return call.fut.set_exception(e);
    sending = call.loop->sock_sendfile(Socket(transport->fileno()), call.file, call.offset, call.count, false);
    auto self = shared_from_this();
    if (sending.done()) return sent();
    sending.add_done_callback([self](const SizeFuture&) { self->sent(); }, "_sendfile_native");
  }

  // The `finally`, then the outcome.
  void sent() {
    transport->reset_empty_waiter();
    if (resume_reading) transport->resume_reading();
    // CPython's fd table holds transports weakly; a closed socket's transport is gone.
    if (transport->socket_open()) call.loop->set_fd_transport(transport->fileno(), transport.get());
    native_done(call, sending);
  }
};

// BaseEventLoop._sendfile_native: no native sendfile for other transports.
void start_native(Call c) {
  auto socket_transport = std::dynamic_pointer_cast<SelectorSocketTransport>(c.transport);
  if (!socket_transport)
    return native_unavailable(c, std::make_exception_ptr(SendfileNotAvailableError("sendfile syscall is not supported")));
  std::make_shared<Native>(std::move(c), std::move(socket_transport))->start();
}

}  // namespace

Future<std::size_t> EventLoop::sendfile(std::shared_ptr<BaseTransport> transport, std::shared_ptr<FileObject> file,
                                        std::int64_t offset, std::optional<std::int64_t> count, bool fallback) {
  auto fut = create_future<std::size_t>();
  try {
    if (transport->is_closing()) throw RuntimeError("Transport is closing");
    auto mode = transport->sendfile_compatible();
    if (mode == SendfileMode::Unsupported)
      throw RuntimeError("sendfile is not supported for transport " + transport->repr());
    if (mode == SendfileMode::TryNative) {
      start_native(Call{this, fut, std::move(transport), std::move(file), offset, count, fallback});
      return fut;
    }
    if (!fallback)
      throw RuntimeError("fallback is disabled and native sendfile is not supported for transport " + transport->repr());
    start_fallback(*this, fut, std::move(transport), std::move(file), offset, count);
  } catch (...) {
    // What the coroutine raised before its first wait.
    if (!fut.done()) fut.set_exception(std::current_exception());
  }
  return fut;
}

}  // namespace loopcheck
