// Subprocess steps of the ref driver (conformance/drivers/python/steps_process.py gives their
// meaning): subprocess_exec, subprocess_shell, and P.METHOD on subprocess transports. The
// pipe transports are bound as P.stdin, P.stdout, P.stderr, so the transport steps
// (steps_read_pipe.cpp) reach them.
#include <sys/stat.h>

#include <any>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/subprocess_streams.hpp"
#include "loopcheck/subprocess_transport.hpp"
#include "data.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

const char* const kStreamNames[3] = {"stdin", "stdout", "stderr"};

// Python truthiness of a scenario keyword value.
bool truthy(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_null()) return false;
  if (v.is_object() && v.contains("str")) return !v["str"].get<std::string>().empty();
  return true;
}

std::optional<std::string> optional_text(const nlohmann::json& v) {
  if (v.is_null()) return std::nullopt;
  return text_value(v);
}

// A scenario payload: N pattern bytes, or a quoted text's bytes.
std::string payload_of(const Step& s, const nlohmann::json& v) {
  if (v.is_number_integer()) return pattern(v.get<std::size_t>());
  if (v.is_object() && v.contains("str")) return v["str"].get<std::string>();
  throw StepError("line " + std::to_string(s.line) + ": expected a byte count or a quoted text");
}

}  // namespace

// The command line after `child` (the child program) or `nonexistent` (a missing program).
std::vector<std::string> Runner::child_words(const Step& s, std::size_t start) const {
  std::vector<std::string> words;
  for (std::size_t i = start; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    if (a.is_number_float())
      words.push_back(py_repr(a.get<double>()));
    else
      words.push_back(text_value(a));
  }
  if (words.empty()) throw StepError("line " + std::to_string(s.line) + ": " + s.op + " needs a command line");
  if (words[0] == "child")
    words[0] = child_path_;
  else if (words[0] == "nonexistent")
    words[0] = rec_.tmpdir + "/nonexistent-program";
  else
    throw StepError("line " + std::to_string(s.line) + ": command lines must start with `child` or `nonexistent`");
  return words;
}

Stdio Runner::stdio_kw(const Step& s, const char* key, const char* fallback) const {
  std::string v = s.has_kw(key) ? text_value(s.kw[key]) : fallback;
  if (v == "pipe") return Stdio::pipe();
  if (v == "devnull") return Stdio::devnull();
  if (v == "inherit") return Stdio::inherit();
  if (v == "stdout") return Stdio::stdout_();
  auto it = fds_.find(v);
  if (it == fds_.end()) throw StepError("unknown name '" + v + "' (not created by an earlier step)");
  return Stdio::of_fd(it->second);
}

// Every keyword but the driver's own goes to the call, as the Python driver passes it.
SubprocessOptions Runner::subprocess_options(const Step& s, const char* default_stream) const {
  SubprocessOptions o;
  o.stdin_ = stdio_kw(s, "stdin", default_stream);
  o.stdout_ = stdio_kw(s, "stdout", default_stream);
  o.stderr_ = stdio_kw(s, "stderr", default_stream);
  for (const auto& [key, v] : s.kw.items()) {
    if (key == "stdin" || key == "stdout" || key == "stderr" || key == "task" || key == "factory" ||
        key == "pathlib" || key == "limit")
      continue;
    if (key == "universal_newlines") o.universal_newlines = truthy(v);
    else if (key == "shell") o.shell = truthy(v);
    else if (key == "bufsize" && v.is_number_integer()) o.bufsize = v.get<long>();
    else if (key == "text") o.text = truthy(v);
    else if (key == "encoding") o.encoding = optional_text(v);
    else if (key == "errors") o.errors = optional_text(v);
    else if (key == "start_new_session") o.popen.start_new_session = truthy(v);
    else if (key == "cwd") o.popen.cwd = text_value(v) == "/" ? "/" : rec_.tmpdir + "/" + text_value(v);
    else if (key == "loop")
      throw Unsupported("the C++ subprocess functions take the loop as their first argument; a loop= keyword "
                        "argument (and Python's TypeError for it) has no counterpart");
    else
      throw Unsupported("keyword " + key + "= of " + s.op + " has no counterpart in the C++ SubprocessOptions");
  }
  return o;
}

std::shared_ptr<RecordingSubprocessProtocol> Runner::make_subprocess_protocol(const std::string& name) {
  RecordingProtocol::Events events{
      [this](const std::string& target, nlohmann::json args) {
        rec_.event(target, std::move(args));
        run_actions(target);
      },
      [this](const std::string& target) { return actions_.count(target) > 0; }};
  auto protocol = std::make_shared<RecordingSubprocessProtocol>(name, std::move(events));
  subprocess_protocols_[name] = protocol;
  return protocol;
}

SubprocessProtocolFactory Runner::subprocess_factory(const Step& s, const std::string& name) {
  auto protocol = make_subprocess_protocol(name);
  bool record = s.has_kw("factory") && text_value(s.kw["factory"]) == "record";
  return [this, protocol, name, record]() -> std::shared_ptr<SubprocessProtocol> {
    if (record) rec_.event("factory", {name});
    return protocol;
  };
}

void Runner::bind_subprocess(const std::string& name, const std::shared_ptr<SubprocessTransport>& transport) {
  auto t = std::dynamic_pointer_cast<BaseSubprocessTransport>(transport);
  subprocesses_[name] = t;
  subprocess_children_.pids[name] = t->get_pid();  // killed and reaped at the end if still there
  rec_.bind_pid(t->get_pid(), name);
  for (int fd = 0; fd < 3; ++fd)
    if (auto pipe = t->get_pipe_transport(fd)) transports_[name + "." + kStreamNames[fd]] = pipe;
}

// An async step's outcome: at top level with run_until_complete and the step's deadline,
// inside a callback when its future is done (`cancelled OP` for a cancelled task).
template <class T, class Bound>
void Runner::await_async(const Step& s, Future<T> future, std::function<bool()> cancel, Bound bound) {
  if (loop_.is_running()) {
    int line = s.line;
    std::string op = s.op;
    future.add_done_callback(
        [this, line, op, bound](const Future<T>& done) mutable {
          int saved = std::exchange(rec_.current_line, line);
          try {
            if (done.cancelled()) {
              rec_.event("cancelled", {op});
            } else if constexpr (std::is_void_v<T>) {
              done.result();
              bound();
            } else {
              bound(done.result());
            }
          } catch (...) {
            rec_.raised(op, std::current_exception());
          }
          rec_.current_line = saved;
        },
        label("done"));
    if (s.has_kw("task")) tasks_[text_value(s.kw["task"])] = std::move(cancel);
    return;
  }
  if constexpr (std::is_void_v<T>) {
    if (with_deadline([&] { loop_.run_until_complete(future); }, deadline(s))) {
      if (cancel) cancel();
      rec_.event("timeout", {s.op});
      return;
    }
    bound();
  } else {
    std::optional<T> value;
    if (with_deadline([&] { value = loop_.run_until_complete(future); }, deadline(s))) {
      if (cancel) cancel();
      rec_.event("timeout", {s.op});
      return;
    }
    bound(*value);
  }
}

void Runner::subprocess_exec(const Step& s) {
  std::string name = s.name(0, "a process name");
  auto words = child_words(s, 1);
  auto options = subprocess_options(s, "pipe");
  auto creation = loopcheck::subprocess_exec(loop_, subprocess_factory(s, name), std::move(words), options);
  await_async(s, creation.result, creation.cancel,
              [this, name](const SubprocessResult& r) { bind_subprocess(name, r.first); });
}

// subprocess_shell P "CMD" runs CMD with /bin/sh; `subprocess_shell P child ...` passes the
// argument list itself, which the loop refuses.
void Runner::subprocess_shell(const Step& s) {
  std::string name = s.name(0, "a process name");
  const auto& cmd_arg = s.arg(1, "a quoted shell command or a child command line");
  std::variant<std::string, std::vector<std::string>> cmd;
  if (cmd_arg.is_object() && cmd_arg.contains("str"))
    cmd = cmd_arg["str"].get<std::string>();
  else
    cmd = child_words(s, 1);
  auto options = subprocess_options(s, "pipe");
  auto creation = loopcheck::subprocess_shell(loop_, subprocess_factory(s, name), std::move(cmd), options);
  await_async(s, creation.result, creation.cancel,
              [this, name](const SubprocessResult& r) { bind_subprocess(name, r.first); });
}

// asyncio.create_subprocess_exec(...): streams are inherited unless a keyword says otherwise.
void Runner::create_subprocess_exec(const Step& s) {
  std::string name = s.name(0, "a process name");
  auto words = child_words(s, 1);  // pathlib=true: a path-like program is its path string in C++
  auto options = subprocess_options(s, "inherit");
  long limit = static_cast<long>(kStreamDefaultLimit);
  if (s.has_kw("limit")) {
    if (!s.kw["limit"].is_number_integer()) throw Unsupported("limit= takes an integer in C++");
    limit = s.kw["limit"].get<long>();
  }
  auto creation = loopcheck::create_subprocess_exec(loop_, std::move(words), options, limit);
  await_async(s, creation.result, creation.cancel, [this, name](const std::shared_ptr<Process>& p) {
    processes_[name] = p;
    subprocess_children_.pids[name] = p->pid();
    rec_.bind_pid(p->pid(), name);
  });
}

// P.METHOD on an asyncio.subprocess.Process; false when P is none.
bool Runner::process_method(const Step& s, const std::string& object, const std::string& method) {
  auto it = processes_.find(object);
  if (it == processes_.end()) return false;
  std::shared_ptr<Process> p = it->second;
  if (method == "streams") {
    rec_.returned(s.op, {std::string("stdin=") + (p->stdin_ ? "StreamWriter" : "None"),
                         std::string("stdout=") + (p->stdout_ ? "StreamReader" : "None"),
                         std::string("stderr=") + (p->stderr_ ? "StreamReader" : "None")});
  } else if (method == "repr") {
    rec_.returned(s.op, {p->repr()});
  } else if (method == "returncode") {
    auto rc = p->returncode();
    rec_.returned(s.op, {rc ? nlohmann::json(*rc) : nlohmann::json("None")});
  } else if (method == "kill") {
    p->kill();
  } else if (method == "terminate") {
    p->terminate();
  } else if (method == "send_signal") {
    p->send_signal(signal_arg(s, 0));
  } else if (method == "wait") {
    Future<int> waiter = p->wait();
    await_async(s, waiter, [waiter]() mutable { return waiter.cancel(); },
                [this, op = s.op](int rc) { rec_.returned(op, {rc}); });
  } else if (method == "communicate") {
    std::optional<std::string> input;
    if (!s.args.empty()) input = payload_of(s, s.args[0]);
    auto result = p->communicate(input);
    await_async(s, result, [result]() mutable { return result.cancel(); },
                [this, op = s.op](const Process::Output& out) {
                  nlohmann::json tokens = nlohmann::json::array();
                  for (const auto& stream : {out.first, out.second}) {
                    if (!stream) {
                      tokens.push_back("None");
                      continue;
                    }
                    for (auto& t : data_args(*stream)) tokens.push_back(t);
                  }
                  rec_.returned(op, tokens);
                });
  } else if (method == "write_and_drain") {
    if (!p->stdin_) throw AttributeError("'NoneType' object has no attribute 'write'");
    std::string data = payload_of(s, s.arg(0, "a byte count or text"));
    p->stdin_->write({reinterpret_cast<const std::byte*>(data.data()), data.size()});
    auto drained = p->stdin_->drain();
    await_async(s, drained, [drained]() mutable { return drained.cancel(); },
                [this, op = s.op] { rec_.returned(op, {"None"}); });
  } else {
    throw Unsupported("Process method " + method + " is not implemented by the ref driver");
  }
  return true;
}

// The name a returned transport is bound to, or None.
nlohmann::json Runner::transport_name(const std::shared_ptr<BaseTransport>& t) const {
  if (!t) return "None";
  for (const auto& [name, bound] : transports_)
    if (bound.get() == t.get()) return name;
  return "<transport>";
}

// P.METHOD on a subprocess transport (and P.stdin.fd_kind on its pipes); false when the
// object is neither.
bool Runner::subprocess_method(const Step& s, const std::string& object, const std::string& method) {
  if (method == "fd_kind" && transports_.count(object)) {
    std::any pipe = transports_.at(object)->get_extra_info("pipe");
    struct stat st {};
    if (!pipe.has_value() || ::fstat(std::any_cast<int>(pipe), &st) < 0) OSError::raise_errno(errno);
    rec_.returned(s.op, {S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket" : "other"});
    return true;
  }
  auto it = subprocesses_.find(object);
  if (it == subprocesses_.end()) return false;
  std::shared_ptr<BaseSubprocessTransport> t = it->second;
  if (method == "send_signal") {
    t->send_signal(signal_arg(s, 0));
  } else if (method == "terminate") {
    t->terminate();
  } else if (method == "kill") {
    t->kill();
  } else if (method == "close") {
    t->close();
  } else if (method == "is_closing") {
    rec_.returned(s.op, {t->is_closing()});
  } else if (method == "repr") {
    rec_.returned(s.op, {t->repr()});
  } else if (method == "get_returncode") {
    if (auto rc = t->get_returncode()) rec_.returned(s.op, {*rc});
  } else if (method == "get_pid") {
    rec_.returned(s.op, {std::to_string(t->get_pid())});
  } else if (method == "get_pipe_transport") {
    const auto& fd = s.arg(0, "an fd number");
    if (!fd.is_number_integer()) throw Unsupported("get_pipe_transport takes an int fd in C++");
    rec_.returned(s.op, {transport_name(t->get_pipe_transport(fd.get<int>()))});
  } else if (method == "popen") {
    auto popen = std::any_cast<std::shared_ptr<Popen>>(t->get_extra_info("subprocess"));
    rec_.returned(s.op, {"Popen", "pid=" + std::to_string(popen->pid()),
                         std::string("same_pid=") + (popen->pid() == t->get_pid() ? "True" : "False"),
                         "returncode=" + (popen->returncode ? std::to_string(*popen->returncode) : "None")});
  } else if (method == "wait") {
    Future<int> waiter = t->wait();  // _wait()
    await_async(s, waiter, [waiter]() mutable { return waiter.cancel(); },
                [this, op = s.op](int rc) { rec_.returned(op, {rc}); });
  } else {
    throw Unsupported("subprocess transport method " + method + " is not implemented by the ref driver");
  }
  return true;
}

}  // namespace loopcheck::ref
