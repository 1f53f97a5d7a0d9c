// The side table of debug-mode handle creation sites (source_location.hpp).
#include <mutex>
#include <unordered_map>

#include "loopcheck/source_location.hpp"

namespace loopcheck::detail {
namespace {

struct OriginTable {
  std::mutex mu;
  std::unordered_map<const Handle*, SourceLocation> sites;
};

OriginTable& table() {
  static OriginTable* t = new OriginTable;  // never destroyed: handles may outlive statics
  return *t;
}

}  // namespace

void record_handle_origin(const Handle* handle, SourceLocation where) {
  OriginTable& t = table();
  std::lock_guard lock(t.mu);
  t.sites[handle] = where;
}

void forget_handle_origin(const Handle* handle) noexcept {
  OriginTable& t = table();
  std::lock_guard lock(t.mu);
  t.sites.erase(handle);
}

std::optional<SourceLocation> handle_origin(const Handle* handle) {
  OriginTable& t = table();
  std::lock_guard lock(t.mu);
  auto it = t.sites.find(handle);
  if (it == t.sites.end()) return std::nullopt;
  return it->second;
}

}  // namespace loopcheck::detail
