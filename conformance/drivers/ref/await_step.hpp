// Runner::await_step, shared by the steps that start an async loop method (Unix sockets,
// write pipes): a member template, so its definition lives in a header.
#pragma once

#include <type_traits>
#include <utility>

#include "runner.hpp"

namespace loopcheck::ref {

// Runs an async step's future: run_until_complete with the step's deadline at top level,
// or (inside a callback) reports its outcome when it is done.
template <class T, class Bound>
void Runner::await_step(const Step& s, Future<T> future, Bound bound) {
  if (loop_.is_running()) {
    int line = s.line;
    std::string op = s.op;
    future.add_done_callback([this, line, op, bound](const Future<T>& done) mutable {
      int saved = std::exchange(rec_.current_line, line);
      try {
        if constexpr (std::is_void_v<T>) {
          done.result();
          bound();
        } else {
          T value = done.result();
          bound(value);
        }
      } catch (...) {
        rec_.raised(op, std::current_exception());
      }
      rec_.current_line = saved;
    });
    return;
  }
  if constexpr (std::is_void_v<T>) {
    if (with_deadline([&] { loop_.run_until_complete(future); }, deadline(s))) {
      rec_.event("timeout", {s.op});
      return;
    }
    bound();
  } else {
    T value;
    if (with_deadline([&] { value = loop_.run_until_complete(future); }, deadline(s))) {
      rec_.event("timeout", {s.op});
      return;
    }
    bound(value);
  }
}

}  // namespace loopcheck::ref
