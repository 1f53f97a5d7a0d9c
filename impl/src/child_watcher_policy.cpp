#include "loopcheck/child_watcher_policy.hpp"

#include "deprecation.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/signals.hpp"

namespace loopcheck {

std::shared_ptr<AbstractChildWatcher> ChildWatcherPolicy::get_child_watcher() {
  std::shared_ptr<AbstractChildWatcher> watcher;
  {
    std::lock_guard lock(mu_);
    if (!watcher_) {
      if (can_use_pidfd()) {
        watcher_ = std::make_shared<PidfdChildWatcher>();
      } else {
        watcher_ = std::make_shared<ThreadedChildWatcher>();
      }
    }
    watcher = watcher_;
  }
  detail::warn_deprecated_watcher_api("get_child_watcher");
  return watcher;
}

void ChildWatcherPolicy::set_child_watcher(std::shared_ptr<AbstractChildWatcher> watcher) {
  std::shared_ptr<AbstractChildWatcher> previous;
  {
    std::lock_guard lock(mu_);
    previous = watcher_;
  }
  if (previous) previous->close();
  {
    std::lock_guard lock(mu_);
    watcher_ = std::move(watcher);
  }
  detail::warn_deprecated_watcher_api("set_child_watcher");
}

void ChildWatcherPolicy::set_event_loop(EventLoop* loop) {
  auto watcher = current_child_watcher();
  if (watcher && is_main_thread()) watcher->attach_loop(loop);
}

std::shared_ptr<AbstractChildWatcher> ChildWatcherPolicy::current_child_watcher() {
  std::lock_guard lock(mu_);
  return watcher_;
}

void ChildWatcherPolicy::reset() {
  std::shared_ptr<AbstractChildWatcher> previous;
  std::lock_guard lock(mu_);
  previous.swap(watcher_);
}

ChildWatcherPolicy& child_watcher_policy() {
  static ChildWatcherPolicy policy;
  return policy;
}

}  // namespace loopcheck
