// Handle / TimerHandle: cancel, repr, invoke, and the per-thread block pool they live in.
#include "loopcheck/handle.hpp"

#include <algorithm>
#include <cstdlib>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck {

namespace detail {
namespace {

// ASan must see every allocation and free to catch a use after free; TSan keeps the pool, so
// blocks crossing threads through it are checked too.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooling = false;
#else
constexpr bool kPooling = true;
#endif

constexpr std::size_t kMaxPooledBlocks = 1 << 16;

struct FreeBlock {
  FreeBlock* next;
};

// One free list per block size and thread. A block freed on a thread whose pool is already
// gone (thread exit) goes straight back to the heap.
struct FreeList {
  FreeBlock* head = nullptr;
  std::size_t count = 0;
  ~FreeList();
};

thread_local bool t_pools_dead = false;  // trivially destructible: valid during thread exit

struct Pools {
  FreeList lists[2];
  ~Pools() { t_pools_dead = true; }
};

thread_local Pools t_pools;

FreeList::~FreeList() {
  while (head) {
    FreeBlock* b = head;
    head = b->next;
    ::operator delete(b);
  }
}

std::size_t block_size(bool timer) {
  return std::max(timer ? sizeof(TimerHandle) : sizeof(Handle), sizeof(FreeBlock));
}

}  // namespace

void* alloc_handle_block(bool timer) {
  if (kPooling && !t_pools_dead) {
    FreeList& list = t_pools.lists[timer];
    if (FreeBlock* b = list.head) {
      list.head = b->next;
      --list.count;
      return b;
    }
  }
  return ::operator new(block_size(timer));
}

void free_handle_block(void* block, bool timer) noexcept {
  if (kPooling && !t_pools_dead) {
    FreeList& list = t_pools.lists[timer];
    if (list.count < kMaxPooledBlocks) {
      list.head = ::new (block) FreeBlock{list.head};
      ++list.count;
      return;
    }
  }
  ::operator delete(block);
}

}  // namespace detail

void Handle::init_debug_repr() noexcept { created_in_debug_ = loop_ != nullptr && loop_->get_debug(); }

void Handle::destroy() const noexcept {
  Handle* self = const_cast<Handle*>(this);
  if (timer_) {
    static_cast<TimerHandle*>(self)->~TimerHandle();
    detail::free_handle_block(self, true);
  } else {
    self->~Handle();
    detail::free_handle_block(self, false);
  }
}

void Handle::cancel() noexcept {
  if (threadsafe_) {
    // May race with the loop running it: only the flag changes; the callable stays until the
    // handle is destroyed.
    cancelled_.store(true, std::memory_order_relaxed);
    return;
  }
  if (cancelled_.load(std::memory_order_relaxed)) return;
  if (timer_ && scheduled_ && loop_) loop_->timer_handle_cancelled(static_cast<TimerHandle&>(*this));
  cancelled_.store(true, std::memory_order_relaxed);
  // CPython drops the callback at once (self._callback = None); a running one is dropped
  // when it returns.
  if (!running_) callback_.reset();
}

std::string Handle::repr() const {
  std::string out = timer_ ? "<TimerHandle" : "<Handle";
  if (timer_) out += " when=" + py_repr(static_cast<const TimerHandle*>(this)->when());
  bool is_cancelled = cancelled();
  if (is_cancelled) out += " cancelled";
  // CPython freezes the repr at cancel time in debug mode, so it keeps the callback text.
  if (!is_cancelled || created_in_debug_) {
    out += ' ';
    out += label();
  }
  out += '>';
  return out;
}

void Handle::invoke() {
  if (cancelled()) return;
  struct RunningGuard {
    Handle* h;
    ~RunningGuard() {
      h->running_ = false;
      if (!h->threadsafe_ && h->cancelled()) h->callback_.reset();
    }
  } guard{this};
  running_ = true;
  callback_();
}

}  // namespace loopcheck
