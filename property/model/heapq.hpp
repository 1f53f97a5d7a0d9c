// Python's heapq algorithm (heappush, heappop, heapify), written plainly as the oracle for
// the reference loop's timer heap. Equal keys come out in the order this exact algorithm
// produces, which is why it is reproduced step by step rather than replaced by
// std::push_heap: heappush sifts the new item towards the root; heappop moves the last item
// to the root, walks the hole down to a leaf always taking the smaller child (the right one
// on ties), then sifts the item back up; heapify runs that leaf-first sift-up from the last
// parent to the root. Only `less(a, b)` (strict <) is ever asked.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace loopcheck::model {

namespace heapq_detail {

// Moves heap[pos] towards `start` while it is smaller than its parent.
template <class T, class Less>
void sift_towards_root(std::vector<T>& heap, std::size_t start, std::size_t pos, Less& less) {
  T item = std::move(heap[pos]);
  while (pos > start) {
    std::size_t parent = (pos - 1) / 2;
    if (!less(item, heap[parent])) break;
    heap[pos] = std::move(heap[parent]);
    pos = parent;
  }
  heap[pos] = std::move(item);
}

// Walks the hole at `pos` down to a leaf along the smaller children, then puts the item
// that was at `pos` there and sifts it back towards `pos`.
template <class T, class Less>
void sift_to_leaf_then_back(std::vector<T>& heap, std::size_t pos, Less& less) {
  const std::size_t end = heap.size();
  const std::size_t start = pos;
  T item = std::move(heap[pos]);
  std::size_t child = 2 * pos + 1;
  while (child < end) {
    std::size_t right = child + 1;
    // The right child wins unless the left one is strictly smaller.
    if (right < end && !less(heap[child], heap[right])) child = right;
    heap[pos] = std::move(heap[child]);
    pos = child;
    child = 2 * pos + 1;
  }
  heap[pos] = std::move(item);
  sift_towards_root(heap, start, pos, less);
}

}  // namespace heapq_detail

template <class T, class Less>
void heappush(std::vector<T>& heap, T item, Less less) {
  heap.push_back(std::move(item));
  heapq_detail::sift_towards_root(heap, 0, heap.size() - 1, less);
}

// Precondition: !heap.empty().
template <class T, class Less>
T heappop(std::vector<T>& heap, Less less) {
  T last = std::move(heap.back());
  heap.pop_back();
  if (heap.empty()) return last;
  T top = std::move(heap.front());
  heap.front() = std::move(last);
  heapq_detail::sift_to_leaf_then_back(heap, 0, less);
  return top;
}

template <class T, class Less>
void heapify(std::vector<T>& heap, Less less) {
  for (std::size_t i = heap.size() / 2; i-- > 0;) heapq_detail::sift_to_leaf_then_back(heap, i, less);
}

}  // namespace loopcheck::model
