// Callback: a move-only `void()` callable with inline storage, and Label: the text that
// stands in for CPython's `name(args)` in handle reprs and log records.
//
// Callables up to Callback::kInlineSize bytes (and nothrow-movable) live inside the
// Callback, so scheduling a small lambda allocates nothing; bigger ones go to the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace loopcheck {

class Callback {
 public:
  // 32 bytes inline (four pointers' worth of captures) keeps a Handle within one cache line.
  static constexpr std::size_t kInlineSize = 32;
  static constexpr std::size_t kInlineAlign = alignof(void*);

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
  // Unlike reset(), leaves ops_ alone: a store into a dying object would only dirty its
  // cache line.
  ~Callback() {
    if (ops_ && ops_->destroy) ops_->destroy(storage_);
  }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->invoke(storage_); }
  // Destroys the callable (CPython's `self._callback = None`).
  void reset() noexcept {
    if (ops_) {
      const Ops* ops = ops_;
      ops_ = nullptr;
      if (ops->destroy) ops->destroy(storage_);
    }
  }

 private:
  // move and destroy are null for trivially copyable inline callables (copied as bytes,
  // nothing to destroy), which keeps the common small lambda free of indirect calls.
  struct Ops {
    void (*invoke)(void*);
    void (*move)(void* from, void* to) noexcept;  // move-construct into `to`, destroy `from`
    void (*destroy)(void*) noexcept;
  };

  template <class Fn>
  static constexpr bool fits_inline() {
    return sizeof(Fn) <= kInlineSize && alignof(Fn) <= kInlineAlign &&
           std::is_nothrow_move_constructible_v<Fn>;
  }

  template <class Fn>
  static constexpr Ops inline_ops = {
      [](void* p) { (*std::launder(static_cast<Fn*>(p)))(); },
      std::is_trivially_copyable_v<Fn> ? nullptr
                                       : +[](void* from, void* to) noexcept {
                                           Fn* src = std::launder(static_cast<Fn*>(from));
                                           ::new (to) Fn(std::move(*src));
                                           src->~Fn();
                                         },
      std::is_trivially_destructible_v<Fn> ? nullptr
                                           : +[](void* p) noexcept { std::launder(static_cast<Fn*>(p))->~Fn(); },
  };

  template <class Fn>
  static constexpr Ops heap_ops = {
      [](void* p) { (**static_cast<Fn**>(p))(); },
      [](void* from, void* to) noexcept { *static_cast<Fn**>(to) = *static_cast<Fn**>(from); },
      [](void* p) noexcept { delete *static_cast<Fn**>(p); },
  };

  void take(Callback& other) noexcept {
    if (other.ops_) {
      if (other.ops_->move)
        other.ops_->move(other.storage_, storage_);
      else
        std::memcpy(storage_, other.storage_, kInlineSize);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  const Ops* ops_ = nullptr;
  alignas(kInlineAlign) unsigned char storage_[kInlineSize];
};

// The text shown for a callback where CPython shows `name(args)`: in "Exception in callback
// <label>", in `<Handle <label>>`, in "Executing <Handle <label>> took ...".
//
// A string literal is kept by pointer (no allocation); any other text is copied to the
// heap. An empty Label shows as kDefaultLabel. The Label is one tagged pointer wide.
class Label {
 public:
  static constexpr std::string_view kDefaultLabel = "<callback>";

  Label() noexcept = default;
  // String literals only: the array must outlive every handle that uses the label.
  template <std::size_t N>
  Label(const char (&literal)[N]) noexcept : bits_(reinterpret_cast<std::uintptr_t>(literal)) {}  // NOLINT
  // A writable char array is no literal (it may be a stack buffer): pass a std::string.
  template <std::size_t N>
  Label(char (&buffer)[N]) = delete;  // NOLINT
  Label(std::string text) : bits_(own(std::move(text))) {}                                         // NOLINT
  Label(std::string_view text) : bits_(own(std::string(text))) {}                                  // NOLINT

  Label(Label&& other) noexcept : bits_(std::exchange(other.bits_, 0)) {}
  Label& operator=(Label&& other) noexcept {
    if (this != &other) {
      release();
      bits_ = std::exchange(other.bits_, 0);
    }
    return *this;
  }
  Label(const Label& other) : bits_(other.owned() ? own(*other.owned()) : other.bits_) {}
  Label& operator=(const Label& other) {
    if (this != &other) *this = Label(other);
    return *this;
  }
  ~Label() { release(); }

  bool empty() const noexcept { return view_raw().empty(); }
  // The text to show (kDefaultLabel when empty).
  std::string_view view() const noexcept {
    std::string_view v = view_raw();
    return v.empty() ? kDefaultLabel : v;
  }
  std::string str() const { return std::string(view()); }

 private:
  // Literals may sit at any address, so the tag is the top bit, never set in a user-space
  // pointer on Linux.
  static constexpr std::uintptr_t kOwnedTag = std::uintptr_t{1} << (sizeof(std::uintptr_t) * 8 - 1);

  static std::uintptr_t own(std::string text) {
    return reinterpret_cast<std::uintptr_t>(new std::string(std::move(text))) | kOwnedTag;
  }
  const std::string* owned() const noexcept {
    return (bits_ & kOwnedTag) ? reinterpret_cast<const std::string*>(bits_ & ~kOwnedTag) : nullptr;
  }
  std::string_view view_raw() const noexcept {
    if (const std::string* s = owned()) return *s;
    return bits_ ? std::string_view(reinterpret_cast<const char*>(bits_)) : std::string_view();
  }
  void release() noexcept { delete owned(); }

  std::uintptr_t bits_ = 0;  // 0, a literal's address, or (owned std::string*) | kOwnedTag
};

}  // namespace loopcheck
