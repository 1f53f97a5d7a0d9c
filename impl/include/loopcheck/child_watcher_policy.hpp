// The child-watcher half of asyncio's Unix event loop policy (3.13): the process-wide
// watcher that subprocess support uses, asyncio.get_child_watcher()/set_child_watcher(),
// and set_event_loop()'s side effect of attaching it.
#pragma once

#include <memory>
#include <mutex>

#include "loopcheck/child_watcher.hpp"

namespace loopcheck {

class EventLoop;

class ChildWatcherPolicy {
 public:
  // get_child_watcher(): creates the default watcher the first time (PidfdChildWatcher when
  // pidfd_open works, else ThreadedChildWatcher), then warns DeprecationWarning
  // "'get_child_watcher' is deprecated ...".
  std::shared_ptr<AbstractChildWatcher> get_child_watcher();
  // set_child_watcher(watcher): closes the current watcher, installs `watcher` (may be
  // null), then warns DeprecationWarning "'set_child_watcher' is deprecated ...".
  void set_child_watcher(std::shared_ptr<AbstractChildWatcher> watcher);
  // set_event_loop(loop)'s watcher part: from the main thread, an installed watcher is
  // attached to `loop` (null detaches).
  void set_event_loop(EventLoop* loop);
  // The installed watcher, without creating one or warning (subprocess support).
  std::shared_ptr<AbstractChildWatcher> current_child_watcher();
  // Forgets the watcher without closing it (a program's end; the watcher's destructor runs
  // when its last owner lets go).
  void reset();

 private:
  std::mutex mu_;
  std::shared_ptr<AbstractChildWatcher> watcher_;
};

// The process-wide policy (asyncio.get_event_loop_policy()).
ChildWatcherPolicy& child_watcher_policy();

}  // namespace loopcheck
