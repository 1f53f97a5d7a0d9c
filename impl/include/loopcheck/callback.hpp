// Callback: a move-only `void()` callable with inline storage, and Label: the text that
// stands in for CPython's `name(args)` in handle reprs and log records.
//
// Callables up to Callback::kInlineSize bytes (and nothrow-movable) live inside the
// Callback, so passing a small lambda allocates nothing; bigger ones go to the heap. The
// same type-erasure (detail::CallableOps) stores callables inside Handles.
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

namespace detail {

// How a type-erased callable is run, moved and destroyed. move and destroy are null for
// trivially copyable inline callables (copied as bytes, nothing to destroy), which keeps the
// common small lambda free of indirect calls. `footprint` is the bytes the callable occupies
// where it is stored: its size rounded up to a pointer, or one pointer when it lives on the
// heap.
struct CallableOps {
  void (*invoke)(void*);
  void (*move)(void* from, void* to) noexcept;  // move-construct into `to`, destroy `from`
  void (*destroy)(void*) noexcept;
  std::size_t footprint;
};

inline constexpr std::size_t kCallableAlign = alignof(void*);

constexpr std::size_t round_to_pointer(std::size_t n) { return (n + kCallableAlign - 1) / kCallableAlign * kCallableAlign; }

// Stored in place when it fits `capacity` bytes (and moves without throwing), else on the heap.
template <class Fn, std::size_t capacity>
constexpr bool fits_inline() {
  return sizeof(Fn) <= capacity && alignof(Fn) <= kCallableAlign && std::is_nothrow_move_constructible_v<Fn>;
}

template <class Fn>
inline constexpr CallableOps inline_ops = {
    [](void* p) { (*std::launder(static_cast<Fn*>(p)))(); },
    std::is_trivially_copyable_v<Fn> ? nullptr
                                     : +[](void* from, void* to) noexcept {
                                         Fn* src = std::launder(static_cast<Fn*>(from));
                                         ::new (to) Fn(std::move(*src));
                                         src->~Fn();
                                       },
    std::is_trivially_destructible_v<Fn> ? nullptr
                                         : +[](void* p) noexcept { std::launder(static_cast<Fn*>(p))->~Fn(); },
    round_to_pointer(sizeof(Fn)),
};

template <class Fn>
inline constexpr CallableOps heap_ops = {
    [](void* p) { (**static_cast<Fn**>(p))(); },
    [](void* from, void* to) noexcept { *static_cast<Fn**>(to) = *static_cast<Fn**>(from); },
    [](void* p) noexcept { delete *static_cast<Fn**>(p); },
    sizeof(Fn*),
};

// Bytes a callable of type Fn takes in storage of `capacity` bytes.
template <class Fn, std::size_t capacity>
constexpr std::size_t callable_footprint() {
  return fits_inline<Fn, capacity>() ? round_to_pointer(sizeof(Fn)) : sizeof(Fn*);
}

// Constructs `f` at `dst` (which has `capacity` bytes) and returns its ops.
template <std::size_t capacity, class F>
const CallableOps* emplace_callable(void* dst, F&& f) {
  using Fn = std::decay_t<F>;
  if constexpr (fits_inline<Fn, capacity>()) {
    ::new (dst) Fn(std::forward<F>(f));
    return &inline_ops<Fn>;
  } else {
    *static_cast<Fn**>(dst) = new Fn(std::forward<F>(f));
    return &heap_ops<Fn>;
  }
}

// Moves a stored callable from `from` to `to` (which has at least ops->footprint bytes).
inline void move_callable(const CallableOps* ops, void* from, void* to) noexcept {
  if (ops->move)
    ops->move(from, to);
  else
    std::memcpy(to, from, ops->footprint);
}

}  // namespace detail

class Callback {
 public:
  // 24 bytes inline (three pointers' worth of captures): a Callback is 32 bytes, and moving
  // one into a Handle keeps the handle within 64 bytes.
  static constexpr std::size_t kInlineSize = 24;

  Callback() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, Callback> && std::is_invocable_r_v<void, std::decay_t<F>&>)
  Callback(F&& f) : ops_(detail::emplace_callable<kInlineSize>(storage_, std::forward<F>(f))) {}  // NOLINT: implicit on purpose

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
      const detail::CallableOps* ops = ops_;
      ops_ = nullptr;
      if (ops->destroy) ops->destroy(storage_);
    }
  }

  // The bytes the callable needs where a Handle stores it (0 when empty).
  std::size_t footprint() const noexcept { return ops_ ? ops_->footprint : 0; }
  // Moves the callable to `dst` (footprint() bytes) and returns its ops; this is left empty.
  const detail::CallableOps* release_into(void* dst) noexcept {
    const detail::CallableOps* ops = std::exchange(ops_, nullptr);
    if (ops) detail::move_callable(ops, storage_, dst);
    return ops;
  }

 private:
  void take(Callback& other) noexcept { ops_ = other.release_into(storage_); }

  const detail::CallableOps* ops_ = nullptr;
  alignas(detail::kCallableAlign) unsigned char storage_[kInlineSize];
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
  // True when the text was copied to the heap (destroying the label frees it).
  bool owns_text() const noexcept { return owned() != nullptr; }
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
