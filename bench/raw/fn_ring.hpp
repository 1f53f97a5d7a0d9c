// FnRing: a growable power-of-two ring of plain function pointers, the least a FIFO ready
// queue can be (no handle objects, no reference counts, no cancellation).
#pragma once

#include <cstddef>
#include <vector>

namespace loopcheck::bench::raw {

using Fn = void (*)();

class FnRing {
 public:
  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }
  void push(Fn fn) {
    if (size() == buf_.size()) grow();
    buf_[tail_++ & (buf_.size() - 1)] = fn;
  }
  Fn pop() noexcept { return buf_[head_++ & (buf_.size() - 1)]; }

 private:
  void grow() {
    std::vector<Fn> bigger(buf_.empty() ? 64 : buf_.size() * 2);
    for (std::size_t i = 0, n = size(); i < n; ++i) bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    tail_ = size();
    head_ = 0;
    buf_.swap(bigger);
  }

  std::vector<Fn> buf_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

}  // namespace loopcheck::bench::raw
