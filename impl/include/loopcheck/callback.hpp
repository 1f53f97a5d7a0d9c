// Callback: a move-only `void()` callable with inline storage, and Label: the text that
// stands in for CPython's `name(args)` in handle reprs and log records.
//
// Callables up to Callback::kInlineSize bytes (and nothrow-movable) live inside the
// Callback, so scheduling a small lambda allocates nothing; bigger ones go to the heap.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace loopcheck {

class Callback {
 public:
  static constexpr std::size_t kInlineSize = 48;

  Callback() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, Callback> && std::is_invocable_r_v<void, std::decay_t<F>&>)
  Callback(F&& f) {  // NOLINT: implicit on purpose, call_soon([..]{...}) reads naturally
    using Fn = std::decay_t<F>;
    if constexpr (fits_inline<Fn>()) {
      ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
      ops_ = &inline_ops<Fn>;
    } else {
      *reinterpret_cast<Fn**>(storage_) = new Fn(std::forward<F>(f));
      ops_ = &heap_ops<Fn>;
    }
  }

  Callback(Callback&& other) noexcept { take(other); }
  Callback& operator=(Callback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;
  ~Callback() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->invoke(storage_); }
  // Destroys the callable (CPython's `self._callback = None`).
  void reset() noexcept {
    if (ops_) {
      const Ops* ops = ops_;
      ops_ = nullptr;
      ops->destroy(storage_);
    }
  }

 private:
  struct Ops {
    void (*invoke)(void*);
    void (*move)(void* from, void* to) noexcept;  // move-construct into `to`, destroy `from`
    void (*destroy)(void*) noexcept;
  };

  template <class Fn>
  static constexpr bool fits_inline() {
    return sizeof(Fn) <= kInlineSize && alignof(Fn) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<Fn>;
  }

  template <class Fn>
  static constexpr Ops inline_ops = {
      [](void* p) { (*std::launder(static_cast<Fn*>(p)))(); },
      [](void* from, void* to) noexcept {
        Fn* src = std::launder(static_cast<Fn*>(from));
        ::new (to) Fn(std::move(*src));
        src->~Fn();
      },
      [](void* p) noexcept { std::launder(static_cast<Fn*>(p))->~Fn(); },
  };

  template <class Fn>
  static constexpr Ops heap_ops = {
      [](void* p) { (**static_cast<Fn**>(p))(); },
      [](void* from, void* to) noexcept { *static_cast<Fn**>(to) = *static_cast<Fn**>(from); },
      [](void* p) noexcept { delete *static_cast<Fn**>(p); },
  };

  void take(Callback& other) noexcept {
    if (other.ops_) {
      other.ops_->move(other.storage_, storage_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) unsigned char storage_[kInlineSize];
  const Ops* ops_ = nullptr;
};

// The text shown for a callback where CPython shows `name(args)`: in "Exception in callback
// <label>", in `<Handle <label>>`, in "Executing <Handle <label>> took ...".
//
// A string literal is kept by pointer (no allocation); any other text is copied. An empty
// Label shows as kDefaultLabel.
class Label {
 public:
  static constexpr std::string_view kDefaultLabel = "<callback>";

  Label() noexcept = default;
  // String literals only: the array must outlive every handle that uses the label.
  template <std::size_t N>
  Label(const char (&literal)[N]) noexcept : static_(literal), static_len_(N - 1) {}  // NOLINT
  Label(std::string text) : owned_(std::make_unique<std::string>(std::move(text))) {}  // NOLINT
  Label(std::string_view text) : owned_(std::make_unique<std::string>(text)) {}        // NOLINT

  Label(Label&&) noexcept = default;
  Label& operator=(Label&&) noexcept = default;
  Label(const Label& other) { *this = other; }
  Label& operator=(const Label& other) {
    if (this != &other) {
      static_ = other.static_;
      static_len_ = other.static_len_;
      owned_ = other.owned_ ? std::make_unique<std::string>(*other.owned_) : nullptr;
    }
    return *this;
  }

  bool empty() const noexcept { return !owned_ && static_len_ == 0; }
  // The text to show (kDefaultLabel when empty).
  std::string_view view() const noexcept {
    if (owned_) return owned_->empty() ? kDefaultLabel : std::string_view(*owned_);
    return static_len_ ? std::string_view(static_, static_len_) : kDefaultLabel;
  }
  std::string str() const { return std::string(view()); }

 private:
  const char* static_ = nullptr;
  std::size_t static_len_ = 0;
  std::unique_ptr<std::string> owned_;
};

}  // namespace loopcheck
