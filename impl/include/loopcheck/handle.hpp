// Handle and TimerHandle (asyncio.events.Handle / TimerHandle).
//
// A handle owns one scheduled callback. The loop's ready queue, timer heap and reader/writer
// table hold counted references to handles; call_soon() and friends hand one more back to
// the caller. Handles come from a per-thread free list, so scheduling does not allocate once
// the list is warm.
//
// Reference counts are plain integers, except for handles made by call_soon_threadsafe(),
// which may be released by another thread and count atomically. cancel() may be called from
// any thread only on those; other handles belong to the loop's thread, as in CPython.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "loopcheck/callback.hpp"

namespace loopcheck {

class EventLoop;
class Handle;
class TimerHandle;

namespace detail {

// Per-thread pools of free handle-sized blocks (index 0: Handle, 1: TimerHandle), so
// scheduling a callback allocates nothing once the pool is warm. Blocks are carved from
// cache-line-aligned slabs that live as long as the process; a Handle is exactly one cache
// line. A pool is an array of pointers used as a stack, not a linked list: taking a block
// never waits for a load from the previous (cold) block. A block may be freed on any
// thread; it then joins that thread's pool, and a thread that exits hands its blocks to a
// shared spare list. The struct is trivially destructible, so the fast paths below need no
// TLS guard. With ASan, blocks come from operator new one by one instead.
struct HandlePool {
  void** blocks[2];
  std::size_t count[2];
  std::size_t capacity[2];
  bool registered;  // the thread-exit cleanup is armed
  bool closed;      // the thread is exiting
};
extern thread_local constinit HandlePool t_handle_pool;

// ASan must see every allocation and free to catch a use after free.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kPoolHandles = false;
#else
inline constexpr bool kPoolHandles = true;
#endif

void* alloc_handle_block_slow(bool timer);
void free_handle_block_slow(void* block, bool timer) noexcept;

// How many blocks ahead alloc_handle_block() and the loop's run phase ask the CPU to fetch.
// A burst of scheduling (or running) walks through more handles than the caches hold, one
// cache line each; fetching a few ahead overlaps those misses instead of taking them one
// after the other.
inline constexpr std::size_t kPrefetchAhead = 24;

inline void* alloc_handle_block(bool timer) {
  if constexpr (kPoolHandles) {
    HandlePool& pool = t_handle_pool;
    if (std::size_t n = pool.count[timer]) {
      // The handle is written right away: prefetch for writing.
      if (n > kPrefetchAhead) __builtin_prefetch(pool.blocks[timer][n - 1 - kPrefetchAhead], 1);
      pool.count[timer] = n - 1;
      return pool.blocks[timer][n - 1];
    }
  }
  return alloc_handle_block_slow(timer);
}

inline void free_handle_block(void* block, bool timer) noexcept {
  if constexpr (kPoolHandles) {
    HandlePool& pool = t_handle_pool;
    if (pool.count[timer] < pool.capacity[timer]) {
      pool.blocks[timer][pool.count[timer]++] = block;
      return;
    }
  }
  free_handle_block_slow(block, timer);
}

}  // namespace detail

// Intrusive counted pointer to a Handle or TimerHandle.
template <class H>
class Ref {
 public:
  Ref() noexcept = default;
  Ref(std::nullptr_t) noexcept {}  // NOLINT
  // Shares ownership of `p` (adds a reference).
  explicit Ref(H* p) noexcept : p_(p) {
    if (p_) p_->add_ref();
  }
  // Takes over a reference the caller already owns.
  static Ref adopt(H* p) noexcept {
    Ref r;
    r.p_ = p;
    return r;
  }

  Ref(const Ref& o) noexcept : Ref(o.p_) {}
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U>
    requires std::is_convertible_v<U*, H*>
  Ref(const Ref<U>& o) noexcept : Ref(static_cast<H*>(o.get())) {}  // NOLINT
  template <class U>
    requires std::is_convertible_v<U*, H*>
  Ref(Ref<U>&& o) noexcept : p_(o.detach()) {}  // NOLINT

  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->release();
  }

  H* get() const noexcept { return p_; }
  H* operator->() const noexcept { return p_; }
  H& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Gives up ownership without releasing; the caller now owns one reference.
  H* detach() noexcept { return std::exchange(p_, nullptr); }
  void reset() noexcept { Ref().swap(*this); }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }

  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.p_ == b.p_; }
  friend bool operator==(const Ref& a, std::nullptr_t) noexcept { return a.p_ == nullptr; }

 private:
  H* p_ = nullptr;
};

using HandleRef = Ref<Handle>;
using TimerHandleRef = Ref<TimerHandle>;

class Handle {
 public:
  // Makes a handle from the per-thread pool. `loop` may be null (a handle not bound to a
  // loop; cancel() then only marks it). `threadsafe` selects atomic reference counting.
  template <class F>
  static HandleRef make(F&& callback, Label label, EventLoop* loop, bool threadsafe = false) {
    return create(std::forward<F>(callback), std::move(label), loop, threadsafe, loop_debug(loop));
  }

  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Marks the handle cancelled and drops the callback (it will not run). A second call does
  // nothing. A TimerHandle still in its loop's heap bumps the loop's cancelled-timer count.
  void cancel() noexcept;
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }

  // repr(handle): `<Handle label>`, `<Handle cancelled>` (debug mode at cancel time:
  // `<Handle cancelled label>`), `<TimerHandle when=12.5 label>`,
  // `<TimerHandle cancelled when=12.5>`.
  std::string repr() const;
  // The callback's label (Label::kDefaultLabel when none was given).
  std::string_view label() const noexcept { return label_.view(); }
  bool is_timer() const noexcept { return timer_; }
  bool is_threadsafe() const noexcept { return threadsafe_; }

  // Runs the callback once; exceptions propagate to the caller (the loop reports them).
  // Does nothing on a cancelled handle. The callback is kept (reader handles run again).
  void invoke() {
    if (cancelled()) return;
    struct RunningGuard {
      Handle* h;
      ~RunningGuard() { h->finish_invoke(); }
    } guard{this};
    running_ = true;
    callback_();
  }

  // invoke() for the ready queue's pass, which holds a reference of its own. When that is
  // the only reference, nobody can cancel() the handle while it runs, so the running_
  // bookkeeping is skipped: running a cold handle then only reads its cache line.
  void invoke_queued() {
    if (!threadsafe_ && refcount_ == 1) {
      if (!cancelled()) callback_();
      return;
    }
    invoke();
  }

  void add_ref() const noexcept {
    if (threadsafe_)
      std::atomic_ref<uint32_t>(refcount_).fetch_add(1, std::memory_order_relaxed);
    else
      ++refcount_;
  }
  void release() const noexcept {
    if (threadsafe_) {
      if (std::atomic_ref<uint32_t>(refcount_).fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    } else if (refcount_ == 1) {
      // The last reference frees the block without storing the count: a handle that was
      // only read while it ran stays clean and needs no write-back.
      destroy();
    } else {
      --refcount_;
    }
  }

 protected:
  template <class F>
  Handle(F&& callback, Label label, EventLoop* loop, bool threadsafe, bool timer, bool debug)
      : threadsafe_(threadsafe),
        timer_(timer),
        created_in_debug_(debug),
        loop_(loop),
        label_(std::move(label)),
        callback_(std::forward<F>(callback)) {}

  // make() without the loop lookup; the loop passes its own debug flag.
  template <class F>
  static HandleRef create(F&& callback, Label label, EventLoop* loop, bool threadsafe, bool debug) {
    void* block = detail::alloc_handle_block(false);
    try {
      return HandleRef::adopt(
          ::new (block) Handle(std::forward<F>(callback), std::move(label), loop, threadsafe, false, debug));
    } catch (...) {
      detail::free_handle_block(block, false);
      throw;
    }
  }
  static bool loop_debug(const EventLoop* loop) noexcept;
  ~Handle() = default;

 private:
  friend class EventLoop;
  friend class TimerHandle;
  void destroy() const noexcept;
  // A handle cancelled while it ran drops its callable now.
  void finish_invoke() noexcept {
    running_ = false;
    if (!threadsafe_ && cancelled()) callback_.reset();
  }

  // 64 bytes in all (72 for a TimerHandle). threadsafe_ and cancelled_ are read by other
  // threads, so they get bytes of their own; the bit-fields belong to the loop's thread.
  mutable uint32_t refcount_ = 1;
  const bool threadsafe_;
  const bool timer_;
  std::atomic<bool> cancelled_{false};
  bool running_ : 1 = false;    // inside invoke(): cancel() must not destroy the callable
  bool scheduled_ : 1 = false;  // TimerHandle only: still in the loop's heap
  const bool created_in_debug_ : 1;  // CPython keeps the repr of a handle cancelled in debug mode
  // The byte's other bits get a value too, so the constructor writes whole words: with bits
  // left as they were, it would first have to load them from the (often cold) pool block.
  unsigned char unused_bits_ : 5 = 0;
  EventLoop* loop_;
  Label label_;
  Callback callback_;
};

class TimerHandle : public Handle {
 public:
  template <class F>
  static TimerHandleRef make(double when, F&& callback, Label label, EventLoop* loop) {
    return create(when, std::forward<F>(callback), std::move(label), loop, loop_debug(loop));
  }

  // Absolute time on the loop's clock (loop.time()).
  double when() const noexcept { return when_; }
  // TimerHandle.__lt__: compares `when` only (the heap's ordering).
  friend bool operator<(const TimerHandle& a, const TimerHandle& b) noexcept { return a.when_ < b.when_; }

 private:
  friend class Handle;
  friend class EventLoop;
  template <class F>
  TimerHandle(double when, F&& callback, Label label, EventLoop* loop, bool debug)
      : Handle(std::forward<F>(callback), std::move(label), loop, false, true, debug), when_(when) {}

  template <class F>
  static TimerHandleRef create(double when, F&& callback, Label label, EventLoop* loop, bool debug) {
    void* block = detail::alloc_handle_block(true);
    try {
      return TimerHandleRef::adopt(
          ::new (block) TimerHandle(when, std::forward<F>(callback), std::move(label), loop, debug));
    } catch (...) {
      detail::free_handle_block(block, true);
      throw;
    }
  }
  ~TimerHandle() = default;

  double when_;
};

}  // namespace loopcheck
