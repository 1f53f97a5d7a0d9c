// The task behind loop.subprocess_exec/subprocess_shell, shared with asyncio.subprocess's
// create_subprocess_* (whose coroutine awaits the loop method inside the same task, so its
// own result is made in the very step where the loop method returns).
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "loopcheck/subprocess_transport.hpp"

namespace loopcheck::detail {

// How the task ends: each hook runs in the step where the coroutine would return or raise.
struct SubprocessTaskHooks {
  std::function<bool()> done;  // the task's future is done (Task.cancel() returns false)
  std::function<void(const SubprocessResult&)> on_result;
  std::function<void(std::exception_ptr)> on_error;
  std::function<void()> on_cancelled;
};

// Starts the task (its first step runs in the next pass); returns Task.cancel().
std::function<bool()> start_subprocess_task(EventLoop& loop, SubprocessProtocolFactory factory,
                                            std::variant<std::string, std::vector<std::string>> cmd, bool shell,
                                            SubprocessOptions options, SubprocessTaskHooks hooks);

// Hooks that complete `result`.
template <class T, class Wrap>
SubprocessTaskHooks hooks_for(Future<T> result, Wrap wrap) {
  return SubprocessTaskHooks{
      [result] { return result.done(); },
      [result, wrap](const SubprocessResult& r) mutable { result.set_result(wrap(r)); },
      [result](std::exception_ptr e) mutable { result.set_exception(e); },
      [result]() mutable { result.cancel(); },
  };
}

}  // namespace loopcheck::detail
