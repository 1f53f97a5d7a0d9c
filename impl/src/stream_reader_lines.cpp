// asyncio.streams.StreamReader (3.13): the separator reads (readuntil, readline, __anext__).
#include <algorithm>

#include "loopcheck/errors.hpp"
#include "loopcheck/stream_errors.hpp"
#include "loopcheck/streams.hpp"
#include "stream_coroutine.hpp"

namespace loopcheck {

// `offset` is where no separator can start any more (so a later pass searches from there).
std::optional<std::string> StreamReader::scan_until(const std::vector<std::string>& separators, std::size_t& offset) {
  const std::size_t min_len = separators.front().size(), max_len = separators.back().size();
  const std::size_t buflen = buffer_.size();
  if (buflen >= offset + min_len) {
    std::optional<std::size_t> start, end;
    for (const auto& sep : separators) {
      std::size_t at = buffer_.find(sep, offset);
      if (at == std::string::npos) continue;
      if (!end || at + sep.size() < *end) start = at, end = at + sep.size();
    }
    if (end) {
      if (*start > limit_) throw LimitOverrunError("Separator is found, but chunk is longer than limit", *start);
      return take(*end);
    }
    offset = buflen + 1 > max_len ? buflen + 1 - max_len : 0;
    if (offset > limit_) throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
  }
  // A complete separator may have come with the last chunk: EOF is checked after the scan.
  if (eof_) throw IncompleteReadError(std::exchange(buffer_, {}), std::nullopt);
  return std::nullopt;
}

Future<std::string> StreamReader::readuntil(std::string separator) {
  return readuntil(std::vector<std::string>{std::move(separator)});
}

Future<std::string> StreamReader::readuntil(std::vector<std::string> separators) {
  // sorted(separator, key=len): the shortest match wins (stable, as Python's sort).
  std::stable_sort(separators.begin(), separators.end(),
                   [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  auto co = std::make_shared<Coroutine<std::string>>();
  co->name = "readuntil";
  co->step = [this, separators, offset = std::size_t{0}, checked = false]() mutable -> std::optional<std::string> {
    if (!checked) {  // the checks before the loop
      checked = true;
      if (separators.empty()) throw ValueError("Separator should contain at least one element");
      if (separators.front().empty()) throw ValueError("Separator should be at least one-byte string");
      if (exception_) std::rethrow_exception(exception_);
    }
    return scan_until(separators, offset);
  };
  return start(co);
}

std::string StreamReader::recover_line(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const IncompleteReadError& e) {
    return e.partial();
  } catch (const LimitOverrunError& e) {
    // Drop the over-long line with its newline, or everything when no newline was found.
    if (e.consumed() < buffer_.size() && buffer_[e.consumed()] == '\n')
      buffer_.erase(0, e.consumed() + 1);
    else
      buffer_.clear();
    maybe_resume_transport();
    throw ValueError(e.message());
  }
}

template <class T>
Future<T> StreamReader::line(std::function<T(std::string)> finish) {
  auto co = std::make_shared<Coroutine<T>>();
  co->name = "readuntil";
  co->step = [this, finish, offset = std::size_t{0}, checked = false]() mutable -> std::optional<T> {
    if (!checked) {
      checked = true;
      if (exception_) std::rethrow_exception(exception_);
    }
    auto chunk = scan_until({"\n"}, offset);
    if (!chunk) return std::nullopt;
    return finish(std::move(*chunk));
  };
  co->recover = [this, finish](std::exception_ptr e) { return finish(recover_line(e)); };
  return start(co);
}

Future<std::string> StreamReader::readline() {
  return line<std::string>([](std::string s) { return s; });
}

Future<std::optional<std::string>> StreamReader::anext() {
  return line<std::optional<std::string>>([](std::string s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;  // raise StopAsyncIteration
    return s;
  });
}

}  // namespace loopcheck
