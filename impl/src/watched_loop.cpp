#include "watched_loop.hpp"

#include <iterator>

namespace loopcheck::detail {

std::shared_ptr<WatchedLoop> WatchedLoop::watch(EventLoop& loop) {
  std::shared_ptr<WatchedLoop> link(new WatchedLoop(loop));
  if (loop.is_closed()) {
    link->cut();  // a closed loop runs no more close hooks
  } else {
    loop.add_close_hook([link] { link->cut(); });
  }
  return link;
}

void WatchedLoop::cut() {
  std::lock_guard lock(mu_);
  if (!loop_) return;
  closed_repr_ = loop_->repr();
  closed_debug_ = loop_->get_debug();
  loop_ = nullptr;
}

bool WatchedLoop::is(const EventLoop* loop) const {
  std::lock_guard lock(mu_);
  return loop_ != nullptr && loop_ == loop;
}

bool WatchedLoop::is_closed() {
  std::lock_guard lock(mu_);
  return !loop_ || loop_->is_closed();
}

bool WatchedLoop::get_debug() {
  std::lock_guard lock(mu_);
  return loop_ ? loop_->get_debug() : closed_debug_;
}

bool WatchedLoop::is_running() {
  std::lock_guard lock(mu_);
  return loop_ && loop_->is_running();
}

std::string WatchedLoop::repr() {
  std::lock_guard lock(mu_);
  return loop_ ? loop_->repr() : closed_repr_;
}

std::shared_ptr<WatchedLoop> WatchedLoops::get(EventLoop& loop) {
  std::lock_guard lock(mu_);
  // Links of closed loops go: their address may be reused by a new loop.
  for (auto it = links_.begin(); it != links_.end();) it = it->second->is_closed() ? links_.erase(it) : std::next(it);
  auto& link = links_[&loop];
  if (!link) link = WatchedLoop::watch(loop);
  return link;
}

}  // namespace loopcheck::detail
