// BaseEventLoop: scheduling, the timer heap, run_forever and one pass (_run_once).
#include <cstdio>

#include "heapq.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"

namespace loopcheck {

namespace {

// CPython's constants (base_events.py).
constexpr std::size_t kMinScheduledTimerHandles = 100;
constexpr double kMinCancelledTimerHandlesFraction = 0.5;
constexpr double kMaximumSelectTimeout = 24 * 3600;

thread_local EventLoop* t_running_loop = nullptr;

// TimerHandle.__lt__ on the copies of `when` kept in the heap array (a function object, so
// the heap code inlines it).
struct TimerLess {
  template <class Entry>
  bool operator()(const Entry& a, const Entry& b) const noexcept {
    return a.when < b.when;
  }
};
constexpr TimerLess timer_less{};

// Releases the loop's reference to a popped handle when the scope ends, also on exceptions.
struct HandleRelease {
  Handle* h;
  ~HandleRelease() { h->release(); }
};

}  // namespace

EventLoop* get_running_loop_or_null() noexcept { return t_running_loop; }

namespace detail {
// CPython 3.12+ (events.on_fork): a forked child has no running loop.
void forget_running_loop_in_child() noexcept { t_running_loop = nullptr; }
}  // namespace detail

EventLoop& get_running_loop() {
  if (!t_running_loop) throw RuntimeError("no running event loop");
  return *t_running_loop;
}

double EventLoop::time() const {
  struct timespec ts {};
  syscalls().clock_gettime(CLOCK_MONOTONIC, &ts);
  // time.monotonic(): integer nanoseconds converted to float seconds.
  int64_t ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return static_cast<double>(ns) / 1e9;
}

void EventLoop::raise_closed() { throw RuntimeError("Event loop is closed"); }

void EventLoop::check_thread() const {
  std::thread::id owner = thread_id_.load(std::memory_order_acquire);
  if (owner == std::thread::id()) return;
  if (owner != std::this_thread::get_id())
    throw RuntimeError("Non-thread-safe operation invoked on an event loop other than the current one");
}

void EventLoop::check_running() const {
  if (is_running()) throw RuntimeError("This event loop is already running");
  if (t_running_loop != nullptr) throw RuntimeError("Cannot run the event loop while another loop is running");
}

std::string EventLoop::repr() const {
  auto b = [](bool v) { return v ? "True" : "False"; };
  return std::string("<_UnixSelectorEventLoop running=") + b(is_running()) + " closed=" + b(is_closed()) +
         " debug=" + b(get_debug()) + ">";
}

// ---- threadsafe inbox --------------------------------------------------------------------

void EventLoop::post_threadsafe(const HandleRef& handle) {
  std::lock_guard lock(inbox_mu_);
  // close() may have won the race since the caller's check.
  if (closed_.load(std::memory_order_relaxed)) raise_closed();
  handle->add_ref();
  inbox_.push_back(handle.get());
  inbox_nonempty_.store(true, std::memory_order_release);
  write_to_self_locked();
}

void EventLoop::drain_inbox() {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_spare_.swap(inbox_);
    inbox_nonempty_.store(false, std::memory_order_relaxed);
  }
  for (Handle* h : inbox_spare_) ready_.push_back(h);
  inbox_spare_.clear();
}

void EventLoop::add_callback(const HandleRef& handle) {
  if (handle->cancelled()) return;
  if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();  // keep FIFO with posts
  handle->add_ref();
  ready_.push_back(handle.get());
}

void EventLoop::add_callback_signalsafe(const HandleRef& handle) {
  add_callback(handle);
  write_to_self();
}

// ---- timers --------------------------------------------------------------------------------

void EventLoop::push_timer(TimerHandle* timer) {
  timer->add_ref();
  heapq::heappush(scheduled_, TimerEntry{timer->when(), timer}, timer_less);
  timer->set_scheduled(true);
}

void EventLoop::timer_handle_cancelled(TimerHandle& timer) noexcept {
  if (timer.scheduled()) ++timer_cancelled_count_;
}

std::vector<TimerHandleRef> EventLoop::scheduled_snapshot() const {
  std::vector<TimerHandleRef> out;
  out.reserve(scheduled_.size());
  for (const TimerEntry& e : scheduled_) out.emplace_back(e.timer);
  return out;
}

// Step 1 of a pass: drop cancelled timers, in bulk when they are the majority of a big heap.
void EventLoop::purge_cancelled_timers() {
  std::size_t sched_count = scheduled_.size();
  if (sched_count > kMinScheduledTimerHandles &&
      static_cast<double>(timer_cancelled_count_) / static_cast<double>(sched_count) >
          kMinCancelledTimerHandlesFraction) {
    std::vector<TimerEntry> kept;
    kept.reserve(sched_count);
    for (const TimerEntry& e : scheduled_) {
      if (e.timer->cancelled()) {
        e.timer->set_scheduled(false);
        e.timer->release();
      } else {
        kept.push_back(e);
      }
    }
    heapq::heapify(kept, timer_less);
    scheduled_.swap(kept);
    timer_cancelled_count_ = 0;
    return;
  }
  while (!scheduled_.empty() && scheduled_[0].timer->cancelled()) {
    --timer_cancelled_count_;
    TimerHandle* t = heapq::heappop(scheduled_, timer_less).timer;
    t->set_scheduled(false);
    t->release();
  }
}

// Step 2: 0 when there is work or a stop request, the wait for the first timer (capped at
// one day), or nullopt (block) when there is nothing to wait for.
std::optional<double> EventLoop::compute_timeout() {
  if (!ready_.empty() || stopping_) return 0.0;
  if (scheduled_.empty()) return std::nullopt;
  double timeout = scheduled_[0].when - time();
  if (timeout > kMaximumSelectTimeout) return kMaximumSelectTimeout;
  if (timeout < 0) return 0.0;
  return timeout;
}

// Step 5: timers due before now + clock resolution join the ready queue in heap-pop order.
void EventLoop::move_due_timers() {
  if (scheduled_.empty()) return;  // no clock read when no timer exists
  double end_time = time() + clock_resolution_;
  while (!scheduled_.empty()) {
    if (scheduled_[0].when >= end_time) break;
    TimerHandle* t = heapq::heappop(scheduled_, timer_less).timer;
    t->set_scheduled(false);
    ready_.push_back(t);  // the heap's reference moves to the ready queue
  }
}

// ---- running -------------------------------------------------------------------------------

void EventLoop::run_once() {
  check_closed();  // CPython's _run_once would fail on the dropped selector instead
  if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();
  // The steps are skipped (not just cheap) when they have nothing to work on: a pass of
  // call_soon() chaining is otherwise mostly their call overhead around one epoll_wait.
  if (!scheduled_.empty()) purge_cancelled_timers();
  std::optional<double> timeout = compute_timeout();
  const std::vector<SelectorEvent>& events = selector_.select(timeout);
  // A handle posted from another thread while select waited joins before the I/O handles,
  // where CPython's direct append to _ready would have put it.
  if (inbox_nonempty_.load(std::memory_order_acquire)) drain_inbox();
  if (!events.empty()) process_events(events);
  if (!scheduled_.empty()) move_due_timers();
  run_ready(ready_.size());
  ready_.rewind_if_empty();
}

// Step 6: run exactly the handles that are ready now; later ones wait for the next pass.
void EventLoop::run_ready(std::size_t ntodo) {
  for (std::size_t i = 0; i < ntodo; ++i) {
    // A callback closed the loop (possible since 3.13, see run_forever): CPython's
    // popleft() on the emptied queue raises IndexError.
    if (ready_.empty()) [[unlikely]] throw LookupError("IndexError", "pop from an empty deque");
    // A big batch of handles is out of cache by the time it runs: fetch one a few places
    // ahead of the one about to run.
    if (ready_.size() > detail::kPrefetchAhead) __builtin_prefetch(ready_[detail::kPrefetchAhead]);
    Handle* h = ready_.pop_front();
    if (h->unshared() && !h->cancelled() && !get_debug()) [[likely]] {
      // The queue held the only reference: run, then free, with no other bookkeeping.
      try {
        h->run_unshared();
      } catch (...) {
        HandleRelease release{h};
        report_callback_exception(*h);
        continue;
      }
      h->destroy();
      continue;
    }
    HandleRelease release{h};
    if (h->cancelled()) continue;
    if (get_debug())
      run_handle_debug(*h);
    else
      run_handle(*h);
  }
}

void EventLoop::run_handle(Handle& handle) {
  try {
    handle.invoke();
  } catch (...) {
    report_callback_exception(handle);
  }
}

// Handle._run's except clause; called inside a catch block. SystemExit and
// KeyboardInterrupt go on propagating.
void EventLoop::report_callback_exception(Handle& handle) {
  std::exception_ptr exc = std::current_exception();
  if (is_system_exit_or_keyboard_interrupt(exc)) throw;
  ExceptionContext context;
  context.message = "Exception in callback " + std::string(handle.label());
  context.exception = std::move(exc);
  context.handle = HandleRef(&handle);
  // Debug mode: where the handle was scheduled, formatted the way CPython's default
  // handler prints a `source_traceback`.
  if (handle.created_in_debug()) {
    if (auto where = detail::handle_origin(&handle))
      context.set("source_traceback", "Object created at (most recent call last):\n" + where->frame());
  }
  call_exception_handler(context);
}

void EventLoop::run_handle_debug(Handle& handle) {
  double t0 = time();
  run_handle(handle);
  double dt = time() - t0;
  if (dt >= slow_callback_duration_) {
    char seconds[64];
    std::snprintf(seconds, sizeof seconds, "%.3f", dt);
    log(LogLevel::WARNING, "Executing " + handle.repr() + " took " + seconds + " seconds");
  }
}

void EventLoop::run_forever() {
  // CPython 3.13 runs the cleanup even when a check fails: a refused nested run_forever
  // resets the stopping flag and forgets the running thread and loop, so the outer run
  // goes on past its stop() and a callback may then close() the loop under it.
  struct Cleanup {
    EventLoop* loop;
    ~Cleanup() {
      loop->stopping_ = false;
      loop->thread_id_.store(std::thread::id(), std::memory_order_release);
      t_running_loop = nullptr;
    }
  } cleanup{this};
  check_closed();
  check_running();
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  t_running_loop = this;
  for (;;) {
    // Closed by a callback of this run: CPython's next _run_once fails on the dropped
    // selector.
    if (is_closed()) [[unlikely]] throw AttributeError("'NoneType' object has no attribute 'select'");
    run_once();
    if (stopping_) break;
  }
}

void EventLoop::drop_all_handles() noexcept {
  while (!ready_.empty()) ready_.pop_front()->release();
  for (const TimerEntry& e : scheduled_) {
    e.timer->set_scheduled(false);
    e.timer->release();
  }
  scheduled_.clear();
  std::vector<Handle*> inbox;
  {
    std::lock_guard lock(inbox_mu_);
    inbox.swap(inbox_);
    inbox_nonempty_.store(false, std::memory_order_relaxed);
  }
  for (Handle* h : inbox) h->release();
}

}  // namespace loopcheck
