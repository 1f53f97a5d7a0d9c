// Non-template parts of Future.
#include "loopcheck/future.hpp"

namespace loopcheck {

std::string format_future_callbacks(const std::vector<std::string_view>& labels) {
  std::string cb;
  std::size_t n = labels.size();
  if (n == 1) {
    cb = std::string(labels[0]);
  } else if (n == 2) {
    cb = std::string(labels[0]) + ", " + std::string(labels[1]);
  } else if (n > 2) {
    cb = std::string(labels[0]) + ", <" + std::to_string(n - 2) + " more>, " + std::string(labels[n - 1]);
  }
  return "cb=[" + cb + "]";
}

void report_never_retrieved(const std::weak_ptr<const void>& loop_alive, EventLoop& loop,
                            const std::exception_ptr& exception) noexcept {
  std::shared_ptr<const void> alive = loop_alive.lock();
  if (!alive) return;
  try {
    ExceptionContext context;
    context.message = "Future exception was never retrieved";
    context.exception = exception;
    context.set("future", "<Future finished exception=" + exception_repr(exception) + ">");
    loop.call_exception_handler(context);
  } catch (...) {
    // Like an exception in __del__: reported nowhere, never propagated.
  }
}

}  // namespace loopcheck
