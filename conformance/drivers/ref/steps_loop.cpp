// Loop steps: scheduling, running, stopping, closing, debug mode, exception handlers, and
// the inspection steps (handle and loop reprs, the asyncio logger's records).
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "runner.hpp"

namespace loopcheck::ref {

namespace {

// The reasons a Python-only argument cannot reach the C++ API.
[[noreturn]] void refuse_argument(const nlohmann::json& a, const std::string& method) {
  if (a == "@coroutine")
    throw Unsupported("C++ has no coroutine functions: " + method + "() takes a callable, which a coroutine is not");
  if (a.is_object())
    throw Unsupported(method + "() takes an int fd; passing " + value_repr(a) +
                      " (an object whose fileno() Python looks up) is a Python concept");
  throw Unsupported("C++'s type system only lets callables be passed to " + method + "(); " + a.dump() +
                    " cannot be");
}

}  // namespace

// ---- loop scheduling ---------------------------------------------------------------------

void Runner::call_soon(const Step& s) {
  std::string name = s.name(0, "a callback name");
  handles_[name] = loop_.call_soon(callback(name), label(name));
}

void Runner::call_soon_threadsafe(const Step& s) {
  std::string name = s.name(0, "a callback name");
  handles_[name] = here_or_on_thread(s, [&] { return loop_.call_soon_threadsafe(callback(name), label(name)); });
}

void Runner::call_later(const Step& s) {
  const auto& delay = s.arg(0, "a delay");
  std::string name = s.name(1, "a callback name");
  std::optional<double> d;
  if (!delay.is_null()) d = delay.get<double>();
  handles_[name] = loop_.call_later(d, callback(name), label(name));
}

void Runner::call_at(const Step& s) {
  const auto& when = s.arg(0, "a time");
  std::string name = s.name(1, "a callback name");
  std::optional<double> w;
  if (!when.is_null()) w = t0_ + when.get<double>();
  handles_[name] = loop_.call_at(w, callback(name), label(name));
}

void Runner::cancel(const Step& s) {
  std::string name = s.name(0, "a callback name");
  if (cancel_task(name)) return;  // a task=NAME async step (steps_sendfile.cpp)
  auto it = handles_.find(name);
  if (it == handles_.end()) throw StepError("no handle was scheduled under '" + name + "'");
  it->second->cancel();
}

void Runner::on(const Step& s) {
  auto& body = actions_[s.target];
  for (const auto& step : s.body) body.push_back(step);
}

void Runner::run_once(const Step& s) {
  int n = s.args.empty() ? 1 : s.args[0].get<int>();
  for (int i = 0; i < n; ++i) {
    loop_.stop();
    if (with_deadline([this] { loop_.run_forever(); }, deadline(s))) {
      rec_.event("timeout", {s.op});
      return;
    }
  }
}

void Runner::run_for(const Step& s) {
  double seconds = s.arg(0, "a number of seconds").get<double>();
  loop_.call_later(seconds, [this] { loop_.stop(); }, Label("stop()"));
  if (with_deadline([this] { loop_.run_forever(); }, (seconds + kStepDeadline) * multiplier_))
    rec_.event("timeout", {s.op});
}

void Runner::run_until(const Step& s) {
  std::string target = text_value(s.arg(0, "an event glob"));
  std::regex pattern = glob_regex(target);
  if (rec_.seen(pattern)) return;
  rec_.watch(pattern, [this] { loop_.stop(); });
  bool fired = false;
  try {
    fired = with_deadline([this] { loop_.run_forever(); }, deadline(s));
  } catch (...) {
    rec_.unwatch();
    throw;
  }
  rec_.unwatch();
  if (fired) rec_.event("timeout", {s.op, target});
}

void Runner::run_forever(const Step& s) {
  if (with_deadline([this] { loop_.run_forever(); }, deadline(s))) rec_.event("timeout", {s.op});
}

void Runner::stop(const Step&) { loop_.stop(); }

void Runner::close(const Step&) { loop_.close(); }

void Runner::query(const Step& s) {
  bool v = s.op == "is_running" ? loop_.is_running() : s.op == "is_closed" ? loop_.is_closed() : loop_.get_debug();
  rec_.returned(s.op, {v});
}

void Runner::set_debug(const Step& s) { loop_.set_debug(s.arg(0, "true or false").get<bool>()); }

void Runner::block(const Step& s) {
  // Models a slow callback: the loop thread is busy and handles nothing meanwhile.
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(s.arg(0, "seconds").get<double>());
  while (std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Runner::set_exception_handler(const Step& s) {
  const auto& which = s.arg(0, "record, default, raising or a value");
  if (which.is_null() || which == "default") {
    loop_.set_exception_handler({});
  } else if (which == "record") {
    loop_.set_exception_handler([this](EventLoop& l, const ExceptionContext& c) { rec_.exception_handler(l, c); });
  } else if (which == "raising") {
    loop_.set_exception_handler([](EventLoop&, const ExceptionContext&) { throw RuntimeError("exception handler failed"); });
  } else if (which == "get_var") {
    throw Unsupported("contextvars are Python's: an exception handler has no context variable to read");
  } else {
    throw Unsupported("the C++ API takes only callables as exception handlers; " + which.dump() + " cannot be passed");
  }
}

void Runner::call_exception_handler(const Step& s) {
  ExceptionContext context;
  if (!s.args.empty()) context.message = text_value(s.args[0]);
  for (auto it = s.kw.begin(); it != s.kw.end(); ++it) context.set(it.key(), value_repr(it.value()));
  loop_.call_exception_handler(context);
}

// ---- calls with raw arguments, threads ----------------------------------------------------

HandleRef& Runner::handle_named(const Step& s) {
  std::string name = s.name(0, "a callback name");
  auto it = handles_.find(name);
  if (it == handles_.end()) throw StepError("no handle was scheduled under '" + name + "'");
  return it->second;
}

// loop.METHOD(ARG...) with the arguments as written: a name is a named callback (or an fd
// made by an earlier step), a number stays a number. Arguments only Python can pass
// (coroutine functions, non-callables, file objects) are unsupported.
void Runner::loop_call(const Step& s) {
  std::string method = s.name(0, "a loop method");
  if (method == "call_soon" || method == "call_soon_threadsafe" || method == "call_later" || method == "call_at")
    return loop_call_scheduling(s, method);
  if (method == "add_reader" || method == "add_writer" || method == "remove_reader" || method == "remove_writer")
    return loop_call_io(s, method);
  if (method == "close") {
    here_or_on_thread(s, [&] {
      loop_.close();
      return 0;
    });
    return;
  }
  throw Unsupported("loop_call " + method + " is not implemented by the ref driver yet");
}

std::string Runner::raw_callback(const Step& s, std::size_t i, const std::string& method) const {
  const auto& a = s.arg(i, "a callback");
  if (!a.is_string() || a == "@coroutine") refuse_argument(a, method);
  return a.get<std::string>();
}

int Runner::raw_fd(const Step& s, std::size_t i, const std::string& method) const {
  const auto& a = s.arg(i, "an fd");
  if (a.is_number_integer()) return a.get<int>();
  if (!a.is_string()) refuse_argument(a, method);
  return fd(s, i);
}

// call_soon CB, call_soon_threadsafe CB, call_later DELAY CB, call_at WHEN CB (after t0).
void Runner::loop_call_scheduling(const Step& s, const std::string& method) {
  bool timer = method == "call_later" || method == "call_at";
  std::string name = raw_callback(s, timer ? 2 : 1, method);
  double t = timer ? s.arg(1, "a number").get<double>() + (method == "call_at" ? t0_ : 0.0) : 0.0;
  handles_[name] = here_or_on_thread(s, [&]() -> HandleRef {
    if (method == "call_soon") return loop_.call_soon(callback(name), label(name));
    if (method == "call_soon_threadsafe") return loop_.call_soon_threadsafe(callback(name), label(name));
    if (method == "call_later") return loop_.call_later(t, callback(name), label(name));
    return loop_.call_at(t, callback(name), label(name));
  });
}

// add_reader FD CB, add_writer FD CB, remove_reader FD, remove_writer FD.
void Runner::loop_call_io(const Step& s, const std::string& method) {
  int f = raw_fd(s, 1, method);
  if (method == "remove_reader" || method == "remove_writer") {
    bool reader = method == "remove_reader";
    rec_.returned(s.op, {here_or_on_thread(s, [&] { return reader ? loop_.remove_reader(f) : loop_.remove_writer(f); })});
    return;
  }
  std::string name = raw_callback(s, 2, method);
  here_or_on_thread(s, [&] {
    if (method == "add_reader")
      loop_.add_reader(f, callback(name), label(name));
    else
      loop_.add_writer(f, callback(name), label(name));
    return 0;
  });
}

// A helper thread waits DELAY seconds, then calls call_soon_threadsafe while the loop is
// (normally) blocked in its poll. It is joined only when the scenario ends.
void Runner::call_soon_threadsafe_later(const Step& s) {
  double delay = s.arg(0, "a delay").get<double>();
  std::string name = s.name(1, "a callback name");
  late_threads_.emplace_back([this, delay, name] {
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    try {
      loop_.call_soon_threadsafe(callback(name), label(name));
    } catch (const RuntimeError&) {  // the loop was closed meanwhile
    }
  });
}

// N calls from a helper thread without running the loop: enough to fill the self-pipe.
void Runner::call_soon_threadsafe_many(const Step& s) {
  int n = s.arg(0, "a count").get<int>();
  std::string name = s.name(1, "a callback name");
  std::thread t([&] {
    for (int i = 0; i < n; ++i) loop_.call_soon_threadsafe(callback(name), label(name));
  });
  t.join();
}

void Runner::cancel_from_thread(const Step& s) {
  HandleRef& h = handle_named(s);
  if (!h->is_threadsafe())
    throw Unsupported("a handle from call_soon/call_later/call_at belongs to the loop's thread in C++; only "
                      "call_soon_threadsafe handles may be cancelled from another thread");
  std::thread t([&] { h->cancel(); });
  t.join();
}

// A plain function defined at prog.py:2 and scheduled from prog.py:7 (the Python driver
// compiles such a program). Its label is what CPython shows for it: the arguments in debug
// mode only (3.13 dropped them otherwise), and the creation site comes from the loop.
void Runner::call_soon_function(const Step& s) {
  std::string name = s.name(0, "a callback name");
  nlohmann::json args = nlohmann::json::array({name});
  std::string shown;
  for (std::size_t i = 1; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    args.push_back(a.is_object() && a.contains("str") ? a["str"] : a);
    shown += (shown.empty() ? "" : ", ") + value_repr(a);
  }
  std::string text = name + "(" + (loop_.get_debug() ? shown : "") + ") at prog.py:2";
  Callback cb = [this, name, args] {
    rec_.event("callback", args);
    run_actions(name);
  };
  handles_[name] = loop_.call_soon(std::move(cb), Label(text), SourceLocation{"prog.py", 7, "schedule"});
}

void Runner::slow_callback_duration(const Step& s) {
  loop_.set_slow_callback_duration(s.arg(0, "a number of seconds").get<double>());
}

void Runner::handle_repr(const Step& s) { rec_.returned(s.op, {handle_named(s)->repr()}); }

// The handle's type and its deadline in whole seconds after t0.
void Runner::handle_when(const Step& s) {
  HandleRef& h = handle_named(s);
  if (!h->is_timer()) throw AttributeError("'Handle' object has no attribute 'when'");
  double when = static_cast<TimerHandle*>(h.get())->when();
  rec_.returned(s.op, {"TimerHandle", static_cast<long long>(std::llround(when - t0_))});
}

void Runner::loop_repr(const Step& s) { rec_.returned(s.op, {loop_.repr()}); }

// type(loop.time()).__name__: a double is Python's float.
void Runner::loop_time(const Step& s) {
  [[maybe_unused]] double now = loop_.time();
  rec_.returned(s.op, {"float"});
}

// `debug_log start` collects the loop's log records from now on; `debug_log` reports the
// DEBUG/INFO ones since, `debug_log warnings` the WARNING and above ones.
void Runner::debug_log(const Step& s) {
  std::string which = s.args.empty() ? "" : s.name(0, "start or warnings");
  if (!trace_logger_) throw StepError("debug_log needs the trace logger");
  if (which == "start") {
    trace_logger_->start_collecting();
    return;
  }
  for (auto& text : trace_logger_->take(which == "warnings")) rec_.returned(s.op, {text});
}

// Steps about Python-only machinery, with the reason the reference has no counterpart.
void Runner::python_only(const Step& s) {
  static const std::map<std::string, std::string> reasons = {
      {"call_exception_handler_unreprable",
       "an ExceptionContext keeps each value's repr as text, so no value's repr can raise"},
      {"set_var", "contextvars are Python's: a C++ callback captures what it needs, there is no context to copy"},
      {"get_var", "contextvars are Python's: a C++ callback captures what it needs, there is no context to copy"},
      {"get_event_loop_policy", "event loop policies are asyncio module API; the reference has loops, no policy"},
      {"set_event_loop", "the current-loop registry is asyncio module API; the reference has loops, no policy"},
      {"get_event_loop", "the current-loop registry is asyncio module API; the reference has loops, no policy"},
      {"loop_is_instance", "asyncio's loop class hierarchy has no C++ counterpart: the reference has one EventLoop"},
  };
  auto it = reasons.find(s.op);
  throw Unsupported(s.op + ": " + (it == reasons.end() ? "a Python-only step" : it->second));
}

}  // namespace loopcheck::ref
