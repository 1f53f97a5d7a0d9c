// Handle and TimerHandle (asyncio.events.Handle / TimerHandle).
//
// A handle owns one scheduled callback, stored in the same block as the handle. The loop's
// ready queue, timer heap and reader/writer table hold counted references to handles;
// call_soon() and friends hand one more back to the caller. Handles come from per-thread
// free lists, so scheduling does not allocate once the lists are warm.
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

// A handle and its callable share one block: the handle's fields, then the callable in
// place (or a pointer to it when it is big). Blocks come in four sizes, so a handle whose
// callable captures one pointer takes 32 bytes, not a whole cache line: a batch of a million
// call_soon() then touches half the memory.
inline constexpr std::size_t kBlockClasses = 4;
inline constexpr std::size_t kBlockSizes[kBlockClasses] = {32, 48, 64, 80};
// The biggest callable kept in place (larger ones go to the heap, leaving a pointer).
inline constexpr std::size_t kMaxInlineCallable = 40;

// The smallest block class holding `bytes`. Precondition: bytes <= kBlockSizes[last].
constexpr unsigned block_class_for(std::size_t bytes) {
  unsigned c = 0;
  while (kBlockSizes[c] < bytes) ++c;
  return c;
}

// Per-thread pools of free blocks, one per block class, so scheduling a callback allocates
// nothing once the pool is warm. Blocks are carved from slabs that live as long as the
// process. A pool is a stack of runs of adjacent free blocks: taking a block bumps the top
// run's start, and freeing the block just before or just after the top run grows it. A batch
// of handles freed in the order they were made (the ready queue's order) becomes a few long
// runs, so taking and freeing touch one hot run instead of a pointer per block, and a block
// freed and taken again at once (chained callbacks) is the same warm block. A block may be
// freed on any thread; it then joins that thread's pool, and a thread that exits hands its
// runs to a shared spare list. The struct is trivially destructible, so the fast paths below
// need no TLS guard. With ASan, blocks come from operator new one by one instead.
struct BlockRun {
  unsigned char* start;
  unsigned char* end;  // one past the last free block
};
struct HandlePool {
  BlockRun* runs[kBlockClasses];
  std::size_t count[kBlockClasses];
  std::size_t capacity[kBlockClasses];
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

void* alloc_handle_block_slow(unsigned cls);
void free_handle_block_slow(void* block, unsigned cls) noexcept;

// How many blocks ahead alloc_handle_block() and the loop's run phase ask the CPU to fetch.
// A burst of scheduling (or running) walks through more handles than the caches hold;
// fetching a few ahead overlaps those misses instead of taking them one after the other.
inline constexpr std::size_t kPrefetchAhead = 24;

inline void* alloc_handle_block(unsigned cls) {
  if constexpr (kPoolHandles) {
    HandlePool& pool = t_handle_pool;
    if (std::size_t n = pool.count[cls]) {
      BlockRun& run = pool.runs[cls][n - 1];
      unsigned char* block = run.start;
      run.start = block + kBlockSizes[cls];
      if (run.start == run.end) pool.count[cls] = n - 1;
      // The handle is written right away: prefetch for writing. A prefetch past the run's
      // end is harmless (it never faults).
      __builtin_prefetch(block + kPrefetchAhead * kBlockSizes[cls], 1);
      return block;
    }
  }
  return alloc_handle_block_slow(cls);
}

inline void free_handle_block(void* block, unsigned cls) noexcept {
  if constexpr (kPoolHandles) {
    HandlePool& pool = t_handle_pool;
    auto* b = static_cast<unsigned char*>(block);
    if (std::size_t n = pool.count[cls]) {
      BlockRun& run = pool.runs[cls][n - 1];
      if (b == run.end) {
        run.end = b + kBlockSizes[cls];
        return;
      }
      if (b + kBlockSizes[cls] == run.start) {
        run.start = b;
        return;
      }
    }
    if (pool.count[cls] < pool.capacity[cls]) {
      pool.runs[cls][pool.count[cls]++] = {b, b + kBlockSizes[cls]};
      return;
    }
  }
  free_handle_block_slow(block, cls);
}

// The bytes a callable of type F takes in a handle (Callback: the callable it holds).
template <class F>
std::size_t handle_callable_footprint(const F& f) noexcept {
  if constexpr (std::is_same_v<std::decay_t<F>, Callback>)
    return f.footprint();
  else
    return callable_footprint<std::decay_t<F>, kMaxInlineCallable>();
}

// Constructs the callable at `dst` and returns its ops (a Callback hands over what it holds).
template <class F>
const CallableOps* place_callable(void* dst, F&& f) {
  if constexpr (std::is_same_v<std::decay_t<F>, Callback>)
    return f.release_into(dst);
  else
    return emplace_callable<kMaxInlineCallable>(dst, std::forward<F>(f));
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
  // loop). `threadsafe` selects atomic reference counting.
  template <class F>
  static HandleRef make(F&& callback, Label label, EventLoop* loop, bool threadsafe = false) {
    return create(std::forward<F>(callback), std::move(label), threadsafe, loop_debug(loop));
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
    set_flag(kRunning, true);
    ops_->invoke(callable());
  }

  // True when the caller's reference is the only one and no other thread may touch the
  // handle: nobody can cancel() it while it runs, so run_unshared() may skip the running_
  // bookkeeping (running a cold handle then only reads its block).
  bool unshared() const noexcept { return !threadsafe_ && refcount_ == 1; }
  // Precondition: unshared() and not cancelled.
  void run_unshared() { ops_->invoke(callable()); }

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
  Handle(const detail::CallableOps* ops, Label&& label, bool threadsafe, bool timer, bool debug, unsigned cls) noexcept
      : threadsafe_(threadsafe),
        timer_(timer),
        flags_(static_cast<uint8_t>((debug ? kCreatedInDebug : 0) | (cls << kClassShift) |
                                    (debug || (ops && ops->destroy) || label.owns_text() ? 0 : kPlainFree))),
        label_(std::move(label)),
        ops_(ops) {}

  // Builds an H (Handle or TimerHandle) and its callable in one pool block. An empty
  // Callback leaves ops_ null, as it did inside the Callback.
  template <class H, class F, class... Args>
  [[gnu::always_inline]] static H* place(F&& callback, Label&& label, bool threadsafe, bool debug, Args... extra) {
    unsigned cls = detail::block_class_for(sizeof(H) + detail::handle_callable_footprint(callback));
    void* block = detail::alloc_handle_block(cls);
    const detail::CallableOps* ops;
    try {
      ops = detail::place_callable(static_cast<unsigned char*>(block) + sizeof(H), std::forward<F>(callback));
    } catch (...) {
      detail::free_handle_block(block, cls);
      throw;
    }
    return ::new (block) H(extra..., ops, std::move(label), threadsafe, debug, cls);
  }

  // make() without the loop lookup; the loop passes its own debug flag.
  template <class F>
  static HandleRef create(F&& callback, Label label, bool threadsafe, bool debug) {
    return HandleRef::adopt(place<Handle>(std::forward<F>(callback), std::move(label), threadsafe, debug));
  }
  static bool loop_debug(const EventLoop* loop) noexcept;
  ~Handle() = default;

 private:
  friend class EventLoop;
  friend class TimerHandle;
  Handle(const detail::CallableOps* ops, Label&& label, bool threadsafe, bool debug, unsigned cls) noexcept
      : Handle(ops, std::move(label), threadsafe, false, debug, cls) {}

  // The callable sits right after the handle's own fields.
  void* callable() noexcept;
  // Frees the block; a plain handle (nothing to destroy, nothing recorded) skips the rest.
  void destroy() const noexcept {
    if (flag(kPlainFree)) {
      detail::free_handle_block(const_cast<Handle*>(this), block_class());
      return;
    }
    destroy_slow();
  }
  void destroy_slow() const noexcept;
  void drop_callable() noexcept;
  // A handle cancelled while it ran drops its callable now.
  void finish_invoke() noexcept {
    set_flag(kRunning, false);
    if (!threadsafe_ && cancelled()) drop_callable();
  }

  // flags_ bits. A byte of its own, not bit-fields: the constructor then stores the first
  // word whole, where bit-fields made it load the (cold) pool block first to merge bits.
  static constexpr uint8_t kRunning = 1;         // inside invoke(): cancel() must not destroy the callable
  static constexpr uint8_t kScheduled = 2;       // TimerHandle only: still in the loop's heap
  static constexpr uint8_t kCreatedInDebug = 4;  // CPython keeps the repr of a handle cancelled in debug mode
  static constexpr uint8_t kPlainFree = 8;       // destroy() only frees the block
  static constexpr unsigned kClassShift = 4;     // two bits: which pool the block returns to
  bool flag(uint8_t bit) const noexcept { return flags_ & bit; }
  void set_flag(uint8_t bit, bool on) noexcept { flags_ = on ? flags_ | bit : flags_ & ~bit; }
  bool created_in_debug() const noexcept { return flag(kCreatedInDebug); }
  bool scheduled() const noexcept { return flag(kScheduled); }
  void set_scheduled(bool on) noexcept { set_flag(kScheduled, on); }
  unsigned block_class() const noexcept { return flags_ >> kClassShift; }

  // 24 bytes (40 for a TimerHandle), then the callable. threadsafe_ and cancelled_ are read
  // by other threads, so they get bytes of their own; flags_ belongs to the loop's thread.
  mutable uint32_t refcount_ = 1;
  const bool threadsafe_;
  const bool timer_;
  std::atomic<bool> cancelled_{false};
  uint8_t flags_;
  Label label_;
  const detail::CallableOps* ops_;  // null once the callable is dropped
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
  TimerHandle(EventLoop* loop, double when, const detail::CallableOps* ops, Label&& label, bool threadsafe, bool debug,
              unsigned cls) noexcept
      : Handle(ops, std::move(label), threadsafe, true, debug, cls), loop_(loop), when_(when) {}

  template <class F>
  static TimerHandleRef create(double when, F&& callback, Label label, EventLoop* loop, bool debug) {
    return TimerHandleRef::adopt(place<TimerHandle>(std::forward<F>(callback), std::move(label), false, debug, loop, when));
  }
  ~TimerHandle() = default;

  EventLoop* loop_;  // told when a scheduled timer is cancelled; may be null
  double when_;
};

inline void* Handle::callable() noexcept {
  return reinterpret_cast<unsigned char*>(this) + (timer_ ? sizeof(TimerHandle) : sizeof(Handle));
}

}  // namespace loopcheck
