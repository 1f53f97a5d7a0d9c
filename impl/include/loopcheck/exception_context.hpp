// The context dict handed to loop.call_exception_handler().
//
// CPython passes a dict; the keys the Unix loop uses are `message`, `exception`, `handle`,
// `future`, `transport`, `protocol`, `socket`, `context` (B-LOOP-15). Here `message`,
// `exception` and `handle` are typed fields; every other key is kept in `extra` with the
// repr() CPython would print for its value, in insertion order.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loopcheck/handle.hpp"

namespace loopcheck {

struct ExceptionContext {
  std::optional<std::string> message;  // nullopt: key absent
  std::exception_ptr exception;        // null: key absent
  HandleRef handle;                    // null: key absent
  std::vector<std::pair<std::string, std::string>> extra;  // key -> repr(value)

  // context['key'] = <value whose repr is `value_repr`> (replaces an existing key).
  ExceptionContext& set(std::string key, std::string value_repr);
  // The repr of an extra key, or nullopt.
  std::optional<std::string> get(const std::string& key) const;
  bool has(const std::string& key) const;

  // Sorted key names present in the context (as `sorted(context)` would list them).
  std::vector<std::string> keys() const;

  // repr(context) as a dict, keys in insertion order: message, exception, handle, then
  // extras, e.g. `{'message': 'm', 'exception': ValueError('x'), 'handle': <Handle f>}`.
  std::string repr() const;
};

}  // namespace loopcheck
