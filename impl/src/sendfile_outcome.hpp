// The last step shared by sock_sendfile's and loop.sendfile's coroutines: the outcome of
// the `try` (after the `finally` ran) becomes the caller's future.
#pragma once

#include <cstddef>
#include <exception>

#include "loopcheck/errors.hpp"
#include "loopcheck/future.hpp"

namespace loopcheck {

// A CancelledError cancels the future, any other error fails it, and otherwise it gets the
// number of bytes sent. A future already done (cancelled by the caller) stays as it is.
inline void settle_sendfile(Future<std::size_t>& fut, std::exception_ptr error, std::size_t sent) {
  if (fut.done()) return;
  if (error && exception_is_a(error, "CancelledError"))
    fut.cancel();
  else if (error)
    fut.set_exception(error);
  else
    fut.set_result(sent);
}

}  // namespace loopcheck
