// ThreadedChildWatcher: one thread per child waits for it and reports on the registering loop.
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "child_status.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/warnings.hpp"
#include "watched_loop.hpp"

namespace loopcheck {
namespace {

// threading.enumerate() for the waiting threads: names of those alive, process-wide.
struct LiveThreads {
  std::mutex mu;
  std::multiset<std::string> names;
};
LiveThreads& live_threads() {
  static auto* live = new LiveThreads;  // never destroyed: threads may end during exit
  return *live;
}

// Retries poll on EINTR; the set of fds is small and the wait has no deadline on purpose
// (a child may run for ever; the stop fd ends the wait).
int poll_retrying(struct pollfd* fds, nfds_t n, int timeout_ms) {
  int r;
  do {
    r = ::poll(fds, n, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r;
}

// True while `pid` is a child of this process that nobody reaped (running or a zombie);
// looks without reaping.
bool is_child(pid_t pid) {
  siginfo_t info{};
  int r;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  return r == 0;
}

// `label(pid, returncode)`, the callback as the loop's handle shows it.
std::string handle_label(const Label& label, pid_t pid, int returncode) {
  std::string name = label.empty() ? std::string("<callback>") : label.str();
  if (name.size() >= 2 && name.compare(name.size() - 2, 2, "()") == 0) name.resize(name.size() - 2);
  return name + "(" + std::to_string(pid) + ", " + std::to_string(returncode) + ")";
}

}  // namespace

ThreadedChildWatcher::ThreadedChildWatcher() : loops_(std::make_unique<detail::WatchedLoops>()) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) OSError::raise_errno(errno);
}

ThreadedChildWatcher::~ThreadedChildWatcher() {
  bool pending = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& w : waiters_) pending = pending || !w.finished->load();
  }
  // CPython's __del__ warns the same way (its daemon threads would simply go on).
  if (pending)
    warn("<class 'asyncio.unix_events.ThreadedChildWatcher'> has registered but not finished child processes",
         "ResourceWarning");
  std::uint64_t one = 1;
  ssize_t n = ::write(stop_fd_, &one, sizeof one);
  (void)n;
  for (auto& w : waiters_) w.thread.join();
  ::close(stop_fd_);
}

std::vector<std::string> ThreadedChildWatcher::live_thread_names() {
  LiveThreads& live = live_threads();
  std::lock_guard lock(live.mu);
  return {live.names.begin(), live.names.end()};
}

void ThreadedChildWatcher::settle() { std::lock_guard lock(report_mu_); }

void ThreadedChildWatcher::join_finished() {
  std::lock_guard lock(mu_);
  auto done = std::stable_partition(waiters_.begin(), waiters_.end(), [](const Waiter& w) { return !w.finished->load(); });
  for (auto it = done; it != waiters_.end(); ++it) it->thread.join();
  waiters_.erase(done, waiters_.end());
}

void ThreadedChildWatcher::add_child_handler(pid_t pid, ChildCallback callback, Label label) {
  EventLoop& loop = get_running_loop();
  join_finished();
  auto link = loops_->get(loop);
  std::lock_guard lock(mu_);
  std::string name = "asyncio-waitpid-" + std::to_string(counter_++);
  {
    LiveThreads& live = live_threads();
    std::lock_guard live_lock(live.mu);
    live.names.insert(name);
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread thread(&ThreadedChildWatcher::wait_for, this, std::move(link), pid, std::move(callback), std::move(label),
                     name, finished);
  // The kernel keeps 15 characters: "waitpid-N" identifies the thread in a debugger.
  std::string os_name = ("waitpid-" + std::to_string(counter_ - 1)).substr(0, 15);
  ::pthread_setname_np(thread.native_handle(), os_name.c_str());
  waiters_.push_back(Waiter{std::move(thread), std::move(finished)});
}

bool ThreadedChildWatcher::await_exit(pid_t pid) {
  int pidfd = real_syscalls().pidfd_open(pid, 0);
  if (pidfd < 0 && errno == ESRCH) return true;  // gone already: waitpid says how
  // CPython's os.waitpid(pid, 0) fails at once for a live process that is not our child:
  // waiting for its end would report late, or never. Checked after pidfd_open, since the
  // pid of an unreaped child cannot be reused: the pidfd is the child's.
  if (!is_child(pid)) {
    if (pidfd >= 0) ::close(pidfd);
    return true;
  }
  if (pidfd >= 0) {
    struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    poll_retrying(fds, 2, -1);
    ::close(pidfd);
    return (fds[0].revents & POLLIN) != 0;
  }
  // No pidfd (old kernel, seccomp): look without reaping, between waits on the stop fd.
  for (;;) {
    siginfo_t info{};
    int r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r < 0 && errno != EINTR) return true;  // not our child: waitpid says so
    if (r == 0 && info.si_pid == pid) return true;
    struct pollfd stop = {stop_fd_, POLLIN, 0};
    if (poll_retrying(&stop, 1, 10) > 0) return false;
  }
}

void ThreadedChildWatcher::wait_for(std::shared_ptr<detail::WatchedLoop> link, pid_t pid, ChildCallback callback,
                                    Label label, std::string name, std::shared_ptr<std::atomic<bool>> finished) {
  try {
    if (await_exit(pid)) {
      std::lock_guard report(report_mu_);
      int returncode;
      auto result = detail::wait_child(pid, 0);
      if (!result) {
        returncode = detail::kUnknownReturncode;
        detail::log_unknown_child(pid);
      } else {
        returncode = result->returncode;
        detail::log_exit_debug(link->get_debug(), pid, returncode);
      }
      bool sent = link->with_open([&](EventLoop& loop) {
        loop.call_soon_threadsafe([callback, pid, returncode] { callback(pid, returncode); },
                                  Label(handle_label(label, pid, returncode)));
      });
      if (!sent) log(LogLevel::WARNING, "Loop " + link->repr() + " that handles pid " + std::to_string(pid) + " is closed");
    }
  } catch (...) {
    // threading's excepthook: the thread ends with a report on stderr.
    std::string text = "Exception in thread " + name + ":\n" + format_exception_only(std::current_exception()) + "\n";
    std::fputs(text.c_str(), stderr);
  }
  {
    LiveThreads& live = live_threads();
    std::lock_guard lock(live.mu);
    live.names.erase(live.names.find(name));
  }
  finished->store(true);
}

}  // namespace loopcheck
