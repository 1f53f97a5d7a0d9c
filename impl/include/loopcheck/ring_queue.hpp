// RingQueue: a growable FIFO of trivially copyable items on a power-of-two ring buffer
// (the loop's ready queue, CPython's `collections.deque`).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace loopcheck {

template <class T>
  requires std::is_trivially_copyable_v<T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  ~RingQueue() { std::free(buf_); }

  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }

  void push_back(T v) {
    reserve_one();
    push_back_reserved(v);
  }
  // Makes room for one more item (the only step of push_back() that may throw or call out).
  void reserve_one() {
    if (size() == cap_) grow();
  }
  // Precondition: size() < capacity, e.g. right after reserve_one().
  void push_back_reserved(T v) noexcept { buf_[tail_++ & (cap_ - 1)] = v; }
  // Precondition: !empty().
  T pop_front() noexcept { return buf_[head_++ & (cap_ - 1)]; }
  // An empty queue starts again at the front of its buffer. Indices otherwise keep walking
  // through the whole buffer, so after one big batch every later push would land on a cold
  // line (or, the first time round, on a page never touched).
  void rewind_if_empty() noexcept {
    if (head_ == tail_) head_ = tail_ = 0;
  }
  // Precondition: i < size(). 0 is the front.
  T operator[](std::size_t i) const noexcept { return buf_[(head_ + i) & (cap_ - 1)]; }

 private:
  // Out of line: push_back() is inlined in every call_soon().
  [[gnu::noinline]] void grow() {
    std::size_t new_cap = cap_ ? cap_ * 2 : 64;
    T* nb = static_cast<T*>(std::malloc(new_cap * sizeof(T)));
    if (!nb) throw std::bad_alloc();
    std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) nb[i] = (*this)[i];
    std::free(buf_);
    buf_ = nb;
    cap_ = new_cap;
    head_ = 0;
    tail_ = n;
  }

  T* buf_ = nullptr;
  std::size_t cap_ = 0;   // 0 or a power of two
  std::size_t head_ = 0;  // monotonically increasing indices, masked on access
  std::size_t tail_ = 0;
};

}  // namespace loopcheck
