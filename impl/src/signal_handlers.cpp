// Signals: _UnixSelectorEventLoop.add_signal_handler / _handle_signal /
// remove_signal_handler / close, and the parts of CPython's C signal module they rely on
// (set_wakeup_fd, the C-level handler writing the signal number, getsignal).
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/signals.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {

namespace {

// signal.set_wakeup_fd's fd, read by the C-level handler.
std::atomic<int> g_wakeup_fd{-1};
// Bytes the handler failed to write, and the errno of the last failure.
std::atomic<std::uint64_t> g_wakeup_failures{0};
std::atomic<int> g_wakeup_last_errno{0};

// Handlers that stand for Python-level ones (register_python_signal_handler).
std::array<std::atomic<void (*)(int)>, 4> g_python_level_handlers{};

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

// CPython's C signal_handler as far as asyncio can observe it: one byte, the signal number,
// sent without blocking to the wakeup fd; errno preserved. A full buffer drops the byte.
extern "C" void loopcheck_wakeup_signal_handler(int sig) {
  int saved_errno = errno;
  int fd = g_wakeup_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    unsigned char byte = static_cast<unsigned char>(sig);
    ssize_t n;
    do {
      n = ::send(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK) n = ::write(fd, &byte, 1);  // a pipe given as wakeup fd
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      g_wakeup_last_errno.store(errno, std::memory_order_relaxed);
      g_wakeup_failures.fetch_add(1, std::memory_order_relaxed);
    }
  }
  errno = saved_errno;
}

void check_signal(int sig) {
  if (!is_valid_signal(sig)) throw ValueError("invalid signal number " + std::to_string(sig));
}

// signal.signal(sig, handler) for the two handlers asyncio installs: the wakeup writer with
// SA_RESTART (signal.siginterrupt(sig, False)), or a restored default.
void install(int sig, void (*handler)(int), bool restart) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_ONSTACK | (restart ? SA_RESTART : 0);
  if (syscalls().sigaction(sig, &action, nullptr) < 0) {
    int err = errno;
    if (err == EINVAL) throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
    OSError::raise_errno(err);
  }
}

// signal.set_wakeup_fd(-1) after the last handler went; a failure is only logged.
void reset_wakeup_fd() {
  try {
    set_signal_wakeup_fd(-1);
  } catch (const PyException& e) {
    log(LogLevel::INFO, "set_wakeup_fd(-1) failed: " + e.message());
  }
}

}  // namespace

namespace detail {

void forget_running_loop_in_child() noexcept;  // base_event_loop.cpp

// CPython 3.12+ registers os.register_at_fork(after_in_child=...) that forgets the running
// loop and calls signal.set_wakeup_fd(-1): a forked child's signals do not reach the
// parent's loop through the inherited socket.
void after_fork_in_child() noexcept {
  forget_running_loop_in_child();
  g_wakeup_fd.store(-1, std::memory_order_relaxed);
}
const int kAtForkRegistered = ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);

// loop._signal_handlers: a dict keyed by signal number, kept in insertion order.
struct SignalTable {
  std::array<HandleRef, kNsig> handles;
  std::vector<int> order;
  std::uint64_t reported_failures = 0;
  bool hooked = false;  // self-pipe byte handler and close hook installed

  bool contains(int sig) const noexcept { return static_cast<bool>(handles[sig]); }
  void put(int sig, HandleRef handle) {
    if (!contains(sig)) order.push_back(sig);
    handles[sig] = std::move(handle);
  }
  void erase(int sig) noexcept {
    handles[sig].reset();
    std::erase(order, sig);
  }
};

}  // namespace detail

// ---- process-wide ----------------------------------------------------------------------

bool is_valid_signal(int sig) noexcept { return sig >= 1 && sig < kNsig && sig != 32 && sig != 33; }

bool is_main_thread() noexcept { return ::syscall(SYS_gettid) == ::getpid(); }

int set_signal_wakeup_fd(int fd) {
  if (!is_main_thread()) throw ValueError("set_wakeup_fd only works in main thread of the main interpreter");
  return g_wakeup_fd.exchange(fd, std::memory_order_acq_rel);
}

int signal_wakeup_fd() noexcept { return g_wakeup_fd.load(std::memory_order_acquire); }

std::uint64_t signal_wakeup_write_failures() noexcept { return g_wakeup_failures.load(std::memory_order_relaxed); }

std::string_view signal_disposition(int sig) {
  struct sigaction current {};
  if (real_syscalls().sigaction(sig, nullptr, &current) < 0) return "non-python";
  if (current.sa_flags & SA_SIGINFO) return "non-python";
  if (current.sa_handler == SIG_DFL) return "SIG_DFL";
  if (current.sa_handler == SIG_IGN) return "SIG_IGN";
  if (current.sa_handler == &loopcheck_wakeup_signal_handler) return "python-handler";
  if (current.sa_handler == &loopcheck_default_int_handler) return "default_int_handler";
  for (const auto& registered : g_python_level_handlers)
    if (current.sa_handler == registered.load(std::memory_order_relaxed)) return "python-handler";
  return "non-python";
}

void register_python_signal_handler(void (*handler)(int)) noexcept {
  for (auto& slot : g_python_level_handlers) {
    void (*empty)(int) = nullptr;
    if (slot.load() == handler || slot.compare_exchange_strong(empty, handler)) return;
  }
}

extern "C" void loopcheck_default_int_handler(int sig) {
  // What an uncaught KeyboardInterrupt ends in: death by SIGINT.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

// ---- EventLoop ---------------------------------------------------------------------------

void EventLoop::add_signal_handler(int sig, Callback callback, Label label) {
  check_signal(sig);
  check_closed();
  try {
    // Early, so that a loop in another thread cannot add a handler.
    set_signal_wakeup_fd(self_pipe_write_fd());
  } catch (const PyException& e) {
    throw RuntimeError(e.message());
  }
  if (!signals_) {
    signals_ = std::make_shared<detail::SignalTable>();
    signals_->reported_failures = signal_wakeup_write_failures();
  }
  detail::SignalTable& table = *signals_;
  if (!table.hooked) {
    table.hooked = true;
    set_self_pipe_byte_handler([this](unsigned char sig_byte) { handle_signal(sig_byte); });
    // _UnixSelectorEventLoop.close: after the base close, remove every handler.
    add_close_hook([this] {
      for (int s : signal_handler_signals()) remove_signal_handler(s);
    });
  }
  table.put(sig, Handle::make(std::move(callback), std::move(label), this));
  try {
    install(sig, &loopcheck_wakeup_signal_handler, /*restart=*/true);
  } catch (...) {
    table.erase(sig);
    if (table.order.empty()) reset_wakeup_fd();
    throw;
  }
}

bool EventLoop::remove_signal_handler(int sig) {
  check_signal(sig);
  if (!signals_ || !signals_->contains(sig)) return false;
  detail::SignalTable& table = *signals_;
  table.erase(sig);
  if (!is_main_thread()) throw ValueError("signal only works in main thread of the main interpreter");
  install(sig, sig == SIGINT ? &loopcheck_default_int_handler : SIG_DFL, /*restart=*/false);
  if (table.order.empty()) reset_wakeup_fd();
  return true;
}

HandleRef EventLoop::signal_handler(int sig) const noexcept {
  if (!signals_ || !is_valid_signal(sig)) return nullptr;
  return signals_->handles[sig];
}

std::vector<int> EventLoop::signal_handler_signals() const {
  if (!signals_) return {};
  return signals_->order;
}

// _handle_signal, for each non-NUL byte read from the self-pipe.
void EventLoop::handle_signal(int sig) {
  detail::SignalTable& table = *signals_;
  report_wakeup_failures(table);
  if (!is_valid_signal(sig)) return;
  const HandleRef& handle = table.handles[sig];
  if (!handle) return;  // no handler: a race with removal, or another loop's signal
  if (handle->cancelled()) {
    remove_signal_handler(sig);
    return;
  }
  // CPython calls _add_callback_signalsafe, whose NUL byte only wakes the poll. Here we are
  // always on the loop thread inside the self-pipe reader, and the handle now in the ready
  // queue already makes the next poll non-blocking, so the byte (a send and a recv per
  // signal) would change nothing a program can observe.
  add_callback(handle);
}

// CPython reports dropped wakeup bytes as unraisable exceptions on stderr (not through
// logging); here one report per batch of new failures, from the loop thread.
void EventLoop::report_wakeup_failures(detail::SignalTable& table) {
  std::uint64_t failures = g_wakeup_failures.load(std::memory_order_relaxed);
  if (failures == table.reported_failures) return;
  table.reported_failures = failures;
  std::string text = "Exception ignored when trying to write to the signal wakeup fd:\n" +
                     format_exception_only(OSError::from_errno(g_wakeup_last_errno.load(std::memory_order_relaxed))) +
                     "\n";
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace loopcheck
