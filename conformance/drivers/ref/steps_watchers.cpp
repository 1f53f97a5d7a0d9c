// Child watcher steps of the ref driver (conformance/drivers/python/steps_process.py gives
// their meaning): set_child_watcher, new_child_watcher, get_child_watcher, set_event_loop,
// waitpid_threads, await_reaped, W.METHOD on watchers and C.kill / C.send_signal on
// children started by `spawn`.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "loopcheck/child_watcher_policy.hpp"
#include "loopcheck/child_watchers.hpp"
#include "loopcheck/errors.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

std::shared_ptr<AbstractChildWatcher> make_watcher(const std::string& kind) {
  if (kind == "safe") return std::make_shared<SafeChildWatcher>();
  if (kind == "fast") return std::make_shared<FastChildWatcher>();
  if (kind == "multiloop") return std::make_shared<MultiLoopChildWatcher>();
  if (kind == "threaded") return std::make_shared<ThreadedChildWatcher>();
  if (kind == "pidfd") return std::make_shared<PidfdChildWatcher>();
  if (kind == "abstract") return std::make_shared<AbstractChildWatcher>();
  if (kind == "base") return std::make_shared<BaseChildWatcher>();
  return nullptr;
}

[[noreturn]] void not_a_watcher(const nlohmann::json& v) {
  throw Unsupported("the C++ API takes a std::shared_ptr<AbstractChildWatcher>; " + v.dump() +
                    " cannot be passed, so CPython's assertion on the argument's type has no counterpart");
}

}  // namespace

Runner::Watchers::~Watchers() {
  // The installed watcher goes with the scenario, before its children are killed.
  child_watcher_policy().reset();
}

std::shared_ptr<AbstractChildWatcher> Runner::watcher_named(const std::string& name) const {
  auto it = watchers_.named.find(name);
  return it == watchers_.named.end() ? nullptr : it->second;
}

// set_child_watcher KIND [attach=false] | NAME | none | NUMBER
void Runner::set_child_watcher(const Step& s) {
  const auto& arg = s.arg(0, "safe, fast, multiloop, threaded, pidfd, none, a watcher name or a value");
  if (arg.is_null() || arg == "none") return child_watcher_policy().set_child_watcher(nullptr);
  if (!arg.is_string()) not_a_watcher(arg);
  std::string kind = arg.get<std::string>();
  if (auto existing = watcher_named(kind)) return child_watcher_policy().set_child_watcher(existing);
  auto watcher = make_watcher(kind);
  if (!watcher || kind == "abstract" || kind == "base")
    throw StepError("line " + std::to_string(s.line) + ": unknown watcher kind '" + kind + "'");
  child_watcher_policy().set_child_watcher(watcher);
  watchers_.named["watcher"] = watcher;
  if (s.kw.value("attach", true)) watcher->attach_loop(&loop_);
}

// new_child_watcher NAME KIND: a watcher the policy does not hold.
void Runner::new_child_watcher(const Step& s) {
  std::string name = s.name(0, "a watcher name");
  std::string kind = s.name(1, "a watcher kind");
  auto watcher = make_watcher(kind);
  if (!watcher) throw StepError("line " + std::to_string(s.line) + ": unknown watcher kind '" + kind + "'");
  watchers_.named[name] = std::move(watcher);
}

void Runner::get_child_watcher(const Step& s) {
  auto watcher = child_watcher_policy().get_child_watcher();
  watchers_.named["watcher"] = watcher;
  rec_.returned(s.op, {watcher->class_name()});
}

// set_event_loop loop|L|none: the policy attaches its watcher to the loop (the current-loop
// registry itself is Python's; nothing else here reads it).
void Runner::set_event_loop(const Step& s) {
  const auto& arg = s.arg(0, "loop, a loop name or none");
  EventLoop* loop = nullptr;
  if (!arg.is_null() && arg != "none") {
    std::string name = s.name(0, "loop, a loop name or none");
    if (name == "loop") {
      loop = &loop_;
    } else {
      auto it = other_loops_.find(name);
      if (it == other_loops_.end()) throw StepError("unknown name '" + name + "' (not created by an earlier step)");
      loop = it->second.get();
    }
  }
  child_watcher_policy().set_event_loop(loop);
}

void Runner::waitpid_threads(const Step& s) {
  auto names = ThreadedChildWatcher::live_thread_names();
  nlohmann::json values = nlohmann::json::array();
  for (auto& n : names) values.push_back(n);
  if (values.empty()) values.push_back("none");
  rec_.returned(s.op, values);
}

// Waits (deadline 10 s) until someone else reaped the child, then until the watcher that
// reaped it has reported (CPython's handler reports before the main thread goes on).
void Runner::await_reaped(const Step& s) {
  pid_t pid = child_pid(s);
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(10.0 * multiplier_);
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) break;
    if (std::chrono::steady_clock::now() > end)
      throw StepError("line " + std::to_string(s.line) + ": child was not reaped within its deadline");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  children_.reaped.insert(pid);
  auto settle = [](const std::shared_ptr<AbstractChildWatcher>& w) {
    if (auto* multi = dynamic_cast<MultiLoopChildWatcher*>(w.get())) multi->settle();
    if (auto* threaded = dynamic_cast<ThreadedChildWatcher*>(w.get())) threaded->settle();
  };
  for (const auto& [name, w] : watchers_.named) settle(w);
  settle(child_watcher_policy().current_child_watcher());
}

// `callback NAME CHILD RETURNCODE`, then NAME's `on` actions.
ChildCallback Runner::child_callback(const std::string& name) {
  return [this, name](pid_t pid, int returncode) {
    nlohmann::json shown = pid;
    for (const auto& [child, p] : children_.pids)
      if (p == pid) shown = child;
    rec_.event("callback", {name, shown, returncode});
    run_actions(name);
  };
}

EventLoop* Runner::loop_value(const Step& s, std::size_t i) {
  const auto& arg = s.arg(i, "loop, none or a loop name");
  if (arg.is_null() || arg == "none") return nullptr;
  if (!arg.is_string()) {
    throw Unsupported("attach_loop takes an EventLoop* in C++; " + arg.dump() +
                      " cannot be passed, so CPython's assertion on the argument's type has no counterpart");
  }
  std::string name = arg.get<std::string>();
  if (name == "loop") return &loop_;
  auto it = other_loops_.find(name);
  if (it == other_loops_.end()) throw StepError("unknown name '" + name + "' (not created by an earlier step)");
  return it->second.get();
}

bool Runner::watcher_method(const Step& s, const std::string& object, const std::string& method) {
  if (auto watcher = watcher_named(object)) {
    watcher_call(s, *watcher, method);
    return true;
  }
  if (!children_.pids.count(object) || (method != "kill" && method != "send_signal")) return false;
  // subprocess.Popen.send_signal: poll() first (which may reap), then kill().
  pid_t pid = children_.pids.at(object);
  int sig = method == "kill" ? SIGKILL : signal_arg(s, 0);
  int status;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid || (r < 0 && errno == ECHILD)) {
    children_.reaped.insert(pid);
    return true;
  }
  if (::kill(pid, sig) < 0) OSError::raise_errno(errno);
  return true;
}

void Runner::watcher_call(const Step& s, AbstractChildWatcher& w, const std::string& method) {
  if (method == "add_child_handler") {
    pid_t pid = child_pid(s);
    const auto& cb = s.arg(1, "a callback name");
    if (!cb.is_string())
      throw Unsupported("add_child_handler takes a callable in C++; " + cb.dump() +
                        " cannot be passed, so the error for a non-callable has no counterpart");
    std::string name = cb.get<std::string>();
    w.add_child_handler(pid, child_callback(name), label(name));
  } else if (method == "remove_child_handler") {
    rec_.returned(s.op, {w.remove_child_handler(child_pid(s))});
  } else if (method == "attach_loop") {
    EventLoop* loop = loop_value(s, 0);
    here_or_on_thread(s, [&] {
      w.attach_loop(loop);
      return 0;
    });
  } else if (method == "is_active") {
    rec_.returned(s.op, {w.is_active()});
  } else if (method == "close") {
    w.close();
  } else if (method == "enter") {
    w.enter();
  } else if (method == "exit") {
    w.exit();
  } else if (method == "do_waitpid" || method == "do_waitpid_all") {
    auto* base = dynamic_cast<BaseChildWatcher*>(&w);
    if (!base) throw Unsupported(w.class_name() + " keeps its waits private in C++ (no _" + method + ")");
    if (method == "do_waitpid") {
      base->do_waitpid(child_pid(s));
    } else {
      base->do_waitpid_all();
    }
  } else {
    throw Unsupported("watcher method " + method + " is not implemented by the ref driver yet");
  }
}

}  // namespace loopcheck::ref
