#include "runner.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "data.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck::ref {
namespace {

constexpr double kStepDeadline = 5.0;

[[noreturn]] void throw_python(const std::string& type, const std::string& message) {
  if (type == "ValueError") throw ValueError(message);
  if (type == "TypeError") throw TypeError(message);
  if (type == "RuntimeError") throw RuntimeError(message);
  if (type == "AttributeError") throw AttributeError(message);
  if (type == "KeyError") throw KeyError(py_repr(message));  // str(KeyError(k)) is repr(k)
  if (type == "NotImplementedError") throw NotImplementedError(message);
  if (type == "KeyboardInterrupt") throw KeyboardInterrupt(message);
  if (type == "SystemExit") throw SystemExit(message.empty() ? 0 : std::stoi(message));
  if (type == "Exception") throw Exception(message);
  throw Exception(type, message);   // a scenario-named subclass of Exception
}

// repr() of a scenario value, as CPython would print it in a context dict.
std::string value_repr(const nlohmann::json& v) {
  if (v.is_object() && v.contains("str")) return py_repr(v["str"].get<std::string>());
  if (v.is_string()) return py_repr(v.get<std::string>());
  if (v.is_boolean()) return py_repr(v.get<bool>());
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number_float()) return py_repr(v.get<double>());
  return "None";
}

std::string text_value(const nlohmann::json& v) {
  if (v.is_object() && v.contains("str")) return v["str"].get<std::string>();
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

Step::Step(const nlohmann::json& j) {
  line = j.value("line", 0);
  op = j.at("op").get<std::string>();
  if (j.contains("args")) args = j["args"];
  if (j.contains("kw")) kw = j["kw"];
  if (j.contains("target")) target = j["target"].get<std::string>();
  if (j.contains("body")) body = j["body"];
}

const nlohmann::json& Step::arg(std::size_t i, const char* what) const {
  if (i >= args.size()) throw StepError("line " + std::to_string(line) + ": " + op + " needs " + what);
  return args[i];
}

std::string Step::name(std::size_t i, const char* what) const {
  const auto& a = arg(i, what);
  if (!a.is_string()) throw StepError("line " + std::to_string(line) + ": " + op + " needs " + what);
  return a.get<std::string>();
}

Runner::Runner(EventLoop& loop, Recorder& recorder, double multiplier)
    : loop_(loop), rec_(recorder), multiplier_(multiplier), t0_(loop.time()) {}

Runner::~Runner() = default;

const std::map<std::string, Runner::Handler>& Runner::handlers() {
  static const std::map<std::string, Handler> table = {
      {"call_soon", &Runner::call_soon},
      {"call_soon_threadsafe", &Runner::call_soon_threadsafe},
      {"call_later", &Runner::call_later},
      {"call_at", &Runner::call_at},
      {"cancel", &Runner::cancel},
      {"on", &Runner::on},
      {"run_once", &Runner::run_once},
      {"run_for", &Runner::run_for},
      {"run_until", &Runner::run_until},
      {"run_forever", &Runner::run_forever},
      {"stop", &Runner::stop},
      {"close", &Runner::close},
      {"is_running", &Runner::query},
      {"is_closed", &Runner::query},
      {"get_debug", &Runner::query},
      {"set_debug", &Runner::set_debug},
      {"block", &Runner::block},
      {"set_exception_handler", &Runner::set_exception_handler},
      {"call_exception_handler", &Runner::call_exception_handler},
      {"pipe", &Runner::pipe},
      {"socketpair", &Runner::socketpair},
      {"write_fd", &Runner::write_fd},
      {"read_fd", &Runner::read_fd},
      {"close_fd", &Runner::close_fd},
      {"add_reader", &Runner::add_io},
      {"add_writer", &Runner::add_io},
      {"remove_reader", &Runner::remove_io},
      {"remove_writer", &Runner::remove_io},
      {"add_signal_handler", &Runner::add_signal_handler},
      {"remove_signal_handler", &Runner::remove_signal_handler},
      {"kill", &Runner::kill},
      {"signal_disposition", &Runner::signal_disposition},
      {"cancel_signal_handle", &Runner::cancel_signal_handle},
      {"signal_wakeup_fd", &Runner::signal_wakeup_fd},
      {"signal_restarts", &Runner::signal_restarts},
      {"deliver_pending", &Runner::deliver_pending},
      {"new_loop", &Runner::new_loop},
      {"fork_child_state", &Runner::fork_child_state},
      {"spawn", &Runner::spawn},
      {"await_exit", &Runner::await_exit},
      {"reap", &Runner::reap},
      {"fail", &Runner::fail},
  };
  return table;
}

void Runner::execute(const nlohmann::json& steps) {
  for (const auto& d : steps) {
    Step s(d);
    rec_.current_line = s.line;
    if (s.op == "raise") {
      throw_python(s.name(0, "an exception type"), s.args.size() > 1 ? text_value(s.args[1]) : "");
    }
    auto it = handlers().find(s.op);
    if (it == handlers().end()) {
      if (s.op.find('.') != std::string::npos)
        throw Unsupported("method " + s.op.substr(s.op.rfind('.') + 1) + " is not implemented by the ref driver yet");
      throw Unsupported("step " + s.op + " is not implemented by the ref driver yet");
    }
    try {
      (this->*(it->second))(s);
    } catch (const Unsupported&) {
      throw;
    } catch (const StepError&) {
      throw;
    } catch (...) {  // the API under test raised: that is the observation
      rec_.raised(s.op, std::current_exception());
    }
    if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
  }
}

void Runner::fire_callback(const std::string& name) {
  rec_.event("callback", {name});
  run_actions(name);
}

void Runner::run_actions(const std::string& target) {
  auto it = actions_.find(target);
  if (it == actions_.end()) return;
  int saved = rec_.current_line;
  try {
    execute(nlohmann::json(it->second));
  } catch (const Unsupported&) {
    // Not an observation: end the scenario once control is back at top level.
    failure_ = std::current_exception();
    loop_.stop();
  } catch (const StepError&) {
    failure_ = std::current_exception();
    loop_.stop();
  }
  rec_.current_line = saved;
}

Callback Runner::callback(const std::string& name) {
  return [this, name] { fire_callback(name); };
}

bool Runner::with_deadline(const std::function<void()>& fn, double seconds) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> fired{false};
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done; })) {
      fired = true;
      try {
        loop_.call_soon_threadsafe([this] { loop_.stop(); }, Label("stop()"));
      } catch (...) {
      }
    }
  });
  auto finish = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    watchdog.join();
  };
  try {
    fn();
  } catch (...) {
    finish();
    if (fired) return true;
    throw;
  }
  finish();
  return fired;
}

double Runner::deadline(const Step& s) const {
  double t = kStepDeadline;
  if (s.kw.contains("timeout") && s.kw["timeout"].is_number()) t = s.kw["timeout"].get<double>();
  return t * multiplier_;
}

int Runner::fd(const Step& s, std::size_t i) const {
  std::string name = s.name(i, "an fd name");
  auto it = fds_.find(name);
  if (it == fds_.end()) throw StepError("unknown name '" + name + "' (not created by an earlier step)");
  return it->second;
}

// ---- loop scheduling ---------------------------------------------------------------------

void Runner::call_soon(const Step& s) {
  std::string name = s.name(0, "a callback name");
  handles_[name] = loop_.call_soon(callback(name), label(name));
}

void Runner::call_soon_threadsafe(const Step& s) {
  std::string name = s.name(0, "a callback name");
  if (s.kw.value("from", "") != "thread") {
    handles_[name] = loop_.call_soon_threadsafe(callback(name), label(name));
    return;
  }
  std::exception_ptr error;
  HandleRef handle;
  std::thread t([&] {
    try {
      handle = loop_.call_soon_threadsafe(callback(name), label(name));
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
  handles_[name] = handle;
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

// ---- fds ---------------------------------------------------------------------------------

void Runner::pipe(const Step& s) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) OSError::raise_errno(errno);
  fds_[s.name(0, "a name for the read end")] = p[0];
  fds_[s.name(1, "a name for the write end")] = p[1];
}

void Runner::socketpair(const Step& s) {
  int p[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) OSError::raise_errno(errno);
  fds_[s.name(0, "a name")] = p[0];
  fds_[s.name(1, "a name")] = p[1];
}

// read_fd and write_fd never block (INTERPRETING.md 5): the fd is made non-blocking first.
static void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void Runner::write_fd(const Step& s) {
  int f = fd(s, 0);
  set_nonblocking(f);
  const auto& what = s.arg(1, "a byte count or text");
  std::string data = what.is_number_integer() ? pattern(what.get<std::size_t>()) : text_value(what);
  ssize_t n = ::write(f, data.data(), data.size());
  if (n < 0) OSError::raise_errno(errno);
  rec_.returned(s.op, {n});
}

void Runner::read_fd(const Step& s) {
  int f = fd(s, 0);
  set_nonblocking(f);
  std::string buf(s.arg(1, "a byte count").get<std::size_t>(), '\0');
  ssize_t n = ::read(f, buf.data(), buf.size());
  if (n < 0) OSError::raise_errno(errno);
  buf.resize(std::size_t(n));
  rec_.returned(s.op, data_args(buf));
}

void Runner::close_fd(const Step& s) {
  if (::close(fd(s, 0)) < 0) OSError::raise_errno(errno);
}

void Runner::add_io(const Step& s) {
  int f = fd(s, 0);
  std::string name = s.name(1, "a callback name");
  if (s.op == "add_reader")
    loop_.add_reader(f, callback(name), label(name));
  else
    loop_.add_writer(f, callback(name), label(name));
}

void Runner::remove_io(const Step& s) {
  int f = fd(s, 0);
  rec_.returned(s.op, {s.op == "remove_reader" ? loop_.remove_reader(f) : loop_.remove_writer(f)});
}

}  // namespace loopcheck::ref
