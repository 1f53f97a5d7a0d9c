// BaseSubprocessTransport and its pipe protocols (asyncio/base_subprocess.py, 3.13).
#include <signal.h>

#include <cerrno>
#include <utility>

#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/subprocess_transport.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/unix_read_pipe_transport.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"
#include "loopcheck/warnings.hpp"

namespace loopcheck {
namespace {

std::shared_ptr<BaseTransport> share(BaseTransport& t) {
  if (auto* r = dynamic_cast<UnixReadPipeTransport*>(&t)) return r->shared_from_this();
  if (auto* w = dynamic_cast<UnixWritePipeTransport*>(&t)) return w->shared_from_this();
  return nullptr;
}

[[noreturn]] void none_has_no(const char* attribute) {
  throw AttributeError(std::string("'NoneType' object has no attribute '") + attribute + "'");
}

}  // namespace

// ---- WriteSubprocessPipeProto / ReadSubprocessPipeProto ------------------------------------

void SubprocessPipeProto::connection_made(BaseTransport& transport) { pipe_ = share(transport); }

void SubprocessPipeProto::connection_lost(std::exception_ptr exc) {
  disconnected_ = true;
  auto proc = std::move(proc_);  // proc = None once reported (breaks the reference cycle)
  if (!proc) none_has_no("_pipe_connection_lost");
  proc->pipe_connection_lost(fd_, exc);
}

void SubprocessPipeProto::pause_writing() {
  if (!proc_ || !proc_->protocol()) none_has_no("pause_writing");
  proc_->protocol()->pause_writing();
}

void SubprocessPipeProto::resume_writing() {
  if (!proc_ || !proc_->protocol()) none_has_no("resume_writing");
  proc_->protocol()->resume_writing();
}

void SubprocessPipeProto::data_received(std::span<const std::byte> data) {
  if (!proc_) none_has_no("_pipe_data_received");
  proc_->pipe_data_received(fd_, data);
}

std::string SubprocessPipeProto::repr() const {
  return std::string("<") + (reader_ ? "ReadSubprocessPipeProto" : "WriteSubprocessPipeProto") +
         " fd=" + std::to_string(fd_) + " pipe=" + (pipe_ ? pipe_->repr() : "None") + ">";
}

// ---- BaseSubprocessTransport ---------------------------------------------------------------

BaseSubprocessTransport::BaseSubprocessTransport(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol,
                                                 const SubprocessSpec& spec)
    : loop_(&loop), home_loop_(&loop), loop_alive_(loop.lifetime_token()), protocol_(std::move(protocol)) {
  if (spec.stdin_.is_pipe()) pipes_[0] = nullptr;
  if (spec.stdout_.is_pipe()) pipes_[1] = nullptr;
  if (spec.stderr_.is_pipe()) pipes_[2] = nullptr;
}

void BaseSubprocessTransport::init(const SubprocessSpec& spec, std::optional<Future<void>> waiter) {
  try {
    start(spec);
  } catch (...) {
    close();
    throw;
  }
  pid_ = proc_->pid();
  extra_popen_ = proc_;
  if (loop_->get_debug())
    log(LogLevel::DEBUG, "process " + py_repr(spec.args.at(0)) + " created: pid " + std::to_string(pid_));
  // create_task(self._connect_pipes(waiter)): the task's first step runs in the next pass.
  auto self = shared_from_this();
  auto w = std::make_shared<std::optional<Future<void>>>(std::move(waiter));
  loop_->call_soon([self, w, proc = proc_] { self->connect_pipes(w, proc, 0); },
                   "BaseSubprocessTransport._connect_pipes()");
}

BaseSubprocessTransport::~BaseSubprocessTransport() {
  if (closed_) return;
  warn("unclosed transport " + repr(), "ResourceWarning");
  try {
    close();
  } catch (...) {  // __del__ cannot raise
  }
}

// One `await loop.connect_*_pipe(...)` per piped stream, in fd order; each resumes here.
void BaseSubprocessTransport::connect_pipes(const WaiterPtr& waiter, const std::shared_ptr<Popen>& proc, int next_fd) {
  try {
    for (int fd = next_fd; fd < 3; ++fd) {
      int pipe_fd = fd == 0 ? proc->stdin_fd() : fd == 1 ? proc->stdout_fd() : proc->stderr_fd();
      if (pipe_fd < 0) continue;
      auto proto = std::make_shared<SubprocessPipeProto>(shared_from_this(), fd, fd != 0);
      auto self = shared_from_this();
      auto failed = [self, waiter](std::exception_ptr exc) { self->pipes_failed(waiter, exc); };
      if (fd == 0) {
        detail::connect_write_pipe_impl(
            *loop_, proto, pipe_fd,
            [self, waiter, proc, proto](auto) { self->pipe_connected(waiter, proc, 0, proto); }, failed);
      } else {
        detail::connect_read_pipe_impl(
            *loop_, proto, pipe_fd,
            [self, waiter, proc, proto, fd](auto) { self->pipe_connected(waiter, proc, fd, proto); }, failed);
      }
      proc->take_fd(fd);  // the pipe transport owns it now
      return;
    }
    pipes_connected(waiter);
  } catch (const SystemExit&) {
    throw;
  } catch (const KeyboardInterrupt&) {
    throw;
  } catch (...) {
    pipes_failed(waiter, std::current_exception());
  }
}

void BaseSubprocessTransport::pipe_connected(const WaiterPtr& waiter, const std::shared_ptr<Popen>& proc, int fd,
                                             std::shared_ptr<SubprocessPipeProto> proto) {
  pipes_[fd] = std::move(proto);
  connect_pipes(waiter, proc, fd + 1);
}

void BaseSubprocessTransport::pipes_connected(const WaiterPtr& waiter) {
  auto self = shared_from_this();
  loop_->call_soon([self, protocol = protocol_] { protocol->connection_made(*self); },
                   "SubprocessProtocol.connection_made()");
  for (auto& [fn, label] : *pending_calls_) loop_->call_soon(std::move(fn), std::move(label));
  pending_calls_.reset();
  if (*waiter && !(*waiter)->cancelled()) (*waiter)->set_result();
}

void BaseSubprocessTransport::pipes_failed(const WaiterPtr& waiter, std::exception_ptr exc) {
  if (*waiter && !(*waiter)->cancelled()) (*waiter)->set_exception(exc);
}

std::any BaseSubprocessTransport::get_extra_info(std::string_view name) const {
  if (name == "subprocess" && extra_popen_) return extra_popen_;
  return {};
}

void BaseSubprocessTransport::set_protocol(std::shared_ptr<BaseProtocol> protocol) {
  protocol_ = std::dynamic_pointer_cast<SubprocessProtocol>(protocol);
}

std::string BaseSubprocessTransport::pipe_repr(int fd) const {
  auto it = pipes_.find(fd);
  if (it == pipes_.end() || !it->second) return {};
  return it->second->pipe() ? it->second->pipe()->repr() : "None";
}

std::string BaseSubprocessTransport::repr() const {
  std::string out = std::string("<") + class_name_;
  if (closed_) out += " closed";
  if (pid_ >= 0) out += " pid=" + std::to_string(pid_);
  if (returncode_)
    out += " returncode=" + std::to_string(*returncode_);
  else
    out += pid_ >= 0 ? " running" : " not started";
  std::string in = pipe_repr(0), stdout_ = pipe_repr(1), stderr_ = pipe_repr(2);
  if (!in.empty()) out += " stdin=" + in;
  if (!stdout_.empty()) out += " stdout=" + stdout_;
  if (!stderr_.empty()) out += " stderr=" + stderr_;
  return out + ">";
}

bool BaseSubprocessTransport::loop_usable() const noexcept { return loop_ != nullptr && !loop_alive_.expired(); }

void BaseSubprocessTransport::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [fd, proto] : pipes_)
    if (proto && proto->pipe()) proto->pipe()->close();
  // Kill a child that still runs (its exit may have happened unreported: poll() looks).
  if (proc_ && !returncode_ && !proc_->poll()) {
    if (loop_usable() && loop_->get_debug()) log(LogLevel::WARNING, "Close running child process: kill " + repr());
    try {
      proc_->kill();
    } catch (const ProcessLookupError&) {
    } catch (const PermissionError&) {  // a setuid child (3.13; earlier versions raise)
    }
  }
}

std::shared_ptr<BaseTransport> BaseSubprocessTransport::get_pipe_transport(int fd) const {
  auto it = pipes_.find(fd);
  if (it == pipes_.end()) return nullptr;
  if (!it->second) none_has_no("pipe");  // asked before the pipe is connected
  return it->second->pipe();
}

void BaseSubprocessTransport::check_proc() const {
  if (!proc_) throw ProcessLookupError(OSError::NoArgs{});
}

void BaseSubprocessTransport::send_signal(int sig) {
  check_proc();
  if (syscalls().kill(proc_->pid(), sig) < 0 && errno != ESRCH) OSError::raise_errno(errno);
}

void BaseSubprocessTransport::terminate() { send_signal(SIGTERM); }

void BaseSubprocessTransport::kill() { send_signal(SIGKILL); }

void BaseSubprocessTransport::call(std::function<void()> fn, Label label) {
  if (pending_calls_) {
    pending_calls_->emplace_back(std::move(fn), std::move(label));
    return;
  }
  if (!loop_) none_has_no("call_soon");
  loop_->call_soon(std::move(fn), std::move(label));
}

void BaseSubprocessTransport::pipe_connection_lost(int fd, std::exception_ptr exc) {
  call([protocol = protocol_, fd, exc] { protocol->pipe_connection_lost(fd, exc); },
       "SubprocessProtocol.pipe_connection_lost()");
  try_finish();
}

void BaseSubprocessTransport::pipe_data_received(int fd, std::span<const std::byte> data) {
  call([protocol = protocol_, fd, bytes = std::vector<std::byte>(data.begin(), data.end())] {
    protocol->pipe_data_received(fd, bytes);
  },
       "SubprocessProtocol.pipe_data_received()");
}

void BaseSubprocessTransport::process_exited(int returncode) {
  if (returncode_) throw AssertionError(std::to_string(*returncode_));
  if (loop_ && loop_->get_debug())
    log(LogLevel::INFO, repr() + " exited with return code " + std::to_string(returncode));
  returncode_ = returncode;
  // asyncio uses a child watcher: copy the status into the Popen.
  if (proc_ && !proc_->returncode) proc_->returncode = returncode;
  call([protocol = protocol_] { protocol->process_exited(); }, "SubprocessProtocol.process_exited()");
  try_finish();
}

Future<int> BaseSubprocessTransport::wait() {
  if (returncode_) {
    Future<int> done = home_loop_->create_future<int>();
    done.set_result(*returncode_);
    return done;
  }
  Future<int> waiter = loop_->create_future<int>();
  exit_waiters_->push_back(waiter);
  return waiter;
}

void BaseSubprocessTransport::try_finish() {
  if (finished_) throw AssertionError();
  if (!returncode_) return;
  for (auto& [fd, proto] : pipes_)
    if (!proto || !proto->disconnected()) return;
  finished_ = true;
  auto self = shared_from_this();
  call([self] { self->call_connection_lost(nullptr); }, "BaseSubprocessTransport._call_connection_lost()");
}

void BaseSubprocessTransport::call_connection_lost(std::exception_ptr exc) {
  // finally: wake the wait() callers and forget the loop, the process and the protocol.
  auto cleanup = [this] {
    for (auto& waiter : *exit_waiters_)
      if (!waiter.cancelled()) waiter.set_result(*returncode_);
    exit_waiters_.reset();
    loop_ = nullptr;
    proc_ = nullptr;
    protocol_ = nullptr;
  };
  try {
    protocol_->connection_lost(exc);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
}

}  // namespace loopcheck
