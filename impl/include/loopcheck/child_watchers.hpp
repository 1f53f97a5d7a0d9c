// The concrete child watchers of CPython 3.9-3.13 (asyncio.unix_events), with the
// behaviour of the newest one, 3.13 (its deprecation warnings included):
//
//   BaseChildWatcher       a loop's SIGCHLD handler calls do_waitpid_all(); abstract waits
//   ├── SafeChildWatcher   waitpid(pid, WNOHANG) for each registered child only
//   └── FastChildWatcher   waitpid(-1, WNOHANG) until none is left; needs `with watcher:`
//   MultiLoopChildWatcher  a process-wide SIGCHLD handler; reports on the registering loop
//   ThreadedChildWatcher   one waiting thread per child; reports on the registering loop
//   PidfdChildWatcher      a pidfd reader on the running loop per child (stateless)
//
// Sources: src/safe_child_watcher.cpp, fast_child_watcher.cpp, multi_loop_child_watcher.cpp,
// threaded_child_watcher.cpp, pidfd_child_watcher.cpp; shared parts in child_status.cpp.
// Safe and Fast are used from the loop's thread; MultiLoop and Threaded accept children
// from loops in any thread; all calls to waitpid, kill and pidfd_open go through syscalls().
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "loopcheck/child_watcher.hpp"
#include "loopcheck/handle.hpp"

namespace loopcheck {

namespace detail {
class WatchedLoop;
class WatchedLoops;
}  // namespace detail

// A child watcher driven by the SIGCHLD handler of the loop it is attached to.
class BaseChildWatcher : public AbstractChildWatcher {
 public:
  BaseChildWatcher();
  ~BaseChildWatcher() override;

  // attach_loop(nullptr).
  void close() override;
  // Attached to a loop that is running.
  bool is_active() override;
  // Detaching (nullptr) with registered children warns RuntimeWarning 'A loop is being
  // detached from a child watcher with pending handlers'. The old loop's SIGCHLD handler is
  // removed; the new loop gets one, then do_waitpid_all() catches exits that happened
  // meanwhile.
  void attach_loop(EventLoop* loop) override;

  // Waits for one child / every child without blocking: NotImplementedError here.
  virtual void do_waitpid(pid_t expected_pid);
  virtual void do_waitpid_all();

  std::string class_name() const override { return "BaseChildWatcher"; }

 protected:
  struct Registration {
    ChildCallback callback;
    Label label;
  };
  // The SIGCHLD handler: do_waitpid_all(); an exception goes to the loop's exception
  // handler as 'Unknown exception in SIGCHLD handler'.
  void sig_chld();
  // loop.get_debug() of the attached loop (AttributeError when detached, as CPython's
  // None has no get_debug).
  bool loop_debug();
  // Removes the loop's SIGCHLD handler if it is still this watcher's (destruction).
  void detach_quietly() noexcept;

  std::map<pid_t, Registration> callbacks_;
  std::shared_ptr<detail::WatchedLoop> loop_;
  HandleRef sigchld_handle_;  // the handle this watcher gave the loop

 private:
  // What the SIGCHLD handle reaches the watcher through: a signal already dispatched sits
  // in the ready queue after close() and may run after the watcher is gone (CPython's bound
  // method would keep the watcher alive; a gone one can do nothing).
  std::shared_ptr<BaseChildWatcher*> self_ = std::make_shared<BaseChildWatcher*>(this);
};

// Polls each registered child with waitpid(pid, WNOHANG) on SIGCHLD: other children are
// left alone. O(children) per signal. DeprecationWarning on construction (3.12+).
class SafeChildWatcher : public BaseChildWatcher {
 public:
  SafeChildWatcher();
  // Forgets every registered child, then detaches.
  void close() override;
  void enter() override {}
  void exit() override {}
  // Registers (replacing an earlier callback for pid), then reports at once if the child
  // already exited.
  void add_child_handler(pid_t pid, ChildCallback callback, Label label = {}) override;
  bool remove_child_handler(pid_t pid) override;
  void do_waitpid(pid_t expected_pid) override;
  void do_waitpid_all() override;
  std::string class_name() const override { return "SafeChildWatcher"; }
};

// Reaps every exited child with waitpid(-1, WNOHANG) on SIGCHLD. Inside `with watcher:` an
// exit nobody registered yet is kept until registration (reported at once) or the end of the
// outermost block (one WARNING listing them); outside, it is a WARNING at once.
// add_child_handler outside the block fails: AssertionError('Must use the context manager').
// DeprecationWarning on construction (3.12+). Thread-safe like CPython's (one lock).
class FastChildWatcher : public BaseChildWatcher {
 public:
  FastChildWatcher();
  void close() override;
  void enter() override;
  void exit() override;
  void add_child_handler(pid_t pid, ChildCallback callback, Label label = {}) override;
  bool remove_child_handler(pid_t pid) override;
  void do_waitpid_all() override;
  std::string class_name() const override { return "FastChildWatcher"; }

 private:
  std::mutex mu_;  // callbacks_, zombies_, forks_
  std::vector<std::pair<pid_t, int>> zombies_;  // pid -> returncode, in insertion order (a dict)
  int forks_ = 0;
};

// Installs a process-wide SIGCHLD handler (Python-level, like signal.signal) on its first
// attach_loop, from the main thread only (ValueError('signal only works in main thread of
// the main interpreter') elsewhere). Children register from inside a running loop and are
// reported there with call_soon_threadsafe. close() restores the saved handler, or warns
// 'SIGCHLD handler was changed by outside code'. DeprecationWarning on construction.
//
// CPython runs the Python-level handler between bytecodes of the main thread; here a
// dispatcher thread, woken by the C-level handler, runs it. Registrations and the handler
// share one lock, so a child is reported once.
class MultiLoopChildWatcher : public AbstractChildWatcher {
 public:
  MultiLoopChildWatcher();
  ~MultiLoopChildWatcher() override;

  bool is_active() override;
  void close() override;
  void enter() override {}
  void exit() override {}
  // RuntimeError('no running event loop') outside a running loop.
  void add_child_handler(pid_t pid, ChildCallback callback, Label label = {}) override;
  bool remove_child_handler(pid_t pid) override;
  // Installs the handler the first time (the loop itself is not kept).
  void attach_loop(EventLoop* loop) override;
  std::string class_name() const override { return "MultiLoopChildWatcher"; }

  // Returns once an exit the handler is reporting has been reported (a reap by the
  // dispatcher and its report happen under one lock).
  void settle();

 private:
  struct Registration {
    std::shared_ptr<detail::WatchedLoop> loop;
    ChildCallback callback;
    Label label;
  };
  void do_waitpid(pid_t expected_pid);  // mu_ held
  void do_waitpid_all();                // mu_ held
  void dispatch();                      // the dispatcher thread
  void stop_dispatcher() noexcept;

  std::mutex mu_;
  std::map<pid_t, Registration> callbacks_;
  std::unique_ptr<detail::WatchedLoops> loops_;
  std::optional<struct sigaction> saved_action_;  // set while installed (is_active)
  int saved_notify_fd_ = -1;  // the previous watcher's, restored with its handler
  int notify_[2] = {-1, -1};  // the C-level handler writes here
  int stop_fd_ = -1;          // eventfd that ends the dispatcher
  std::thread dispatcher_;
};

// One thread per child, waiting for it (named asyncio-waitpid-N, N counting from 0 per
// watcher), which reports on the loop that registered it with call_soon_threadsafe, or
// WARNING 'Loop %r that handles pid %r is closed'. Always active; attach_loop, close,
// enter and exit do nothing; remove_child_handler returns true and removes nothing.
//
// Unlike CPython's daemon threads, no thread outlives the watcher: the destructor stops the
// waits still pending (warning ResourceWarning, as CPython's __del__ does) and joins every
// thread. A thread waits on a pidfd and a stop eventfd, then reaps with waitpid; a pid that
// is not an unreaped child is reported at once (255), as os.waitpid fails at once.
class ThreadedChildWatcher : public AbstractChildWatcher {
 public:
  ThreadedChildWatcher();
  ~ThreadedChildWatcher() override;

  bool is_active() override { return true; }
  void close() override {}
  void enter() override {}
  void exit() override {}
  // RuntimeError('no running event loop') outside a running loop.
  void add_child_handler(pid_t pid, ChildCallback callback, Label label = {}) override;
  bool remove_child_handler(pid_t) override { return true; }
  void attach_loop(EventLoop*) override {}
  std::string class_name() const override { return "ThreadedChildWatcher"; }

  // Names of the waiting threads still alive, of every ThreadedChildWatcher in the process
  // (threading.enumerate()), sorted.
  static std::vector<std::string> live_thread_names();
  // Returns once an exit a thread is reporting has been reported.
  void settle();
  // Joins the threads that have finished (the destructor joins the rest).
  void join_finished();

 private:
  struct Waiter {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  void wait_for(std::shared_ptr<detail::WatchedLoop> loop, pid_t pid, ChildCallback callback, Label label,
                std::string name, std::shared_ptr<std::atomic<bool>> finished);
  // Blocks until `pid` can be reaped (true) or the watcher stops (false).
  bool await_exit(pid_t pid);

  std::mutex mu_;  // waiters_, counter_
  std::mutex report_mu_;  // held from the reap to the report
  std::vector<Waiter> waiters_;
  std::uint64_t counter_ = 0;
  std::unique_ptr<detail::WatchedLoops> loops_;
  int stop_fd_ = -1;
};

// Each child gets a pidfd (pidfd_open) watched by a reader on the running loop; when it is
// readable the child is reaped with waitpid and the callback runs in that reader. Stateless
// since 3.12: attach_loop and close do nothing, is_active is true, remove_child_handler
// returns true and removes nothing, and registering a pid twice reports twice (the second
// report finds the status read: WARNING and 255). Errors: RuntimeError('no running event
// loop'), the OSError of pidfd_open (ProcessLookupError for a pid that no longer exists).
class PidfdChildWatcher : public AbstractChildWatcher {
 public:
  bool is_active() override { return true; }
  void close() override {}
  void enter() override {}
  void exit() override {}
  void attach_loop(EventLoop*) override {}
  void add_child_handler(pid_t pid, ChildCallback callback, Label label = {}) override;
  bool remove_child_handler(pid_t) override { return true; }
  std::string class_name() const override { return "PidfdChildWatcher"; }
};

// asyncio.unix_events.can_use_pidfd(): pidfd_open works for our own pid.
bool can_use_pidfd();

}  // namespace loopcheck
