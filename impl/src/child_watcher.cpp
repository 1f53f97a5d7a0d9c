// AbstractChildWatcher (every method raises NotImplementedError) and BaseChildWatcher (the
// SIGCHLD handler of the attached loop).
#include <signal.h>

#include "child_status.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/warnings.hpp"
#include "watched_loop.hpp"

namespace loopcheck {

// ---- AbstractChildWatcher ------------------------------------------------------------------

void AbstractChildWatcher::add_child_handler(pid_t, ChildCallback, Label) { throw NotImplementedError(); }
bool AbstractChildWatcher::remove_child_handler(pid_t) { throw NotImplementedError(); }
void AbstractChildWatcher::attach_loop(EventLoop*) { throw NotImplementedError(); }
void AbstractChildWatcher::close() { throw NotImplementedError(); }
bool AbstractChildWatcher::is_active() { throw NotImplementedError(); }
void AbstractChildWatcher::enter() { throw NotImplementedError(); }
void AbstractChildWatcher::exit() { throw NotImplementedError(); }

// ---- BaseChildWatcher ----------------------------------------------------------------------

BaseChildWatcher::BaseChildWatcher() = default;

BaseChildWatcher::~BaseChildWatcher() { detach_quietly(); }

void BaseChildWatcher::close() { attach_loop(nullptr); }

bool BaseChildWatcher::is_active() { return loop_ && loop_->is_running(); }

void BaseChildWatcher::do_waitpid(pid_t) { throw NotImplementedError(); }
void BaseChildWatcher::do_waitpid_all() { throw NotImplementedError(); }

void BaseChildWatcher::attach_loop(EventLoop* loop) {
  if (loop_ && !loop && !callbacks_.empty())
    warn("A loop is being detached from a child watcher with pending handlers", "RuntimeWarning");
  if (loop_) {
    // A closed loop has no handlers left: CPython's remove_signal_handler returns False.
    loop_->with_open([](EventLoop& old) { old.remove_signal_handler(SIGCHLD); });
    sigchld_handle_.reset();
  }
  loop_.reset();
  if (!loop) return;
  loop_ = detail::WatchedLoop::watch(*loop);
  std::weak_ptr<BaseChildWatcher*> self = self_;
  loop->add_signal_handler(
      SIGCHLD,
      [self] {
        if (auto watcher = self.lock()) (*watcher)->sig_chld();
      },
      Label("BaseChildWatcher._sig_chld()"));
  sigchld_handle_ = loop->signal_handler(SIGCHLD);
  // A child may have exited while no loop was attached.
  do_waitpid_all();
}

void BaseChildWatcher::sig_chld() {
  try {
    do_waitpid_all();
  } catch (...) {
    auto error = std::current_exception();
    if (is_system_exit_or_keyboard_interrupt(error)) throw;
    // A handle queued before close() runs detached: CPython's self._loop is None there.
    if (!loop_) throw AttributeError("'NoneType' object has no attribute 'call_exception_handler'");
    ExceptionContext context;
    context.message = "Unknown exception in SIGCHLD handler";
    context.exception = error;
    loop_->with_open([&](EventLoop& loop) { loop.call_exception_handler(context); });
  }
}

bool BaseChildWatcher::loop_debug() {
  if (!loop_) throw AttributeError("'NoneType' object has no attribute 'get_debug'");
  return loop_->get_debug();
}

void BaseChildWatcher::detach_quietly() noexcept {
  if (!loop_ || !sigchld_handle_) return;
  try {
    loop_->with_open([this](EventLoop& loop) {
      if (loop.signal_handler(SIGCHLD) == sigchld_handle_) loop.remove_signal_handler(SIGCHLD);
    });
  } catch (...) {
  }
  sigchld_handle_.reset();
  loop_.reset();
}

}  // namespace loopcheck
