// AbstractChildWatcher: CPython 3.9-3.13's interface for watching child processes
// (asyncio.unix_events.AbstractChildWatcher), with the same errors and messages.
//
// A watcher reports each registered child's exit as callback(pid, returncode), where the
// returncode follows os.waitstatus_to_exitcode: the exit status, or -SIGNAL for a child
// killed by a signal; 255 (with a WARNING) for a child whose status someone else read.
//
// Every method of this base class raises NotImplementedError(""), as CPython's abstract
// class does; the concrete watchers are in child_watchers.hpp. Python's `with watcher:` is
// enter()/exit(), or a ChildWatcherScope.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "loopcheck/callback.hpp"

namespace loopcheck {

class EventLoop;

// callback(pid, returncode). Python's extra *args are whatever the callable captures.
using ChildCallback = std::function<void(pid_t, int)>;

class AbstractChildWatcher {
 public:
  AbstractChildWatcher() = default;
  virtual ~AbstractChildWatcher() = default;
  AbstractChildWatcher(const AbstractChildWatcher&) = delete;
  AbstractChildWatcher& operator=(const AbstractChildWatcher&) = delete;

  // Arranges for callback(pid, returncode) once `pid` terminates; a second registration of
  // the same pid replaces the first (except where a watcher says otherwise). `label` names
  // the callback where the loop shows it (`<Handle label(pid, returncode)>`).
  virtual void add_child_handler(pid_t pid, ChildCallback callback, Label label = {});
  // True if a handler was removed, false if there was none.
  virtual bool remove_child_handler(pid_t pid);
  // Attaches the watcher to `loop` (nullptr detaches), first detaching from the previous one.
  virtual void attach_loop(EventLoop* loop);
  // Frees what the watcher holds.
  virtual void close();
  // True when the watcher is installed and ready to report exits.
  virtual bool is_active();
  // `with watcher:`: enter() before starting a child, exit() once it is registered.
  virtual void enter();
  virtual void exit();

  // The Python class name ("SafeChildWatcher", ...), for type(watcher).__name__.
  virtual std::string class_name() const { return "AbstractChildWatcher"; }
};

// `with watcher:` as a scope: enter() now, exit() at the end of the scope.
class ChildWatcherScope {
 public:
  explicit ChildWatcherScope(AbstractChildWatcher& watcher) : watcher_(watcher) { watcher_.enter(); }
  ~ChildWatcherScope() noexcept(false) { watcher_.exit(); }
  ChildWatcherScope(const ChildWatcherScope&) = delete;
  ChildWatcherScope& operator=(const ChildWatcherScope&) = delete;

 private:
  AbstractChildWatcher& watcher_;
};

}  // namespace loopcheck
