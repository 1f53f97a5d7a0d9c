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

}  // namespace loopcheck
