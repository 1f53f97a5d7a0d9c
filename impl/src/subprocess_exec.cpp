// loop.subprocess_exec / loop.subprocess_shell (base_events.py) and the Unix loop's
// _make_subprocess_transport (unix_events.py, 3.13), run as CPython's task would run the
// coroutine: one step per loop pass, resuming where each `await` resumes.
#include <cstdio>
#include <utility>

#include "loopcheck/child_watcher_policy.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/subprocess_transport.hpp"
#include "loopcheck/warnings.hpp"
#include "subprocess_task.hpp"

namespace loopcheck {
namespace {

// The argument checks, in base_events' order (subprocess_shell's `cmd` check comes first).
void check_options(const SubprocessOptions& o, bool shell_method) {
  if (o.universal_newlines) throw ValueError("universal_newlines must be False");
  bool shell = o.shell.value_or(shell_method);
  if (shell_method && !shell) throw ValueError("shell must be True");
  if (!shell_method && shell) throw ValueError("shell must be False");
  if (o.bufsize != 0) throw ValueError("bufsize must be 0");
  if (o.text) throw ValueError("text must be False");
  if (o.encoding) throw ValueError("encoding must be None");
  if (o.errors) throw ValueError("errors must be None");
}

// base_events._format_pipe
std::string format_pipe(const Stdio& s) {
  switch (s.kind) {
    case Stdio::Kind::Pipe: return "<pipe>";
    case Stdio::Kind::Stdout: return "<stdout>";
    case Stdio::Kind::DevNull: return "-3";  // repr(subprocess.DEVNULL)
    case Stdio::Kind::Fd: return std::to_string(s.fd);
    case Stdio::Kind::Inherit: return "None";
  }
  return "None";
}

// base_events._log_subprocess (DEBUG)
void log_subprocess(const std::string& msg, const SubprocessOptions& o) {
  std::string out = msg;
  if (o.stdin_.kind != Stdio::Kind::Inherit) out += " stdin=" + format_pipe(o.stdin_);
  if (o.stdout_.kind != Stdio::Kind::Inherit && o.stderr_.kind == Stdio::Kind::Stdout) {
    out += " stdout=stderr=" + format_pipe(o.stdout_);
  } else {
    if (o.stdout_.kind != Stdio::Kind::Inherit) out += " stdout=" + format_pipe(o.stdout_);
    if (o.stderr_.kind != Stdio::Kind::Inherit) out += " stderr=" + format_pipe(o.stderr_);
  }
  log(LogLevel::DEBUG, out);
}

// events.get_child_watcher() inside warnings.catch_warnings() ignoring DeprecationWarning.
std::shared_ptr<AbstractChildWatcher> quiet_child_watcher() {
  auto previous = std::make_shared<WarningHandler>();
  *previous = set_warning_handler([previous](const WarningRecord& w) {
    if (w.category == "DeprecationWarning") return;
    if (*previous)
      (*previous)(w);
    else
      std::fprintf(stderr, "%s: %s\n", w.category.c_str(), w.message.c_str());
  });
  std::shared_ptr<AbstractChildWatcher> watcher;
  try {
    watcher = child_watcher_policy().get_child_watcher();
  } catch (...) {
    set_warning_handler(*previous);
    throw;
  }
  set_warning_handler(*previous);
  return watcher;
}

// The task running subprocess_exec()/subprocess_shell(): each method is one task step.
class Creation : public std::enable_shared_from_this<Creation> {
 public:
  Creation(EventLoop& loop, SubprocessProtocolFactory factory, SubprocessSpec spec, SubprocessOptions options,
           std::string debug_msg, detail::SubprocessTaskHooks hooks)
      : loop_(loop),
        factory_(std::move(factory)),
        spec_(std::move(spec)),
        options_(std::move(options)),
        debug_msg_(std::move(debug_msg)),
        hooks_(std::move(hooks)) {}

  // The first step, queued like a new task's __step.
  void schedule(std::function<void()> checks) {
    auto self = shared_from_this();
    loop_.call_soon([self, checks = std::move(checks)] { self->first_step(checks); }, "Task.__step()");
  }

  // Task.cancel(): cancels the awaited future, or marks the next step to raise.
  bool cancel() {
    if (hooks_.done()) return false;
    if (awaiting_waiter_ && waiter_.cancel()) return true;
    if (awaiting_exit_ && exit_.cancel()) return true;
    must_cancel_ = true;
    return true;
  }

 private:
  void first_step(const std::function<void()>& checks) {
    if (must_cancel_) return finish_cancelled();
    try {
      checks();
      protocol_ = factory_();
      if (loop_.get_debug()) log_subprocess(debug_msg_, options_);
      make_transport();
    } catch (...) {
      fail(std::current_exception());
    }
  }

  // _make_subprocess_transport up to `await waiter`.
  void make_transport() {
    watcher_ = quiet_child_watcher();
    watcher_->enter();  // with watcher:
    try {
      if (!watcher_->is_active())
        throw RuntimeError("asyncio.get_child_watcher() is not activated, subprocess support is not installed.");
      waiter_ = loop_.create_future<void>();
      transport_ = UnixSubprocessTransport::create(loop_, protocol_, spec_, waiter_);
      EventLoop* loop = &loop_;
      std::shared_ptr<BaseSubprocessTransport> transp = transport_;
      watcher_->add_child_handler(
          transport_->get_pid(),
          [loop, transp](pid_t, int returncode) {  // _child_watcher_callback
            loop->call_soon_threadsafe([transp, returncode] { transp->process_exited(returncode); },
                                       "_UnixSubprocessTransport._process_exited()");
          },
          "_UnixSelectorEventLoop._child_watcher_callback()");
    } catch (...) {
      exit_watcher();
      throw;
    }
    awaiting_waiter_ = true;
    auto self = shared_from_this();
    waiter_.add_done_callback([self](const Future<void>&) { self->waiter_done(); }, "Task.task_wakeup()");
  }

  void waiter_done() {
    awaiting_waiter_ = false;
    std::exception_ptr error;
    if (must_cancel_ || waiter_.cancelled())
      error = std::make_exception_ptr(CancelledError());
    else
      error = waiter_.exception();
    if (error) return close_and_wait(error);
    exit_watcher();
    if (loop_.get_debug()) log(LogLevel::INFO, debug_msg_ + ": " + transport_->repr());
    hooks_.on_result(SubprocessResult(transport_, protocol_));
  }

  // except BaseException: transp.close(); await transp._wait(); raise
  void close_and_wait(std::exception_ptr error) {
    try {
      transport_->close();
      exit_ = transport_->wait();
    } catch (...) {
      exit_watcher();
      return fail(std::current_exception());
    }
    if (exit_.done()) return raise_after_exit(error);
    awaiting_exit_ = true;
    auto self = shared_from_this();
    exit_.add_done_callback([self, error](const Future<int>&) { self->raise_after_exit(error); }, "Task.task_wakeup()");
  }

  void raise_after_exit(std::exception_ptr error) {
    awaiting_exit_ = false;
    if (exit_.cancelled() || must_cancel_) error = std::make_exception_ptr(CancelledError());
    exit_watcher();
    fail(error);
  }

  void exit_watcher() {
    if (auto w = std::exchange(watcher_, nullptr)) w->exit();
  }

  void fail(std::exception_ptr error) {
    if (exception_is_a(error, "CancelledError")) return finish_cancelled();
    hooks_.on_error(error);
  }

  void finish_cancelled() {
    must_cancel_ = false;
    hooks_.on_cancelled();
  }

  EventLoop& loop_;
  SubprocessProtocolFactory factory_;
  SubprocessSpec spec_;
  SubprocessOptions options_;
  std::string debug_msg_;
  detail::SubprocessTaskHooks hooks_;
  std::shared_ptr<SubprocessProtocol> protocol_;
  std::shared_ptr<AbstractChildWatcher> watcher_;
  std::shared_ptr<UnixSubprocessTransport> transport_;
  Future<void> waiter_;
  Future<int> exit_;
  bool awaiting_waiter_ = false;
  bool awaiting_exit_ = false;
  bool must_cancel_ = false;
};

SubprocessSpec spec_of(std::vector<std::string> args, bool shell, const SubprocessOptions& o) {
  SubprocessSpec spec;
  spec.args = std::move(args);
  spec.shell = shell;
  spec.stdin_ = o.stdin_;
  spec.stdout_ = o.stdout_;
  spec.stderr_ = o.stderr_;
  spec.popen = o.popen;
  return spec;
}

SubprocessCreation as_creation(EventLoop& loop, SubprocessProtocolFactory factory,
                               std::variant<std::string, std::vector<std::string>> cmd, bool shell,
                               SubprocessOptions options) {
  auto result = loop.create_future<SubprocessResult>();
  auto cancel = detail::start_subprocess_task(loop, std::move(factory), std::move(cmd), shell, std::move(options),
                                              detail::hooks_for(result, [](const SubprocessResult& r) { return r; }));
  return SubprocessCreation{result, cancel};
}

}  // namespace

namespace detail {

std::function<bool()> start_subprocess_task(EventLoop& loop, SubprocessProtocolFactory factory,
                                            std::variant<std::string, std::vector<std::string>> cmd, bool shell,
                                            SubprocessOptions options, SubprocessTaskHooks hooks) {
  std::function<void()> checks;
  std::vector<std::string> args;
  std::string debug_msg;
  if (shell) {
    bool is_string = std::holds_alternative<std::string>(cmd);
    std::string text = is_string ? std::get<std::string>(cmd) : std::string();
    checks = [options, is_string] {
      if (!is_string) throw ValueError("cmd must be a string");
      check_options(options, true);
    };
    args = {text};
    debug_msg = "run shell command " + py_repr(text);
  } else {
    args = std::get<std::vector<std::string>>(std::move(cmd));
    checks = [options] { check_options(options, false); };
    debug_msg = "execute program " + py_repr(args.empty() ? std::string() : args[0]);
  }
  auto creation = std::make_shared<Creation>(loop, std::move(factory), spec_of(std::move(args), shell, options),
                                             options, std::move(debug_msg), std::move(hooks));
  creation->schedule(std::move(checks));
  return [creation] { return creation->cancel(); };
}

}  // namespace detail

SubprocessCreation subprocess_exec(EventLoop& loop, SubprocessProtocolFactory factory, std::vector<std::string> args,
                                   SubprocessOptions options) {
  return as_creation(loop, std::move(factory), std::move(args), false, std::move(options));
}

SubprocessCreation subprocess_shell(EventLoop& loop, SubprocessProtocolFactory factory,
                                    std::variant<std::string, std::vector<std::string>> cmd,
                                    SubprocessOptions options) {
  return as_creation(loop, std::move(factory), std::move(cmd), true, std::move(options));
}

}  // namespace loopcheck
