// Future steps (loop.create_future() and the Future API the loop's scheduling relies on),
// run_until_complete, other loops' methods, and dropping the driver's references.
#include "loopcheck/errors.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

// A scenario value as a future's result: a quoted text is the text itself.
nlohmann::json plain_value(const nlohmann::json& v) { return v.is_object() && v.contains("str") ? v["str"] : v; }

// `returned` tokens for an exception: its type and str().
nlohmann::json exception_tokens(const std::exception_ptr& e) {
  if (!e) return {nullptr};
  return {exception_type_name(e), exception_message(e)};
}

}  // namespace

Runner::JsonFuture& Runner::future_named(const std::string& name) {
  auto it = futures_.find(name);
  if (it == futures_.end()) throw StepError("unknown future '" + name + "' (not created by an earlier step)");
  return it->second;
}

void Runner::future(const Step& s) {
  futures_.insert_or_assign(s.name(0, "a future name"), loop_arg(s).create_future<nlohmann::json>());
}

// run_until_complete F [loop=L]; a plain value is Python's (C++ takes a Future<T> only).
void Runner::run_until_complete(const Step& s) {
  const auto& arg = s.arg(0, "a future name or a value");
  if (!arg.is_string() || !futures_.count(arg.get<std::string>()))
    throw Unsupported("run_until_complete takes a Future<T> in C++; " + arg.dump() +
                      " (not a future) cannot be passed, so the TypeError for a non-awaitable has no counterpart");
  JsonFuture f = future_named(arg.get<std::string>());
  EventLoop& loop = loop_arg(s);
  nlohmann::json result;
  if (with_deadline([&] { result = loop.run_until_complete(f); }, deadline(s), &loop)) {
    rec_.event("timeout", {s.op});
    return;
  }
  rec_.returned(s.op, {result});
}

// NAME.METHOD on a future or on a loop made by new_loop.
void Runner::method_call(const Step& s) {
  auto dot = s.op.rfind('.');
  std::string object = s.op.substr(0, dot), method = s.op.substr(dot + 1);
  if (futures_.count(object)) return future_method(s, futures_.at(object), method);
  if (watcher_method(s, object, method)) return;  // steps_watchers.cpp
  if (socket_method(s, object, method)) return;  // steps_sockets.cpp
  if (file_method(s, object, method)) return;  // steps_sendfile.cpp
  if (subprocess_method(s, object, method)) return;  // steps_subprocess.cpp
  if (process_method(s, object, method)) return;     // steps_subprocess.cpp
  if (transport_method(s, object, method)) return;  // steps_read_pipe.cpp
  auto loop = other_loops_.find(object);
  if (loop != other_loops_.end() && method == "close") return loop->second->close();
  throw Unsupported("method " + method + " is not implemented by the ref driver yet");
}

void Runner::future_method(const Step& s, JsonFuture& f, const std::string& method) {
  if (method == "set_result") {
    f.set_result(s.args.empty() ? nlohmann::json(nullptr) : plain_value(s.args[0]));
  } else if (method == "set_exception") {
    std::string type = s.name(0, "an exception type");
    if (type == "StopIteration")
      throw Unsupported("StopIteration belongs to Python's generator protocol; C++ futures have no such exception");
    f.set_exception(python_exception(type, s.args.size() > 1 ? text_value(s.args[1]) : ""));
  } else if (method == "add_done_callback") {
    std::string name = s.name(0, "a callback name");
    f.add_done_callback([this, name](const JsonFuture&) { fire_callback(name); }, label(name));
  } else if (method == "result") {
    rec_.returned(s.op, {f.result()});
  } else if (method == "exception") {
    rec_.returned(s.op, exception_tokens(f.exception()));
  } else if (method == "done" || method == "cancelled" || method == "cancel") {
    bool v = method == "done" ? f.done() : method == "cancelled" ? f.cancelled() : f.cancel();
    rec_.returned(s.op, {v});
  } else {
    throw Unsupported("future method " + method + " is not implemented by the ref driver yet");
  }
}

// Drops the driver's reference: a C++ future is destroyed with its last reference (and
// reports an exception nobody retrieved), which is what CPython's gc_collect then shows.
void Runner::forget(const Step& s) {
  std::string name = s.name(0, "a name");
  if (futures_.erase(name)) return;
  if (transports_.erase(name)) return;  // a transport still open warns when destroyed
  if (subprocesses_.erase(name)) return;
  if (other_loops_.count(name))
    throw Unsupported("a C++ EventLoop is closed by its destructor; Python's ResourceWarning for an unclosed "
                      "loop has no counterpart");
  throw StepError("unknown name '" + name + "' (not created by an earlier step)");
}

// Nothing to collect: reference counting already freed what `forget` dropped.
void Runner::gc_collect(const Step&) {}

}  // namespace loopcheck::ref
