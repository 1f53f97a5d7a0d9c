// The per-thread block pools handles live in: a block is never handed out while it is in
// use, freed blocks are used again, and blocks freed in the order they were taken (a ready
// queue's batch) come back in the same order -- the pool keeps them as runs of adjacent
// blocks. With ASan the pools are off (operator new per block): the checks that need
// pooling skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "loopcheck/handle.hpp"

using namespace loopcheck;
using detail::alloc_handle_block;
using detail::free_handle_block;
using detail::kBlockClasses;
using detail::kBlockSizes;

namespace {

struct Live {
  void* block;
  unsigned cls;
};

// Fails if [block, block + size) overlaps a block still in use.
void expect_disjoint(const std::vector<Live>& live, void* block, unsigned cls) {
  auto* b = static_cast<unsigned char*>(block);
  for (const Live& l : live) {
    auto* o = static_cast<unsigned char*>(l.block);
    ASSERT_TRUE(b + kBlockSizes[cls] <= o || o + kBlockSizes[l.cls] <= b)
        << "block " << block << " (class " << cls << ") overlaps live block " << l.block;
  }
}

}  // namespace

TEST(HandlePool, RandomTakesAndFreesNeverHandOutABlockInUse) {
  std::mt19937 rng(20261205);
  std::vector<Live> live;
  for (int step = 0; step < 20000; ++step) {
    bool take = live.empty() || rng() % 3 != 0;
    if (take) {
      unsigned cls = rng() % kBlockClasses;
      void* b = alloc_handle_block(cls);
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(b) % alignof(void*), 0u);
      if (step % 16 == 0) expect_disjoint(live, b, cls);  // O(n): not on every step
      live.push_back({b, cls});
    } else {
      std::size_t i = rng() % live.size();
      free_handle_block(live[i].block, live[i].cls);
      live[i] = live.back();
      live.pop_back();
    }
  }
  std::set<void*> distinct;
  for (const Live& l : live) ASSERT_TRUE(distinct.insert(l.block).second) << l.block << " handed out twice";
  for (const Live& l : live) free_handle_block(l.block, l.cls);
}

TEST(HandlePool, ABatchFreedInOrderComesBackInTheSameOrder) {
  if constexpr (!detail::kPoolHandles) GTEST_SKIP() << "no pools under ASan";
  constexpr std::size_t n = 5000;  // several slabs
  std::vector<void*> first(n), second(n);
  std::size_t runs_before = 0, runs_after = 0;
  std::thread([&] {  // a thread of its own starts with an empty pool
    for (void*& b : first) b = alloc_handle_block(0);
    runs_before = detail::t_handle_pool.count[0];
    for (void* b : first) free_handle_block(b, 0);
    runs_after = detail::t_handle_pool.count[0];
    for (void*& b : second) b = alloc_handle_block(0);
    for (void* b : second) free_handle_block(b, 0);
  }).join();
  EXPECT_LE(runs_after - runs_before, n / 100) << "adjacent freed blocks join runs";
  std::vector<void*> a = first, b = second;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b) << "the batch's own blocks are used again, before older free ones";
  // Within each run of adjacent blocks the second batch walks upwards, as the first did.
  std::size_t ascending = 0;
  for (std::size_t i = 1; i < n; ++i)
    ascending += static_cast<unsigned char*>(second[i]) == static_cast<unsigned char*>(second[i - 1]) + kBlockSizes[0];
  EXPECT_GT(ascending, n * 9 / 10);
}

TEST(HandlePool, ABlockFreedAndTakenAgainIsTheSameBlock) {
  if constexpr (!detail::kPoolHandles) GTEST_SKIP() << "no pools under ASan";
  void* keep = alloc_handle_block(1);  // the pool's top run is not empty or adjacent
  void* b = alloc_handle_block(1);
  free_handle_block(b, 1);
  EXPECT_EQ(alloc_handle_block(1), b) << "chained callbacks reuse the warm block";
  free_handle_block(b, 1);
  free_handle_block(keep, 1);
}

TEST(HandlePool, BlocksOfAnExitedThreadAreUsedAgainOnce) {
  std::vector<void*> from_thread;
  std::thread([&] {
    for (int i = 0; i < 3000; ++i) from_thread.push_back(alloc_handle_block(2));
    for (std::size_t i = 0; i < from_thread.size(); i += 2) free_handle_block(from_thread[i], 2);
  }).join();  // the thread's pool (every other block, and its slab's rest) goes to the spare list
  std::vector<void*> taken;
  std::thread([&] {
    for (int i = 0; i < 6000; ++i) taken.push_back(alloc_handle_block(2));
    for (void* b : taken) free_handle_block(b, 2);
  }).join();
  std::set<void*> in_use;
  for (std::size_t i = 1; i < from_thread.size(); i += 2) in_use.insert(from_thread[i]);
  std::set<void*> distinct;
  for (void* b : taken) {
    EXPECT_EQ(in_use.count(b), 0u) << b << " was still in use";
    EXPECT_TRUE(distinct.insert(b).second) << b << " handed out twice";
  }
  for (std::size_t i = 1; i < from_thread.size(); i += 2) free_handle_block(from_thread[i], 2);
}
