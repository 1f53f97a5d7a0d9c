// SourceLocation: where a callback was scheduled. In debug mode CPython keeps the stack of
// every Handle's creation (`_source_traceback`) and shows its last frame as `created at
// FILE:LINE` in the handle's repr and as `source_traceback` in exception contexts. The
// reference keeps the one frame that matters: the call_soon/call_later/call_at call site.
#pragma once

#include <cstdint>
#include <optional>
#include <source_location>
#include <string>

namespace loopcheck {

class Handle;

struct SourceLocation {
  const char* file = nullptr;  // static storage (a string literal or __FILE__)
  std::uint_least32_t line = 0;
  const char* function = nullptr;  // static storage; null when unknown

  // The caller's location when used as a default argument. clang 14 has no
  // __builtin_source_location, so libstdc++'s <source_location> is empty there (no
  // __cpp_lib_source_location); the builtins it is made of give the same file and line.
#if defined(__cpp_lib_source_location)
  static constexpr SourceLocation here(std::source_location l = std::source_location::current()) noexcept {
    return {l.file_name(), l.line(), l.function_name()};
  }
#else
  static constexpr SourceLocation here(const char* file = __builtin_FILE(), std::uint_least32_t line = __builtin_LINE(),
                                       const char* function = __builtin_FUNCTION()) noexcept {
    return {file, line, function};
  }
#endif
  explicit operator bool() const noexcept { return file != nullptr; }
  // `prog.py:7`, as in `created at prog.py:7`.
  std::string str() const { return std::string(file ? file : "?") + ":" + std::to_string(line); }
  // The frame as Python's traceback.format_list() prints it (there is no source line to
  // show): `  File "prog.py", line 7, in schedule`.
  std::string frame() const {
    std::string out = "  File \"" + std::string(file ? file : "?") + "\", line " + std::to_string(line);
    if (function) out += ", in " + std::string(function);
    return out;
  }
};

namespace detail {
// Creation sites of handles made in debug mode, kept beside the handles so that a Handle
// stays one cache line. An entry is only read for a handle whose created-in-debug bit is
// set; a debug handle's entry is dropped when it is destroyed. Safe from any thread.
void record_handle_origin(const Handle* handle, SourceLocation where);
void forget_handle_origin(const Handle* handle) noexcept;
std::optional<SourceLocation> handle_origin(const Handle* handle);
}  // namespace detail

}  // namespace loopcheck
