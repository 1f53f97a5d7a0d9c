// MultiLoopChildWatcher: a process-wide SIGCHLD handler reports each child on the loop that
// registered it.
//
// CPython installs a Python-level handler (signal.signal): its C handler writes the signal
// number to the wakeup fd, and the Python function runs later on the main thread. Here the
// C-level handler does the same write, plus one byte to the watcher's notify pipe; the
// dispatcher thread reading that pipe runs the handler's body.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "child_status.hpp"
#include "deprecation.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/signals.hpp"
#include "loopcheck/syscalls.hpp"
#include "watched_loop.hpp"

namespace loopcheck {
namespace {

// The notify pipe of the watcher whose handler is installed (-1: none).
std::atomic<int> g_notify_fd{-1};

extern "C" void loopcheck_multiloop_sigchld_handler(int sig) {
  int saved_errno = errno;
  // What CPython's C-level handler does for any Python handler: the wakeup fd gets the byte.
  int wakeup = signal_wakeup_fd();
  unsigned char byte = static_cast<unsigned char>(sig);
  if (wakeup >= 0) {
    ssize_t n = ::send(wakeup, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(wakeup, &byte, 1);
    (void)n;
  }
  int fd = g_notify_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    ssize_t n = ::write(fd, &byte, 1);  // a full pipe already has a wake-up pending
    (void)n;
  }
  errno = saved_errno;
}

const bool kRegistered = (register_python_signal_handler(&loopcheck_multiloop_sigchld_handler), true);

bool handler_is_ours(int notify_fd) {
  struct sigaction current {};
  if (real_syscalls().sigaction(SIGCHLD, nullptr, &current) < 0) return false;
  return !(current.sa_flags & SA_SIGINFO) && current.sa_handler == &loopcheck_multiloop_sigchld_handler &&
         g_notify_fd.load() == notify_fd;
}

}  // namespace

MultiLoopChildWatcher::MultiLoopChildWatcher() : loops_(std::make_unique<detail::WatchedLoops>()) {
  (void)kRegistered;
  detail::warn_deprecated_watcher_api("MultiLoopChildWatcher");
}

MultiLoopChildWatcher::~MultiLoopChildWatcher() {
  try {
    close();
  } catch (...) {
  }
  stop_dispatcher();
}

bool MultiLoopChildWatcher::is_active() {
  std::lock_guard lock(mu_);
  return saved_action_.has_value();
}

void MultiLoopChildWatcher::close() {
  std::unique_lock lock(mu_);
  callbacks_.clear();
  if (!saved_action_) return;
  if (!handler_is_ours(notify_[1])) {
    log(LogLevel::WARNING, "SIGCHLD handler was changed by outside code");
    int mine = notify_[1];
    g_notify_fd.compare_exchange_strong(mine, -1);  // the pipe closes below
  } else {
    if (syscalls().sigaction(SIGCHLD, &*saved_action_, nullptr) < 0) OSError::raise_errno(errno);
    g_notify_fd.store(saved_notify_fd_);
  }
  saved_action_.reset();
  lock.unlock();
  stop_dispatcher();
}

void MultiLoopChildWatcher::add_child_handler(pid_t pid, ChildCallback callback, Label label) {
  EventLoop& loop = get_running_loop();
  auto link = loops_->get(loop);
  std::lock_guard lock(mu_);
  callbacks_.insert_or_assign(pid, Registration{std::move(link), std::move(callback), std::move(label)});
  // The child may have exited already.
  do_waitpid(pid);
}

bool MultiLoopChildWatcher::remove_child_handler(pid_t pid) {
  std::lock_guard lock(mu_);
  return callbacks_.erase(pid) > 0;
}

void MultiLoopChildWatcher::attach_loop(EventLoop*) {
  std::lock_guard lock(mu_);
  if (saved_action_) return;
  // signal.signal() works in the main thread only.
  if (!is_main_thread()) throw ValueError("signal only works in main thread of the main interpreter");
  bool previous_is_native = signal_disposition(SIGCHLD) == "non-python";
  if (::pipe2(notify_, O_CLOEXEC | O_NONBLOCK) < 0) OSError::raise_errno(errno);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    int err = errno;
    stop_dispatcher();
    OSError::raise_errno(err);
  }
  dispatcher_ = std::thread(&MultiLoopChildWatcher::dispatch, this);
  saved_notify_fd_ = g_notify_fd.exchange(notify_[1]);
  struct sigaction action {}, previous {};
  action.sa_handler = &loopcheck_multiloop_sigchld_handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_ONSTACK | SA_RESTART;  // signal.siginterrupt(SIGCHLD, False)
  if (syscalls().sigaction(SIGCHLD, &action, &previous) < 0) {
    int err = errno;
    g_notify_fd.store(saved_notify_fd_);
    stop_dispatcher();
    OSError::raise_errno(err);
  }
  if (previous_is_native) {
    log(LogLevel::WARNING, "Previous SIGCHLD handler was set by non-Python code, restore to default handler on watcher close.");
    previous = {};
    previous.sa_handler = SIG_DFL;
    sigemptyset(&previous.sa_mask);
  }
  saved_action_ = previous;
}

void MultiLoopChildWatcher::settle() { std::lock_guard lock(mu_); }

void MultiLoopChildWatcher::do_waitpid_all() {
  std::vector<pid_t> pids;
  for (const auto& entry : callbacks_) pids.push_back(entry.first);
  for (pid_t pid : pids) do_waitpid(pid);
}

void MultiLoopChildWatcher::do_waitpid(pid_t expected_pid) {
  if (expected_pid <= 0) throw AssertionError();
  auto result = detail::wait_child(expected_pid, WNOHANG);
  pid_t pid = expected_pid;
  int returncode;
  bool debug_log;
  if (!result) {
    returncode = detail::kUnknownReturncode;
    detail::log_unknown_child(pid);
    debug_log = false;
  } else {
    if (result->pid == 0) return;  // still running
    returncode = result->returncode;
    debug_log = true;
  }
  auto it = callbacks_.find(pid);
  if (it == callbacks_.end()) {
    log(LogLevel::WARNING, "Child watcher got an unexpected pid: " + std::to_string(pid), "KeyError: " + std::to_string(pid));
    return;
  }
  Registration entry = std::move(it->second);
  callbacks_.erase(it);
  bool sent = entry.loop->with_open([&](EventLoop& loop) {
    if (debug_log) detail::log_exit_debug(loop.get_debug(), expected_pid, returncode);
    std::string name = entry.label.empty() ? std::string("<callback>") : entry.label.str();
    if (name.size() >= 2 && name.compare(name.size() - 2, 2, "()") == 0) name.resize(name.size() - 2);
    loop.call_soon_threadsafe([callback = std::move(entry.callback), pid, returncode] { callback(pid, returncode); },
                              Label(name + "(" + std::to_string(pid) + ", " + std::to_string(returncode) + ")"));
  });
  if (!sent) log(LogLevel::WARNING, "Loop " + entry.loop->repr() + " that handles pid " + std::to_string(pid) + " is closed");
}

void MultiLoopChildWatcher::dispatch() {
  for (;;) {
    struct pollfd fds[2] = {{notify_[0], POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (fds[1].revents & POLLIN)) return;
    unsigned char buf[64];
    while (::read(notify_[0], buf, sizeof buf) > 0) {
    }
    std::lock_guard lock(mu_);
    try {
      do_waitpid_all();
    } catch (...) {
      log(LogLevel::WARNING, "Unknown exception in SIGCHLD handler", format_exception_only(std::current_exception()));
    }
  }
}

void MultiLoopChildWatcher::stop_dispatcher() noexcept {
  if (stop_fd_ >= 0) {
    std::uint64_t one = 1;
    ssize_t n = ::write(stop_fd_, &one, sizeof one);
    (void)n;
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  for (int* fd : {&notify_[0], &notify_[1], &stop_fd_}) {
    if (*fd >= 0) ::close(std::exchange(*fd, -1));
  }
}

}  // namespace loopcheck
