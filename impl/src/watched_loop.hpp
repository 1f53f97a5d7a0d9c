// A loop as a child watcher sees it, from any thread. CPython's watchers keep a reference
// to the loop and ask it is_closed() before calling it; in C++ a loop may also be destroyed
// while a watcher (or one of its threads) still names it. A WatchedLoop reaches the loop
// only while it is open: a close hook on the loop cuts the link under the same lock, after
// which the watcher sees a closed loop with the repr and debug flag it had at close.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "loopcheck/event_loop.hpp"

namespace loopcheck::detail {

class WatchedLoop {
 public:
  // A new link to `loop` (which must be alive): registers the close hook.
  static std::shared_ptr<WatchedLoop> watch(EventLoop& loop);

  // Runs fn(loop) under the link's lock while the loop is open; false once it is closed.
  template <class F>
  bool with_open(F&& fn) {
    std::lock_guard lock(mu_);
    if (!loop_ || loop_->is_closed()) return false;
    fn(*loop_);
    return true;
  }
  // The loop while the link holds it, else nullptr (identity checks only).
  bool is(const EventLoop* loop) const;
  // loop.is_closed(), loop.get_debug(), loop.is_running(), repr(loop).
  bool is_closed();
  bool get_debug();
  bool is_running();
  std::string repr();

 private:
  explicit WatchedLoop(EventLoop& loop) : loop_(&loop) {}
  void cut();

  mutable std::recursive_mutex mu_;
  EventLoop* loop_;  // null once the loop closed
  std::string closed_repr_;
  bool closed_debug_ = false;
};

// One link per loop for a watcher that registers many children on the same loops.
class WatchedLoops {
 public:
  std::shared_ptr<WatchedLoop> get(EventLoop& loop);

 private:
  std::mutex mu_;
  std::map<const EventLoop*, std::shared_ptr<WatchedLoop>> links_;
};

}  // namespace loopcheck::detail
