// asyncio.exceptions' stream errors: IncompleteReadError and LimitOverrunError, with the
// attributes the StreamReader's callers inspect (.partial/.expected, .consumed).
#pragma once

#include <optional>
#include <string>

#include "loopcheck/errors.hpp"

namespace loopcheck {

// IncompleteReadError(partial, expected): EOF came before the read was complete.
// str() is '{len(partial)} bytes read on a total of {expected!r or undefined} expected bytes'.
class IncompleteReadError : public EOFError {
 public:
  IncompleteReadError(std::string partial, std::optional<long> expected)
      : EOFError("IncompleteReadError", message_for(partial.size(), expected)),
        partial_(std::move(partial)),
        expected_(expected) {}

  const std::string& partial() const noexcept { return partial_; }
  std::optional<long> expected() const noexcept { return expected_; }

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "IncompleteReadError" || EOFError::class_is_a(python_type);
  }

 private:
  static std::string message_for(std::size_t got, std::optional<long> expected) {
    return std::to_string(got) + " bytes read on a total of " +
           (expected ? std::to_string(*expected) : std::string("undefined")) + " expected bytes";
  }

  std::string partial_;
  std::optional<long> expected_;
};

// LimitOverrunError(message, consumed): the separator was not found within the limit;
// `consumed` is how many bytes the caller may drop to get past the offending data.
class LimitOverrunError : public Exception {
 public:
  LimitOverrunError(std::string message, std::size_t consumed)
      : Exception("LimitOverrunError", std::move(message)), consumed_(consumed) {}

  std::size_t consumed() const noexcept { return consumed_; }

 protected:
  bool class_is_a(std::string_view python_type) const override {
    return python_type == "LimitOverrunError" || Exception::class_is_a(python_type);
  }

 private:
  std::size_t consumed_;
};

}  // namespace loopcheck
