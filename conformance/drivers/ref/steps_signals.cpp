// Signal steps of the ref driver: add/remove handlers (also from a helper thread), raise
// signals from the loop thread, a helper thread or another process, report a signal's
// disposition, cancel a stored signal handle.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/signals.hpp"
#include "runner.hpp"

extern char** environ;

namespace loopcheck::ref {
namespace {

// Python's signal module names (Linux).
const std::map<std::string, int>& signal_names() {
  static const std::map<std::string, int> names = {
      {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},       {"SIGQUIT", SIGQUIT},     {"SIGILL", SIGILL},
      {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},     {"SIGIOT", SIGIOT},       {"SIGBUS", SIGBUS},
      {"SIGFPE", SIGFPE},   {"SIGKILL", SIGKILL},     {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV},
      {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE},     {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM},
      {"SIGSTKFLT", SIGSTKFLT}, {"SIGCHLD", SIGCHLD}, {"SIGCONT", SIGCONT},     {"SIGSTOP", SIGSTOP},
      {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN},     {"SIGTTOU", SIGTTOU},     {"SIGURG", SIGURG},
      {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},     {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF},
      {"SIGWINCH", SIGWINCH}, {"SIGIO", SIGIO},       {"SIGPOLL", SIGPOLL},     {"SIGPWR", SIGPWR},
      {"SIGSYS", SIGSYS},   {"SIGRTMIN", SIGRTMIN},   {"SIGRTMAX", SIGRTMAX},
  };
  return names;
}

// Waits for `pid` to exit (reaping it) within `seconds`; false on timeout (then kills it).
bool wait_child(pid_t pid, double seconds) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      if (pidfd >= 0) ::close(pidfd);
      return false;
    }
    if (pidfd >= 0) {
      struct pollfd p {pidfd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return true;
}

}  // namespace

// A signal argument: a name such as SIGUSR1 becomes its number, an integer passes as is;
// a quoted string cannot be passed to the C++ API (it takes an int).
int Runner::signal_arg(const Step& s, std::size_t i) const {
  const auto& a = s.arg(i, "a signal");
  if (a.is_number_integer()) return a.get<int>();
  if (a.is_string()) {
    std::string name = a.get<std::string>();
    // Real-time signals by offset: SIGRTMIN+2, SIGRTMAX-1.
    for (const char* base : {"SIGRTMIN+", "SIGRTMAX-"}) {
      std::string b(base);
      if (name.size() > b.size() && name.compare(0, b.size(), b) == 0) {
        int n = std::stoi(name.substr(b.size()));
        return b[8] == '+' ? SIGRTMIN + n : SIGRTMAX - n;
      }
    }
    auto it = signal_names().find(name);
    if (it == signal_names().end()) throw StepError("unknown signal name '" + a.get<std::string>() + "'");
    return it->second;
  }
  throw Unsupported("the C++ API takes signal numbers as int; " + a.dump() + " cannot be passed");
}

// loop=L: a loop made by `new_loop L`.
EventLoop& Runner::loop_arg(const Step& s) {
  if (!s.kw.contains("loop") || s.kw["loop"] == "loop") return loop_;
  std::string name = s.kw["loop"].get<std::string>();
  auto it = other_loops_.find(name);
  if (it == other_loops_.end()) throw StepError("unknown name '" + name + "' (not created by an earlier step)");
  return *it->second;
}

void Runner::new_loop(const Step& s) { other_loops_[s.name(0, "a loop name")] = std::make_unique<EventLoop>(); }

void Runner::add_signal_handler(const Step& s) {
  std::string name = s.name(1, "a callback name");
  if (name == "@coroutine") throw Unsupported("C++ has no coroutine functions to pass as a signal handler");
  int sig = signal_arg(s, 0);
  // Further arguments are the handler's own, recorded as `callback NAME ARG...`.
  nlohmann::json args = nlohmann::json::array({name});
  for (std::size_t i = 2; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    args.push_back(a.is_object() && a.contains("str") ? a["str"] : a);
  }
  Callback cb = [this, name, args] {
    rec_.event("callback", args);
    run_actions(name);
  };
  EventLoop& loop = loop_arg(s);
  here_or_on_thread(s, [&] {
    loop.add_signal_handler(sig, std::move(cb), label(name));
    return 0;
  });
}

void Runner::remove_signal_handler(const Step& s) {
  int sig = signal_arg(s, 0);
  EventLoop& loop = loop_arg(s);
  rec_.returned(s.op, {here_or_on_thread(s, [&] { return loop.remove_signal_handler(sig); })});
}

void Runner::signal_wakeup_fd(const Step& s) {
  rec_.returned(s.op, {loopcheck::signal_wakeup_fd() == -1 ? "unset" : "set"});
}

void Runner::signal_restarts(const Step& s) {
  struct sigaction current {};
  if (::sigaction(signal_arg(s, 0), nullptr, &current) < 0) OSError::raise_errno(errno);
  rec_.returned(s.op, {(current.sa_flags & SA_RESTART) != 0});
}

// Each signal is sent to this thread while it blocks them all, so they are pending at once;
// unblocking lets the kernel deliver them in its own order.
void Runner::deliver_pending(const Step& s) {
  if (s.args.empty()) throw StepError("line " + std::to_string(s.line) + ": deliver_pending needs at least one signal");
  sigset_t set, old;
  sigemptyset(&set);
  std::vector<int> sigs;
  for (std::size_t i = 0; i < s.args.size(); ++i) {
    sigs.push_back(signal_arg(s, i));
    sigaddset(&set, sigs.back());
  }
  ::pthread_sigmask(SIG_BLOCK, &set, &old);
  for (int sig : sigs) ::pthread_kill(::pthread_self(), sig);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Runner::kill(const Step& s) {
  std::string source = s.name(0, "self, thread or process");
  int sig = signal_arg(s, 1);
  long count = s.kw.contains("count") ? s.kw["count"].get<long>() : 1;
  auto send = [sig, count] {
    for (long i = 0; i < count; ++i) ::kill(::getpid(), sig);
  };
  if (source == "self") {
    send();
  } else if (source == "thread") {
    std::thread t(send);
    t.join();
  } else if (source == "process") {
    // The child program sends them; we wait for it without running the loop.
    std::vector<std::string> words = {child_path_, "kill", std::to_string(::getpid()), std::to_string(sig),
                                      std::to_string(count)};
    pid_t pid = spawn_child(words);
    if (!wait_child(pid, 10.0 * multiplier_)) throw StepError("signal-sending child did not finish within its deadline");
  } else {
    throw StepError("line " + std::to_string(s.line) + ": kill needs self, thread or process, got '" + source + "'");
  }
}

void Runner::signal_disposition(const Step& s) {
  rec_.returned(s.op, {std::string(loopcheck::signal_disposition(signal_arg(s, 0)))});
}

void Runner::cancel_signal_handle(const Step& s) {
  int sig = signal_arg(s, 0);
  HandleRef handle = loop_.signal_handler(sig);
  if (!handle) throw StepError("line " + std::to_string(s.line) + ": no handler is registered for signal " + std::to_string(sig));
  handle->cancel();
}

// Forks; the child reports whether it sees a running loop and a wakeup fd, then exits.
void Runner::fork_child_state(const Step& s) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) OSError::raise_errno(errno);
  pid_t pid = ::fork();
  if (pid == 0) {
    char answer[2] = {get_running_loop_or_null() ? '1' : '0', loopcheck::signal_wakeup_fd() != -1 ? '1' : '0'};
    ssize_t n = ::write(p[1], answer, 2);
    ::_exit(n == 2 ? 0 : 1);
  }
  ::close(p[1]);
  char answer[2] = {0, 0};
  struct pollfd pfd {p[0], POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, static_cast<int>(5000 * multiplier_));
  } while (ready < 0 && errno == EINTR);
  ssize_t n = ready > 0 ? ::read(p[0], answer, 2) : 0;
  ::close(p[0]);
  if (pid > 0) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (n != 2) throw StepError("forked child did not report its state within its deadline");
  rec_.returned(s.op, {answer[0] == '1' ? "running" : "none", answer[1] == '1' ? "set" : "unset"});
}

// ---- children outside the loop (spawn, await_exit, reap) ----------------------------------

pid_t Runner::spawn_child(const std::vector<std::string>& words) {
  std::vector<char*> argv;
  for (const auto& w : words) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // The driver's stdout is the protocol channel: the child's stdout goes to stderr.
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) OSError::raise_errno(err);
  return pid;
}

void Runner::spawn(const Step& s) {
  std::string name = s.name(0, "a child name");
  std::vector<std::string> words;
  for (std::size_t i = 1; i < s.args.size(); ++i) {
    const auto& a = s.args[i];
    if (a.is_object() && a.contains("str")) words.push_back(a["str"].get<std::string>());
    else if (a.is_string()) words.push_back(a.get<std::string>());
    else if (a.is_number_integer()) words.push_back(std::to_string(a.get<long long>()));
    else if (a.is_number_float()) words.push_back(py_repr(a.get<double>()));
    else words.push_back(a.dump());
  }
  if (words.empty() || words[0] != "child")
    throw StepError("line " + std::to_string(s.line) + ": spawn needs a command line starting with `child`");
  words[0] = child_path_;
  children_.pids[name] = spawn_child(words);
  rec_.bind_pid(children_.pids[name], name);
}

pid_t Runner::child_pid(const Step& s) const {
  std::string name = s.name(0, "a child name");
  auto it = children_.pids.find(name);
  if (it != children_.pids.end()) return it->second;
  it = subprocess_children_.pids.find(name);  // subprocess_exec children
  if (it == subprocess_children_.pids.end()) throw StepError("line " + std::to_string(s.line) + ": no child process is named '" + name + "'");
  return it->second;
}

void Runner::await_exit(const Step& s) {
  pid_t pid = child_pid(s);
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(10.0 * multiplier_);
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) return;
    if (std::chrono::steady_clock::now() > end)
      throw StepError("line " + std::to_string(s.line) + ": child did not exit within its deadline");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Runner::reap(const Step& s) {
  pid_t pid = child_pid(s);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) OSError::raise_errno(errno);
  children_.reaped.insert(pid);
  // os.waitstatus_to_exitcode
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  rec_.returned(s.op, {code});
}

ChildTable::~ChildTable() {
  for (const auto& [name, pid] : pids) {
    if (reaped.count(pid)) continue;
    ::kill(pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace loopcheck::ref
