// The timer heap is Python's heapq, step for step: pop orders with many equal keys match
// sequences recorded from CPython's heapq (Lib/heapq.py, same as the C accelerator).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "../src/heapq.hpp"

namespace {

struct Item {
  int when;
  int id;
};
struct Less {
  bool operator()(const Item& a, const Item& b) const { return a.when < b.when; }
};

// The generator the recording used: state = (state * 1103515245 + 12345) % 2**31; value = state >> 8.
struct Lcg {
  uint64_t state = 12345;
  uint64_t next() {
    state = (state * 1103515245 + 12345) % (uint64_t{1} << 31);
    return state >> 8;
  }
};

}  // namespace

TEST(Heapq, PushPopHistoryWithTiesMatchesCpython) {
  // 300 steps: 70 % push (key = random % 5), 30 % pop; then pop the rest.
  Lcg lcg;
  std::vector<Item> heap;
  std::vector<int> out;
  int next_id = 0;
  for (int step = 0; step < 300; ++step) {
    if (lcg.next() % 10 < 7 || heap.empty()) {
      int when = static_cast<int>(lcg.next() % 5);
      loopcheck::heapq::heappush(heap, Item{when, next_id++}, Less{});
    } else {
      out.push_back(loopcheck::heapq::heappop(heap, Less{}).id);
    }
  }
  while (!heap.empty()) out.push_back(loopcheck::heapq::heappop(heap, Less{}).id);
  const std::vector<int> expected = {
      3, 0, 1, 2, 6, 5, 4, 10, 13, 20, 18, 12, 26, 28, 27, 38, 32, 40, 47, 48, 33, 45, 22, 49, 54, 53,
      59, 55, 36, 8, 52, 65, 69, 75, 81, 64, 82, 74, 77, 78, 70, 89, 91, 88, 94, 80, 98, 99, 103, 105,
      106, 110, 111, 104, 97, 72, 117, 119, 120, 124, 84, 61, 67, 56, 130, 134, 138, 137, 140, 142,
      145, 154, 158, 148, 165, 173, 177, 178, 166, 182, 169, 190, 176, 185, 180, 201, 189, 204, 195,
      207, 208, 196, 197, 199, 202, 205, 206, 181, 151, 152, 160, 167, 63, 123, 129, 146, 131, 132,
      122, 62, 115, 116, 209, 96, 90, 172, 200, 57, 102, 85, 113, 108, 164, 9, 186, 192, 188, 175, 92,
      159, 46, 100, 25, 107, 14, 42, 41, 51, 179, 93, 39, 161, 163, 31, 24, 155, 157, 183, 66, 156,
      79, 17, 149, 141, 143, 191, 30, 68, 136, 16, 133, 15, 121, 118, 101, 171, 19, 114, 95, 87, 187,
      37, 174, 125, 50, 139, 11, 44, 23, 170, 7, 144, 34, 203, 73, 193, 86, 153, 35, 71, 112, 198, 58,
      127, 128, 109, 60, 162, 21, 126, 76, 150, 135, 184, 43, 194, 29, 83, 168, 147};
  EXPECT_EQ(out, expected);

  // Then heapify 64 items with keys random % 4 and pop them all.
  std::vector<Item> items;
  for (int i = 0; i < 64; ++i) items.push_back(Item{static_cast<int>(lcg.next() % 4), i});
  loopcheck::heapq::heapify(items, Less{});
  std::vector<int> popped;
  while (!items.empty()) popped.push_back(loopcheck::heapq::heappop(items, Less{}).id);
  const std::vector<int> expected_heapify = {
      61, 14, 59, 29, 2, 31, 28, 26, 5, 24, 47, 46, 39, 19, 32, 15, 7, 63, 62, 60, 58, 13, 54, 11, 48,
      10, 21, 38, 18, 8, 37, 57, 34, 33, 3, 30, 55, 0, 23, 56, 45, 41, 52, 53, 12, 6, 50, 20, 1, 22,
      4, 25, 27, 42, 36, 51, 49, 40, 9, 44, 35, 43, 16, 17};
  EXPECT_EQ(popped, expected_heapify);
}
