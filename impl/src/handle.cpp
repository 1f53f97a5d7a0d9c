// Handle / TimerHandle: cancel, repr, destruction, and the per-thread block pools they live in.
#include "loopcheck/handle.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/source_location.hpp"

namespace loopcheck {

namespace detail {

thread_local constinit HandlePool t_handle_pool{};

namespace {

constexpr std::size_t kCacheLine = 64;
constexpr std::size_t kSlabBlocks = 512;

// Slabs and the free runs of exited threads, shared by all threads. Never destroyed:
// handles may be released during static destruction, and the slabs stay reachable for leak
// checkers.
struct SharedBlocks {
  std::mutex mu;
  std::vector<void*> slabs;
  std::vector<BlockRun> spare[kBlockClasses];
};
SharedBlocks& shared_blocks() {
  static SharedBlocks* shared = new SharedBlocks;
  return *shared;
}

void push_run(HandlePool& pool, unsigned cls, BlockRun run) {
  if (pool.count[cls] == pool.capacity[cls]) {
    std::size_t capacity = pool.capacity[cls] ? pool.capacity[cls] * 2 : 64;
    void* grown = std::realloc(pool.runs[cls], capacity * sizeof(BlockRun));
    if (!grown) throw std::bad_alloc();
    pool.runs[cls] = static_cast<BlockRun*>(grown);
    pool.capacity[cls] = capacity;
  }
  pool.runs[cls][pool.count[cls]++] = run;
}

// Gives this thread's blocks to the spare list when the thread exits.
struct PoolCleanup {
  bool armed = false;
  ~PoolCleanup() {
    HandlePool& pool = t_handle_pool;
    pool.closed = true;
    SharedBlocks& shared = shared_blocks();
    std::lock_guard lock(shared.mu);
    for (unsigned i = 0; i < kBlockClasses; ++i) {
      shared.spare[i].insert(shared.spare[i].end(), pool.runs[i], pool.runs[i] + pool.count[i]);
      std::free(pool.runs[i]);
      pool.runs[i] = nullptr;
      pool.count[i] = pool.capacity[i] = 0;
    }
  }
};
thread_local PoolCleanup t_pool_cleanup;

// A thread that has made this many slabs gets the next ones from huge-page chunks.
constexpr std::size_t kSmallSlabs = 64;
constexpr std::size_t kChunkSize = std::size_t{2} << 20;  // one x86-64 huge page

// The huge-page chunk a thread cuts its slabs from (per block class).
struct SlabChunk {
  unsigned char* next = nullptr;
  unsigned char* end = nullptr;
  std::size_t slabs_made = 0;
};
thread_local constinit SlabChunk t_slab_chunk[kBlockClasses]{};

unsigned char* allocate_recorded(std::size_t size, std::size_t align) {
  auto* p = static_cast<unsigned char*>(::operator new(size, std::align_val_t{align}));
  SharedBlocks& shared = shared_blocks();
  std::lock_guard lock(shared.mu);
  shared.slabs.push_back(p);
  return p;
}

// A new slab of kSlabBlocks blocks. The first ones are small allocations of their own; a
// thread that keeps needing more (a batch of a million handles) cuts them from 2 MiB
// chunks marked for transparent huge pages, so that walking the batch costs one TLB entry
// per 2 MiB instead of one per 4 KiB. A thread that exits leaves the rest of its current
// chunks unused: at most one per block class, and only in a thread that already made more
// than kSmallSlabs slabs of that kind.
unsigned char* new_slab(unsigned cls) {
  const std::size_t slab_size = kSlabBlocks * kBlockSizes[cls];
  SlabChunk& chunk = t_slab_chunk[cls];
  if (chunk.slabs_made++ < kSmallSlabs) return allocate_recorded(slab_size, kCacheLine);
  if (static_cast<std::size_t>(chunk.end - chunk.next) < slab_size) {
    chunk.next = allocate_recorded(kChunkSize, kChunkSize);
    chunk.end = chunk.next + kChunkSize;
    ::madvise(chunk.next, kChunkSize, MADV_HUGEPAGE);  // only a hint: failure changes nothing
  }
  unsigned char* slab = chunk.next;
  chunk.next += slab_size;
  return slab;
}

// Refills an empty pool with a run from the spare list, or with a new slab.
void refill(HandlePool& pool, unsigned cls) {
  if (!pool.registered) {
    t_pool_cleanup.armed = true;  // touching it registers its destructor for this thread
    pool.registered = true;
  }
  SharedBlocks& shared = shared_blocks();
  {
    std::lock_guard lock(shared.mu);
    std::vector<BlockRun>& spare = shared.spare[cls];
    if (!spare.empty()) {
      push_run(pool, cls, spare.back());
      spare.pop_back();
      return;
    }
  }
  unsigned char* slab = new_slab(cls);
  push_run(pool, cls, {slab, slab + kSlabBlocks * kBlockSizes[cls]});
}

}  // namespace

void* alloc_handle_block_slow(unsigned cls) {
  if constexpr (!kPoolHandles) return ::operator new(kBlockSizes[cls]);
  HandlePool& pool = t_handle_pool;
  if (pool.closed) {
    // A handle made during thread exit: take one block from the shared lists.
    SharedBlocks& shared = shared_blocks();
    std::lock_guard lock(shared.mu);
    if (!shared.spare[cls].empty()) {
      BlockRun& run = shared.spare[cls].back();
      unsigned char* b = run.start;
      run.start += kBlockSizes[cls];
      if (run.start == run.end) shared.spare[cls].pop_back();
      return b;
    }
    auto* slab = static_cast<unsigned char*>(::operator new(kBlockSizes[cls], std::align_val_t{kCacheLine}));
    shared.slabs.push_back(slab);
    return slab;
  }
  refill(pool, cls);
  return alloc_handle_block(cls);
}

void free_handle_block_slow(void* block, unsigned cls) noexcept {
  if constexpr (!kPoolHandles) {
    ::operator delete(block);
    return;
  }
  HandlePool& pool = t_handle_pool;
  if (!pool.closed) {
    try {
      if (!pool.registered) {
        t_pool_cleanup.armed = true;
        pool.registered = true;
      }
      auto* b = static_cast<unsigned char*>(block);
      push_run(pool, cls, {b, b + kBlockSizes[cls]});
      return;
    } catch (...) {
      // Out of memory for the run array: fall through to the shared list.
    }
  }
  SharedBlocks& shared = shared_blocks();
  std::lock_guard lock(shared.mu);
  try {
    auto* b = static_cast<unsigned char*>(block);
    shared.spare[cls].push_back({b, b + kBlockSizes[cls]});
  } catch (...) {
    // Nowhere to keep it: the block stays in its slab, unused.
  }
}

}  // namespace detail

bool Handle::loop_debug(const EventLoop* loop) noexcept { return loop != nullptr && loop->get_debug(); }

void Handle::drop_callable() noexcept {
  if (const detail::CallableOps* ops = std::exchange(ops_, nullptr); ops && ops->destroy) ops->destroy(callable());
}

void Handle::destroy_slow() const noexcept {
  Handle* self = const_cast<Handle*>(this);
  // The block may next hold a debug handle made without a recorded site.
  if (created_in_debug()) [[unlikely]] detail::forget_handle_origin(this);
  self->drop_callable();
  unsigned cls = block_class();
  if (timer_)
    static_cast<TimerHandle*>(self)->~TimerHandle();
  else
    self->~Handle();
  detail::free_handle_block(self, cls);
}

void Handle::cancel() noexcept {
  if (threadsafe_) {
    // May race with the loop running it: only the flag changes; the callable stays until the
    // handle is destroyed.
    cancelled_.store(true, std::memory_order_relaxed);
    return;
  }
  if (cancelled_.load(std::memory_order_relaxed)) return;
  if (timer_ && scheduled()) {
    auto& timer = static_cast<TimerHandle&>(*this);
    if (timer.loop_) timer.loop_->timer_handle_cancelled(timer);
  }
  cancelled_.store(true, std::memory_order_relaxed);
  // CPython drops the callback at once (self._callback = None); a running one is dropped
  // when it returns.
  if (!flag(kRunning)) drop_callable();
}

std::string Handle::repr() const {
  // Handle._repr_info, with TimerHandle's `when=` after "cancelled" when there is one.
  std::string out = timer_ ? "<TimerHandle" : "<Handle";
  bool is_cancelled = cancelled();
  if (is_cancelled) out += " cancelled";
  if (timer_) out += " when=" + py_repr(static_cast<const TimerHandle*>(this)->when());
  // CPython freezes the repr at cancel time in debug mode, so it keeps the callback text.
  if (!is_cancelled || created_in_debug()) {
    out += ' ';
    out += label();
  }
  if (created_in_debug()) {
    if (auto where = detail::handle_origin(this)) out += " created at " + where->str();
  }
  out += '>';
  return out;
}

}  // namespace loopcheck

namespace loopcheck {
// With a one-pointer callable a Handle takes 32 bytes: a batch of a million call_soon()
// touches as little memory as possible. The biggest in-place callable must fit the biggest
// block.
static_assert(sizeof(void*) != 8 || sizeof(Handle) == 24, "Handle's fields grew");
static_assert(sizeof(void*) != 8 || sizeof(TimerHandle) == 40, "TimerHandle's fields grew");
static_assert(sizeof(TimerHandle) + detail::kMaxInlineCallable <= detail::kBlockSizes[detail::kBlockClasses - 1]);
}  // namespace loopcheck
