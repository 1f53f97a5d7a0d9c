// Python's heapq algorithm on a std::vector, step for step (Lib/heapq.py): heappush sifts
// the new item toward the root; heappop moves the last item to the root, walks the hole
// down to a leaf always taking the smaller child (the right one on ties), then sifts the item
// back up; heapify runs that sift-up from the last parent to the root. Only `less` is used,
// so items that compare equal come out in exactly CPython's order.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace loopcheck::heapq {

// heapq._siftdown: move heap[pos] toward start_pos while it is less than its parent.
template <class T, class Less>
void sift_down(std::vector<T>& heap, std::size_t start_pos, std::size_t pos, Less less) {
  T new_item = std::move(heap[pos]);
  while (pos > start_pos) {
    std::size_t parent_pos = (pos - 1) >> 1;
    if (less(new_item, heap[parent_pos])) {
      heap[pos] = std::move(heap[parent_pos]);
      pos = parent_pos;
      continue;
    }
    break;
  }
  heap[pos] = std::move(new_item);
}

// heapq._siftup: bubble the smaller child up until a leaf is reached, then place the item
// there and sift it down toward `pos`.
template <class T, class Less>
void sift_up(std::vector<T>& heap, std::size_t pos, Less less) {
  std::size_t end_pos = heap.size();
  std::size_t start_pos = pos;
  T new_item = std::move(heap[pos]);
  std::size_t child_pos = 2 * pos + 1;
  while (child_pos < end_pos) {
    std::size_t right_pos = child_pos + 1;
    if (right_pos < end_pos && !less(heap[child_pos], heap[right_pos])) child_pos = right_pos;
    heap[pos] = std::move(heap[child_pos]);
    pos = child_pos;
    child_pos = 2 * pos + 1;
  }
  heap[pos] = std::move(new_item);
  sift_down(heap, start_pos, pos, less);
}

template <class T, class Less>
void heappush(std::vector<T>& heap, T item, Less less) {
  heap.push_back(std::move(item));
  sift_down(heap, 0, heap.size() - 1, less);
}

// Precondition: !heap.empty().
template <class T, class Less>
T heappop(std::vector<T>& heap, Less less) {
  T last = std::move(heap.back());
  heap.pop_back();
  if (heap.empty()) return last;
  T top = std::move(heap[0]);
  heap[0] = std::move(last);
  sift_up(heap, 0, less);
  return top;
}

template <class T, class Less>
void heapify(std::vector<T>& heap, Less less) {
  std::size_t n = heap.size();
  for (std::size_t i = n / 2; i-- > 0;) sift_up(heap, i, less);
}

}  // namespace loopcheck::heapq
