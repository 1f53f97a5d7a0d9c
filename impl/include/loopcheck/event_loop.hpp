// EventLoop: CPython's Unix selector event loop (asyncio.unix_events._UnixSelectorEventLoop
// on BaseSelectorEventLoop on BaseEventLoop), with the same observable scheduling:
//
// - a FIFO ready queue; each pass (run_once, CPython's _run_once) runs only the handles that
//   were ready when the pass started its run phase (B-LOOP-2);
// - inside a pass: purge cancelled timers, compute the poll timeout, select, queue reader
//   then writer handles per ready fd, move due timers in heap-pop order, run (B-LOOP-3);
// - timers in a binary heap that reproduces Python's heapq exactly, so timers with equal
//   deadlines run in CPython's order (B-LOOP-5), with the same cancelled-timer cleanup
//   threshold (B-LOOP-6);
// - a self-pipe (AF_UNIX socketpair) that call_soon_threadsafe writes a NUL byte to, always
//   registered for reading (B-LOOP-7);
// - CPython's exception types and exact messages for every error.
//
// Threads: every method belongs to the thread running the loop, except
// call_soon_threadsafe(), which any thread may call (also while the loop is blocked in
// select). The loop is neither copyable nor movable (handles and futures point to it).
//
// Later parts of the Unix loop (signals, pipes, subprocesses) live in their own .cpp files
// and plug in through the seams at the end of the class: the self-pipe byte handler, the
// close hooks, the fd-transport table, and the *_internal reader/writer calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loopcheck/callback.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/exception_context.hpp"
#include "loopcheck/handle.hpp"
#include "loopcheck/ring_queue.hpp"
#include "loopcheck/selector.hpp"
#include "loopcheck/source_location.hpp"

namespace loopcheck {

template <class T>
class Future;

namespace detail {
struct SignalTable;  // src/signal_handlers.cpp
}

// sock_* methods (sock_methods.hpp, sock_sendfile.hpp, file_object.hpp).
struct Socket;
class FileObject;

// Unix sockets (unix_server.hpp, selector_socket_transport.hpp).
class BaseProtocol;
class BaseTransport;
class Server;
class SelectorSocketTransport;
struct UnixServerOptions;
struct UnixConnectionOptions;
// A protocol factory (CPython's protocol_factory callable).
using ProtocolFactory = std::function<std::shared_ptr<BaseProtocol>()>;
using UnixConnection = std::pair<std::shared_ptr<SelectorSocketTransport>, std::shared_ptr<BaseProtocol>>;

// A transport that owns an fd (CPython's loop._transports entry). While it is registered and
// not closing, the public add_reader/remove_reader/add_writer/remove_writer on that fd raise
// RuntimeError('File descriptor %r is used by transport %r').
class FdTransport {
 public:
  virtual ~FdTransport() = default;
  virtual bool is_closing() const = 0;
  virtual std::string repr() const = 0;
};

class EventLoop {
 public:
  // handler(loop, context), as set by loop.set_exception_handler().
  using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;
  // Receives each non-NUL byte read from the self-pipe (a signal number once signals exist).
  using SelfPipeByteHandler = std::function<void(unsigned char)>;

  // Creates the epoll selector and the self-pipe, registers the self-pipe reader and logs
  // DEBUG "Using selector: EpollSelector". Throws OSError if a syscall fails.
  EventLoop();
  // Closes the loop if it is not closed (CPython's __del__ does the same when not running).
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // ---- scheduling -----------------------------------------------------------------------
  //
  // Every scheduling call takes the caller's location as a defaulted last argument; in debug
  // mode the handle keeps it (CPython's _source_traceback): `created at FILE:LINE` in its
  // repr and `source_traceback` in the context of an exception it raises.

  // loop.call_soon(cb). RuntimeError('Event loop is closed') on a closed loop; in debug mode
  // RuntimeError('Non-thread-safe operation invoked on an event loop other than the current
  // one') when called from another thread while the loop runs.
  //
  // Always inlined (like call_at): the caller then sees that the handle it drops still has
  // the queue's reference, and a batch of call_soon() costs half as much. The queue makes
  // room before the handle is made, and debug mode takes a path of its own, so that the
  // handle's first word is known whole and written in one store.
  template <class F>
  [[gnu::always_inline]] HandleRef call_soon(F&& callback, Label label = {}, SourceLocation where = SourceLocation::here()) {
    check_closed();
    if (get_debug()) [[unlikely]]
      return HandleRef::adopt(call_soon_debug<std::decay_t<F>>(std::forward<F>(callback), std::move(label), where.file,
                                                               where.line, where.function));
    if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();
    ready_.reserve_one();
    HandleRef h = Handle::create(std::forward<F>(callback), std::move(label), false, false);
    h->add_ref();
    ready_.push_back_reserved(h.get());
    return h;
  }

  // loop.call_soon_threadsafe(cb), from any thread: queues the handle, then sends one NUL
  // byte on the self-pipe to wake a blocked select (a failed send is swallowed; debug mode
  // logs DEBUG "Fail to write a null byte into the self-pipe socket"). Order is kept with
  // call_soon from the same thread: call_soon_threadsafe(a); call_soon(b) runs a, b.
  template <class F>
  HandleRef call_soon_threadsafe(F&& callback, Label label = {}, SourceLocation where = SourceLocation::here()) {
    check_closed();
    HandleRef h = Handle::make(std::forward<F>(callback), std::move(label), this, /*threadsafe=*/true);
    if (h->created_in_debug()) [[unlikely]] detail::record_handle_origin(h.get(), where);
    post_threadsafe(h);
    return h;
  }

  // loop.call_later(delay, cb) == call_at(time() + delay, cb). nullopt delay:
  // TypeError('delay must not be None'). Negative delays are allowed.
  template <class F>
  TimerHandleRef call_later(std::optional<double> delay, F&& callback, Label label = {},
                            SourceLocation where = SourceLocation::here()) {
    if (!delay) throw TypeError("delay must not be None");
    return call_at(time() + *delay, std::forward<F>(callback), std::move(label), where);
  }

  // loop.call_at(when, cb). nullopt when: TypeError('when cannot be None'); closed loop:
  // RuntimeError('Event loop is closed').
  template <class F>
  [[gnu::always_inline]] TimerHandleRef call_at(std::optional<double> when, F&& callback, Label label = {},
                         SourceLocation where = SourceLocation::here()) {
    if (!when) throw TypeError("when cannot be None");
    check_closed();
    bool debug = get_debug();
    if (debug) check_thread();
    TimerHandleRef t = TimerHandle::create(*when, std::forward<F>(callback), std::move(label), this, debug);
    if (debug) [[unlikely]] detail::record_handle_origin(t.get(), where);
    push_timer(t.get());
    return t;
  }

  // loop.time(): CLOCK_MONOTONIC in seconds (time.monotonic()), read through syscalls().
  double time() const;
  // time.get_clock_info('monotonic').resolution (1e-09 on Linux).
  double clock_resolution() const noexcept { return clock_resolution_; }

  // ---- running and stopping -------------------------------------------------------------

  // Runs passes until stop(). RuntimeError('Event loop is closed'), ('This event loop is
  // already running'), ('Cannot run the event loop while another loop is running').
  // SystemExit and KeyboardInterrupt from a callback propagate (the rest of the pass stays
  // queued); the stopping flag is reset either way -- as in CPython 3.13, also when a check
  // refuses the call, which forgets the running thread of an outer run_forever (a callback
  // may then close() the loop; the outer run fails with IndexError or AttributeError as
  // CPython's does).
  void run_forever();

  // Runs until `future` is done and returns its result (or throws its exception).
  // RuntimeError('Event loop stopped before Future completed.') if the loop stops first;
  // ValueError('The future belongs to a different loop than the one specified as the loop
  // argument') for another loop's future. Defined in future.hpp.
  template <class T>
  T run_until_complete(Future<T> future);

  // loop.stop(): the loop leaves run_forever after the current pass; before run_forever it
  // makes the next run_forever do exactly one pass with select(0).
  void stop() noexcept { stopping_ = true; }
  bool is_running() const noexcept { return thread_id_.load(std::memory_order_acquire) != std::thread::id(); }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // loop.close(): RuntimeError('Cannot close a running event loop') while running;
  // idempotent. Order: self-pipe, then mark closed and drop ready/timer handles, then the
  // selector, then the close hooks (signal handler removal in the Unix loop).
  void close();

  // One pass (CPython's _run_once); run_forever calls it in a loop. Tests and fuzzers may
  // call it directly on a loop that is not running. RuntimeError('Event loop is closed') on
  // a closed loop.
  void run_once();

  // ---- I/O callbacks ----------------------------------------------------------------------

  // loop.add_reader(fd, cb): returns nothing, like CPython. Replacing a reader cancels the
  // old handle. Errors: RuntimeError (closed loop, fd used by a transport),
  // ValueError('Invalid file descriptor: -1'), OSError from epoll_ctl (e.g. EBADF, EPERM).
  void add_reader(int fd, Callback callback, Label label = {});
  void add_writer(int fd, Callback callback, Label label = {});
  // loop.remove_reader(fd): true if a reader was removed (its handle cancelled), false if
  // there was none or the loop is closed.
  bool remove_reader(int fd);
  bool remove_writer(int fd);

  // ---- error handling ---------------------------------------------------------------------

  // An empty handler restores the default (CPython: set_exception_handler(None)).
  void set_exception_handler(ExceptionHandler handler) { exception_handler_ = std::move(handler); }
  // Empty when the default handler is in use.
  const ExceptionHandler& get_exception_handler() const noexcept { return exception_handler_; }
  // Logs one ERROR record: the message (or 'Unhandled exception in event loop'), then
  // `key: repr` lines for the other keys in sorted order, with the exception as exc_info.
  void default_exception_handler(const ExceptionContext& context);
  // Calls the custom handler, or the default one. A failing custom handler leads to the
  // default handler with {'message': 'Unhandled error in exception handler', 'exception':
  // exc, 'context': context}. SystemExit and KeyboardInterrupt propagate.
  void call_exception_handler(const ExceptionContext& context);

  // ---- debug mode -------------------------------------------------------------------------

  void set_debug(bool enabled) noexcept { debug_.store(enabled, std::memory_order_relaxed); }
  bool get_debug() const noexcept { return debug_.load(std::memory_order_relaxed); }
  // Debug mode logs WARNING 'Executing %s took %.3f seconds' for callbacks at least this
  // slow (default 0.1 s).
  double slow_callback_duration() const noexcept { return slow_callback_duration_; }
  void set_slow_callback_duration(double seconds) noexcept { slow_callback_duration_ = seconds; }

  // `<_UnixSelectorEventLoop running=False closed=False debug=False>`.
  std::string repr() const;

  // ---- futures ------------------------------------------------------------------------------

  // loop.create_future() (defined in future.hpp). Works on a closed loop, as in CPython.
  template <class T = void>
  Future<T> create_future();

  // Expires when the loop is destroyed (futures use it to know whether the loop is there).
  std::weak_ptr<const void> lifetime_token() const noexcept { return lifetime_; }

  // ---- write pipes (src/unix_write_pipe_transport.cpp) ------------------------------------

  // loop.connect_write_pipe(protocol_factory, pipe) for an fd: a Future of (transport,
  // protocol), done one pass after connection_made ran. Defined in
  // unix_write_pipe_transport.hpp (include it to call this).
  template <class Factory>
  auto connect_write_pipe(Factory&& protocol_factory, int fd);

  // ---- read pipes (src/unix_read_pipe_transport.cpp) -------------------------------------

  // loop.connect_read_pipe(protocol_factory, pipe) for an fd: a Future of (transport,
  // protocol), done one pass after connection_made ran. Defined in
  // unix_read_pipe_transport.hpp (include it to call this).
  template <class Factory>
  auto connect_read_pipe(Factory&& protocol_factory, int fd);

  // ---- inspection (CPython's private attributes, for tests, properties and fuzzers) -------

  std::size_t ready_count() const noexcept { return ready_.size(); }           // len(_ready)
  std::size_t scheduled_count() const noexcept { return scheduled_.size(); }   // len(_scheduled)
  std::size_t timer_cancelled_count() const noexcept { return timer_cancelled_count_; }
  // The heap array in its current order (index 0 is the earliest timer).
  std::vector<TimerHandleRef> scheduled_snapshot() const;
  bool is_stopping() const noexcept { return stopping_; }
  const EpollSelector& selector() const noexcept { return selector_; }

  // ---- signals (src/signal_handlers.cpp; process-wide parts in signals.hpp) -----------------

  // loop.add_signal_handler(sig, callback). Order of checks: ValueError('invalid signal
  // number %d'), RuntimeError('Event loop is closed'), set_wakeup_fd from a non-main thread
  // -> RuntimeError('set_wakeup_fd only works in main thread of the main interpreter'). Then
  // the handle replaces any previous one for `sig` and the C-level handler is installed with
  // SA_RESTART; EINVAL (SIGKILL, SIGSTOP) -> RuntimeError('sig %d cannot be caught') after
  // undoing the registration (and turning the wakeup fd off if no handler is left). Each
  // delivery queues the same handle one pass after the pass that read its byte.
  void add_signal_handler(int sig, Callback callback, Label label = {});
  // loop.remove_signal_handler(sig): false if none is registered; else the entry is deleted,
  // SIG_DFL restored (loopcheck_default_int_handler for SIGINT), the wakeup fd turned off
  // when it was the last one, true. From a non-main thread: ValueError('signal only works in
  // main thread of the main interpreter') after the entry is deleted.
  bool remove_signal_handler(int sig);
  // loop._signal_handlers.get(sig): the stored handle (cancel it to unregister on the next
  // delivery), or null.
  HandleRef signal_handler(int sig) const noexcept;
  // list(loop._signal_handlers): registered signals in registration order.
  std::vector<int> signal_handler_signals() const;

  // ---- Unix sockets (src/unix_server.cpp, src/unix_connection.cpp; see unix_server.hpp) ----

  // The coroutines loop.create_unix_server() / loop.create_unix_connection(), as futures
  // that the loop completes the way the awaiting task would. Include unix_server.hpp.
  Future<std::shared_ptr<Server>> create_unix_server(ProtocolFactory factory, const UnixServerOptions& options);
  Future<UnixConnection> create_unix_connection(ProtocolFactory factory, const UnixConnectionOptions& options);

  // ---- socket methods (src/sock_methods.cpp, src/sock_sendfile.cpp) ----------------------
  //
  // The coroutines loop.sock_recv/sock_sendall/sock_sendfile as futures: every error (the
  // argument checks too) comes out of the future, as from an awaited coroutine. Cancelling
  // the future cancels the operation. Include sock_methods.hpp / sock_sendfile.hpp.

  // loop.sock_recv(sock, n): the bytes received (empty at EOF).
  Future<std::string> sock_recv(const Socket& sock, std::size_t n);
  // loop.sock_sendall(sock, data): done when every byte is sent.
  Future<void> sock_sendall(const Socket& sock, std::string data);
  // loop.sock_sendfile(sock, file, offset, count, fallback=): the number of bytes sent.
  Future<std::size_t> sock_sendfile(const Socket& sock, std::shared_ptr<FileObject> file, std::int64_t offset = 0,
                                    std::optional<std::int64_t> count = std::nullopt, bool fallback = true);
  // loop.sendfile(transport, file, offset, count, fallback=): the number of bytes sent
  // (src/loop_sendfile.cpp; see loop_sendfile.hpp).
  Future<std::size_t> sendfile(std::shared_ptr<BaseTransport> transport, std::shared_ptr<FileObject> file,
                               std::int64_t offset = 0, std::optional<std::int64_t> count = std::nullopt,
                               bool fallback = true);

  // ---- seams for the rest of the Unix loop --------------------------------------------------

  // CPython's _add_reader/_remove_reader/_add_writer/_remove_writer: no transport check;
  // add_* returns the new handle so a transport can keep it.
  HandleRef add_reader_internal(int fd, Callback callback, Label label = {});
  HandleRef add_writer_internal(int fd, Callback callback, Label label = {});
  bool remove_reader_internal(int fd);
  bool remove_writer_internal(int fd);

  // loop._transports[fd] = transport / del. The transport must unregister itself before it
  // is destroyed. CPython's _ensure_fd_no_transport is ensure_fd_no_transport().
  void set_fd_transport(int fd, const FdTransport* transport);
  void clear_fd_transport(int fd) noexcept;
  void ensure_fd_no_transport(int fd) const;

  // The self-pipe's write end (what the Unix loop passes to signal.set_wakeup_fd), or -1
  // once closed.
  int self_pipe_write_fd() const noexcept { return csock_; }
  int self_pipe_read_fd() const noexcept { return ssock_; }
  // Every chunk read from the self-pipe goes to process_self_data(): NUL bytes (wake-ups from
  // call_soon_threadsafe) are skipped, every other byte goes to this handler.
  void set_self_pipe_byte_handler(SelfPipeByteHandler handler) { self_pipe_byte_handler_ = std::move(handler); }
  void process_self_data(const unsigned char* data, std::size_t len);
  // loop._write_to_self(): one NUL byte, failures swallowed. Safe from any thread.
  void write_to_self() noexcept;
  // CPython's _add_callback: queues an existing handle (a signal handler's, say) unless it
  // is cancelled. Loop thread only.
  void add_callback(const HandleRef& handle);
  // _add_callback_signalsafe: add_callback(), then write_to_self() to wake the poll.
  void add_callback_signalsafe(const HandleRef& handle);
  // Runs at the end of close(), in registration order (after the selector is closed).
  void add_close_hook(std::function<void()> hook) { close_hooks_.push_back(std::move(hook)); }

  // Runs `handle` the way the loop does (CPython's Handle._run): an exception other than
  // SystemExit/KeyboardInterrupt goes to call_exception_handler with message 'Exception in
  // callback <label>', the exception and the handle.
  void run_handle(Handle& handle);

 private:
  struct FdEntry {
    Handle* reader = nullptr;  // owned reference
    Handle* writer = nullptr;  // owned reference
    const FdTransport* transport = nullptr;
  };

  void check_closed() const {
    if (closed_.load(std::memory_order_relaxed)) raise_closed();
  }
  [[noreturn]] static void raise_closed();
  void check_thread() const;
  void check_running() const;
  // call_soon() in debug mode: checks the calling thread and records where the handle was
  // made; returns the caller's reference. Everything comes by value, in registers: had
  // call_soon() to pass the addresses of its callable and location, it would have to store
  // them to memory on every call, debug or not.
  template <class F>
  [[gnu::noinline]] Handle* call_soon_debug(F callback, Label label, const char* file, std::uint_least32_t line,
                                            const char* function) {
    check_thread();
    if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();
    HandleRef h = Handle::create(std::move(callback), std::move(label), false, true);
    detail::record_handle_origin(h.get(), SourceLocation{file, line, function});
    h->add_ref();
    ready_.push_back(h.get());
    return h.detach();
  }
  void post_threadsafe(const HandleRef& handle);
  void drain_inbox();
  void push_timer(TimerHandle* timer);
  void timer_handle_cancelled(TimerHandle& timer) noexcept;
  friend class Handle;

  // run_once steps
  void purge_cancelled_timers();
  std::optional<double> compute_timeout();
  void process_events(const std::vector<SelectorEvent>& events);
  void move_due_timers();
  void run_ready(std::size_t ntodo);
  void run_handle_debug(Handle& handle);
  [[gnu::cold]] void report_callback_exception(Handle& handle);

  void write_to_self_locked() noexcept;
  void make_self_pipe();
  void close_self_pipe() noexcept;
  void read_from_self();
  FdEntry* fd_entry(int fd) noexcept;
  HandleRef add_io(int fd, Callback callback, Label label, bool writer);
  bool remove_io(int fd, bool writer);
  void drop_all_handles() noexcept;
  // signals (src/signal_handlers.cpp)
  void handle_signal(int sig);
  void report_wakeup_failures(detail::SignalTable& table);

  std::shared_ptr<const void> lifetime_ = std::make_shared<int>(0);

  // state shared with other threads
  std::atomic<bool> closed_{false};
  std::atomic<bool> inbox_nonempty_{false};
  std::atomic<std::thread::id> thread_id_{};
  std::mutex inbox_mu_;
  std::vector<Handle*> inbox_;  // owned references, guarded by inbox_mu_
  std::vector<Handle*> inbox_spare_;  // loop thread: swapped with inbox_ when draining
  int csock_ = -1;              // guarded by inbox_mu_ once the loop exists
  int ssock_ = -1;

  // loop-thread state
  bool stopping_ = false;
  std::atomic<bool> debug_{false};  // also read by call_soon_threadsafe callers
  double slow_callback_duration_ = 0.1;
  double clock_resolution_ = 1e-9;
  std::size_t timer_cancelled_count_ = 0;
  RingQueue<Handle*> ready_;              // owned references
  // heapq heap, owned references; `when` is copied next to the pointer so that comparisons
  // stay inside the array.
  struct TimerEntry {
    double when;
    TimerHandle* timer;
  };
  std::vector<TimerEntry> scheduled_;
  std::vector<FdEntry> fds_;
  EpollSelector selector_;
  ExceptionHandler exception_handler_;
  SelfPipeByteHandler self_pipe_byte_handler_;
  std::vector<std::function<void()>> close_hooks_;
  std::shared_ptr<detail::SignalTable> signals_;  // created by the first add_signal_handler
};

// The loop running in this thread, or nullptr (asyncio._get_running_loop()).
EventLoop* get_running_loop_or_null() noexcept;
// asyncio.get_running_loop(): RuntimeError('no running event loop') when none.
EventLoop& get_running_loop();

}  // namespace loopcheck

#include "loopcheck/future.hpp"
