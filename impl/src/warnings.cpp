#include "loopcheck/warnings.hpp"

#include <cstdio>
#include <mutex>
#include <utility>

namespace loopcheck {
namespace {

std::mutex g_mu;
WarningHandler g_handler;  // empty: the default (stderr)

}  // namespace

void warn(std::string message, std::string category) noexcept {
  try {
    WarningHandler handler;
    {
      std::lock_guard lock(g_mu);
      handler = g_handler;
    }
    WarningRecord record{std::move(category), std::move(message)};
    if (handler) {
      handler(record);
    } else {
      std::fprintf(stderr, "%s: %s\n", record.category.c_str(), record.message.c_str());
    }
  } catch (...) {
  }
}

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard lock(g_mu);
  return std::exchange(g_handler, std::move(handler));
}

}  // namespace loopcheck
