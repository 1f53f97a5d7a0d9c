#include "runner.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"

namespace loopcheck::ref {
namespace {

[[noreturn]] void throw_python(const std::string& type, const std::string& message) {
  if (type == "ValueError") throw ValueError(message);
  if (type == "TypeError") throw TypeError(message);
  if (type == "RuntimeError") throw RuntimeError(message);
  if (type == "AttributeError") throw AttributeError(message);
  if (type == "KeyError") throw KeyError(py_repr(message));  // str(KeyError(k)) is repr(k)
  if (type == "NotImplementedError") throw NotImplementedError(message);
  if (type == "KeyboardInterrupt") throw KeyboardInterrupt(message);
  if (type == "SystemExit") throw SystemExit(message.empty() ? std::nullopt : std::optional<int>(std::stoi(message)));
  if (type == "Exception") throw Exception(message);
  throw Exception(type, message);   // a scenario-named subclass of Exception
}

}  // namespace

std::exception_ptr python_exception(const std::string& type, const std::string& message) {
  try {
    throw_python(type, message);
  } catch (...) {
    return std::current_exception();
  }
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

Runner::~Runner() {
  for (auto& t : late_threads_) t.join();
}

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
      {"loop_call", &Runner::loop_call},
      {"call_soon_threadsafe_later", &Runner::call_soon_threadsafe_later},
      {"call_soon_threadsafe_many", &Runner::call_soon_threadsafe_many},
      {"cancel_from_thread", &Runner::cancel_from_thread},
      {"call_soon_function", &Runner::call_soon_function},
      {"slow_callback_duration", &Runner::slow_callback_duration},
      {"handle_repr", &Runner::handle_repr},
      {"handle_when", &Runner::handle_when},
      {"loop_repr", &Runner::loop_repr},
      {"time", &Runner::loop_time},
      {"debug_log", &Runner::debug_log},
      {"call_exception_handler_unreprable", &Runner::python_only},
      {"set_var", &Runner::python_only},
      {"get_var", &Runner::python_only},
      {"get_event_loop_policy", &Runner::python_only},
      {"set_event_loop", &Runner::set_event_loop},  // steps_watchers.cpp
      {"get_event_loop", &Runner::python_only},
      {"loop_is_instance", &Runner::python_only},
      {"future", &Runner::future},
      {"run_until_complete", &Runner::run_until_complete},
      {"forget", &Runner::forget},
      {"gc_collect", &Runner::gc_collect},
      {"regular_file", &Runner::regular_file_object},  // steps_sendfile.cpp
      {"devnull", &Runner::devnull},
      {"get_blocking", &Runner::get_blocking},
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
      // steps_watchers.cpp
      {"set_child_watcher", &Runner::set_child_watcher},
      {"new_child_watcher", &Runner::new_child_watcher},
      {"get_child_watcher", &Runner::get_child_watcher},
      {"waitpid_threads", &Runner::waitpid_threads},
      {"await_reaped", &Runner::await_reaped},
      // steps_sockets.cpp
      {"socket", &Runner::socket},
      {"stale_socket", &Runner::stale_socket},
      {"path_exists", &Runner::path_exists},
      {"fd_limit", &Runner::fd_limit},
      {"create_unix_server", &Runner::create_unix_server},
      {"create_unix_connection", &Runner::create_unix_connection},
      // steps_sendfile.cpp
      {"memory_file", &Runner::memory_file},
      {"sock_sendfile", &Runner::sock_sendfile},
      {"sendfile", &Runner::sendfile},
      // steps_read_pipe.cpp
      {"connect_read_pipe", &Runner::connect_read_pipe},
      {"received", &Runner::received},
      {"pty", &Runner::pty},
      // steps_write_pipe.cpp
      {"connect_write_pipe", &Runner::connect_write_pipe},
      // steps_subprocess.cpp
      {"subprocess_exec", &Runner::subprocess_exec},
      {"subprocess_shell", &Runner::subprocess_shell},
      {"create_subprocess_exec", &Runner::create_subprocess_exec},
  };
  return table;
}

void Runner::execute(const nlohmann::json& steps) {
  for (const auto& d : steps) {
    Step s(d);
    rec_.current_line = s.line;
    sync_fd_names();
    if (s.op == "raise") {
      throw_python(s.name(0, "an exception type"), s.args.size() > 1 ? text_value(s.args[1]) : "");
    }
    auto it = handlers().find(s.op);
    Handler handler = it == handlers().end() ? nullptr : it->second;
    if (!handler && s.op.find('.') != std::string::npos) handler = &Runner::method_call;  // NAME.METHOD
    if (!handler) throw Unsupported("step " + s.op + " is not implemented by the ref driver yet");
    try {
      (this->*handler)(s);
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

bool Runner::with_deadline(const std::function<void()>& fn, double seconds, EventLoop* target) {
  EventLoop& loop = target ? *target : loop_;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> fired{false};
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return done; })) {
      fired = true;
      try {
        loop.call_soon_threadsafe([&loop] { loop.stop(); }, Label("stop()"));
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

}  // namespace loopcheck::ref
