// ExceptionContext: the exception handler's context dict.
#include "loopcheck/exception_context.hpp"

#include <algorithm>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck {

ExceptionContext& ExceptionContext::set(std::string key, std::string value_repr) {
  for (auto& [k, v] : extra) {
    if (k == key) {
      v = std::move(value_repr);
      return *this;
    }
  }
  extra.emplace_back(std::move(key), std::move(value_repr));
  return *this;
}

std::optional<std::string> ExceptionContext::get(const std::string& key) const {
  for (const auto& [k, v] : extra)
    if (k == key) return v;
  return std::nullopt;
}

bool ExceptionContext::has(const std::string& key) const {
  if (key == "message") return message.has_value();
  if (key == "exception") return exception != nullptr;
  if (key == "handle") return handle != nullptr;
  return get(key).has_value();
}

std::vector<std::string> ExceptionContext::keys() const {
  std::vector<std::string> out;
  if (message) out.emplace_back("message");
  if (exception) out.emplace_back("exception");
  if (handle) out.emplace_back("handle");
  for (const auto& kv : extra) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

std::string ExceptionContext::repr() const {
  std::vector<std::string> items;
  if (message) items.push_back("'message': " + py_repr(*message));
  if (exception) items.push_back("'exception': " + exception_repr(exception));
  if (handle) items.push_back("'handle': " + handle->repr());
  for (const auto& [k, v] : extra) items.push_back(py_repr(k) + ": " + v);
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out + "}";
}

}  // namespace loopcheck
