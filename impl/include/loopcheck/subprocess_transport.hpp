// Subprocess transports: CPython's asyncio.base_subprocess (BaseSubprocessTransport,
// WriteSubprocessPipeProto, ReadSubprocessPipeProto) and unix_events'
// _UnixSubprocessTransport, with 3.13's behaviour.
//
// - Creation spawns the child (Popen), then a task connects the pipes one after the other
//   (stdin with a write pipe transport, stdout and stderr with read pipe transports), then
//   queues protocol.connection_made(transport) and every protocol call that arrived
//   meanwhile, in order, and completes the waiter. A failed spawn closes the transport and
//   raises.
// - Every protocol call is queued with call_soon: pipe_data_received(fd, data),
//   pipe_connection_lost(fd, exc), process_exited(); pause_writing/resume_writing of the stdin
//   pipe reach the protocol directly. Once the exit is known and every pipe is disconnected,
//   connection_lost(None) is queued; after it the waiters of wait() get the returncode and the
//   transport forgets its loop, process and protocol (send_signal & co then raise
//   ProcessLookupError()).
// - close(): once; closes each connected pipe transport, then kills a child that is still
//   running (Popen.poll() is None) -- debug mode logs WARNING 'Close running child process:
//   kill <repr>' first; ProcessLookupError and PermissionError from the kill are ignored
//   (3.13).
// - repr: `<_UnixSubprocessTransport [closed] pid=N running|returncode=N [stdin=<pipe>]
//   [stdout=<pipe>|stdout=stderr=<pipe>] [stderr=<pipe>]>`.
// - Destroyed while not closed: ResourceWarning 'unclosed transport <repr>', then close().
//
// Lifetimes follow CPython's references: the pipe protocols keep the transport alive until
// their pipe is lost, the child watcher until the exit is reported.
#pragma once

#include <sys/types.h>

#include <any>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/popen.hpp"
#include "loopcheck/protocols.hpp"
#include "loopcheck/transports.hpp"

namespace loopcheck {

// asyncio.transports.SubprocessTransport.
class SubprocessTransport : public virtual BaseTransport {
 public:
  virtual pid_t get_pid() const = 0;
  virtual std::optional<int> get_returncode() const = 0;
  // The pipe transport of fd 0, 1 or 2, or null when that stream is not a pipe.
  virtual std::shared_ptr<BaseTransport> get_pipe_transport(int fd) const = 0;
  virtual void send_signal(int sig) = 0;
  virtual void terminate() = 0;
  virtual void kill() = 0;
};

class BaseSubprocessTransport;

// WriteSubprocessPipeProto / ReadSubprocessPipeProto (`reader`): the protocol of one pipe
// transport, forwarding to the subprocess transport.
class SubprocessPipeProto final : public Protocol {
 public:
  SubprocessPipeProto(std::shared_ptr<BaseSubprocessTransport> proc, int fd, bool reader)
      : proc_(std::move(proc)), fd_(fd), reader_(reader) {}
  void connection_made(BaseTransport& transport) override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;
  void data_received(std::span<const std::byte> data) override;
  // `<WriteSubprocessPipeProto fd=0 pipe=<...>>`
  std::string repr() const override;

  const std::shared_ptr<BaseTransport>& pipe() const noexcept { return pipe_; }
  bool disconnected() const noexcept { return disconnected_; }

 private:
  std::shared_ptr<BaseSubprocessTransport> proc_;  // null after connection_lost
  int fd_;
  bool reader_;
  std::shared_ptr<BaseTransport> pipe_;
  bool disconnected_ = false;
};

// What the transport's creation needs besides the loop and the protocol.
struct SubprocessSpec {
  std::vector<std::string> args;  // the program and its arguments, or the shell command
  bool shell = false;
  Stdio stdin_ = Stdio::pipe();
  Stdio stdout_ = Stdio::pipe();
  Stdio stderr_ = Stdio::pipe();
  PopenOptions popen;
};

class BaseSubprocessTransport : public SubprocessTransport,
                                public std::enable_shared_from_this<BaseSubprocessTransport> {
 public:
  ~BaseSubprocessTransport() override;
  BaseSubprocessTransport(const BaseSubprocessTransport&) = delete;
  BaseSubprocessTransport& operator=(const BaseSubprocessTransport&) = delete;

  // BaseTransport. get_extra_info("subprocess") is the std::shared_ptr<Popen>.
  std::any get_extra_info(std::string_view name) const override;
  bool is_closing() const override { return closed_; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override;

  // SubprocessTransport
  pid_t get_pid() const override { return pid_; }
  std::optional<int> get_returncode() const override { return returncode_; }
  std::shared_ptr<BaseTransport> get_pipe_transport(int fd) const override;
  void send_signal(int sig) override;
  void terminate() override;
  void kill() override;

  // _wait(): the returncode, as a future that is already done once the exit is known.
  Future<int> wait();
  // _process_exited(returncode): the child watcher's report, on the loop's thread.
  void process_exited(int returncode);
  // The Popen (null once connection_lost ran).
  const std::shared_ptr<Popen>& popen() const noexcept { return proc_; }

  // For the pipe protocols.
  void pipe_connection_lost(int fd, std::exception_ptr exc);
  void pipe_data_received(int fd, std::span<const std::byte> data);
  SubprocessProtocol* protocol() const noexcept { return protocol_.get(); }

 protected:
  BaseSubprocessTransport(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol, const SubprocessSpec& spec);
  // Spawns the child: sets proc_ (_start). Throws what Popen raises.
  virtual void start(const SubprocessSpec& spec) = 0;
  // The Python class name in repr() (a member, not a virtual: ~BaseSubprocessTransport uses it).
  const char* class_name_ = "BaseSubprocessTransport";
  // The rest of __init__, once shared_from_this works: _start (close() then rethrow on
  // failure), the debug log, the pipe-connecting task (completing `waiter`).
  void init(const SubprocessSpec& spec, std::optional<Future<void>> waiter);

  std::shared_ptr<Popen> proc_;

 private:
  using Pipes = std::map<int, std::shared_ptr<SubprocessPipeProto>>;  // null: not connected yet
  using WaiterPtr = std::shared_ptr<std::optional<Future<void>>>;
  // _connect_pipes: connects the piped streams from `next_fd` on, one await at a time.
  void connect_pipes(const WaiterPtr& waiter, const std::shared_ptr<Popen>& proc, int next_fd);
  void pipe_connected(const WaiterPtr& waiter, const std::shared_ptr<Popen>& proc, int fd,
                      std::shared_ptr<SubprocessPipeProto> proto);
  void pipes_connected(const WaiterPtr& waiter);
  void pipes_failed(const WaiterPtr& waiter, std::exception_ptr exc);
  void call(std::function<void()> fn, Label label);
  void try_finish();
  void call_connection_lost(std::exception_ptr exc);
  void check_proc() const;
  std::string pipe_repr(int fd) const;
  bool loop_usable() const noexcept;

  EventLoop* loop_;  // null once connection_lost ran
  EventLoop* home_loop_;  // the loop wait()'s futures belong to
  std::weak_ptr<const void> loop_alive_;
  std::shared_ptr<Popen> extra_popen_;  // get_extra_info('subprocess')
  std::shared_ptr<SubprocessProtocol> protocol_;
  bool closed_ = false;
  pid_t pid_ = -1;
  std::optional<int> returncode_;
  std::optional<std::vector<Future<int>>> exit_waiters_{std::in_place};
  std::optional<std::deque<std::pair<std::function<void()>, Label>>> pending_calls_{std::in_place};
  Pipes pipes_;
  bool finished_ = false;
};

// unix_events._UnixSubprocessTransport: spawns with Popen (stdin is a pipe, as from 3.10).
class UnixSubprocessTransport final : public BaseSubprocessTransport {
 public:
  static std::shared_ptr<UnixSubprocessTransport> create(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol,
                                                         const SubprocessSpec& spec,
                                                         std::optional<Future<void>> waiter = std::nullopt);

 private:
  UnixSubprocessTransport(EventLoop& loop, std::shared_ptr<SubprocessProtocol> protocol, const SubprocessSpec& spec)
      : BaseSubprocessTransport(loop, std::move(protocol), spec) {
    class_name_ = "_UnixSubprocessTransport";
  }
  void start(const SubprocessSpec& spec) override;
};

// ---- loop.subprocess_exec / loop.subprocess_shell (src/subprocess_exec.cpp) ----------------

using SubprocessProtocolFactory = std::function<std::shared_ptr<SubprocessProtocol>()>;
using SubprocessResult = std::pair<std::shared_ptr<SubprocessTransport>, std::shared_ptr<SubprocessProtocol>>;

// The keyword arguments both methods check before anything else (Python truthiness: a
// text=False or encoding=None is the default).
struct SubprocessOptions {
  Stdio stdin_ = Stdio::pipe();
  Stdio stdout_ = Stdio::pipe();
  Stdio stderr_ = Stdio::pipe();
  bool universal_newlines = false;
  std::optional<bool> shell;  // nullopt: the method's own default (False for exec, True for shell)
  long bufsize = 0;
  bool text = false;
  std::optional<std::string> encoding;
  std::optional<std::string> errors;
  PopenOptions popen;
};

// A running creation, as CPython's Task wrapping the coroutine: `result` completes with
// (transport, protocol) or the exception; cancel() cancels what the task awaits.
class SubprocessCreation {
 public:
  Future<SubprocessResult> result;
  std::function<bool()> cancel;
};

// loop.subprocess_exec(protocol_factory, program, *args, **options). Checks, in CPython's
// order: ValueError 'universal_newlines must be False', 'shell must be False', 'bufsize must
// be 0', 'text must be False', 'encoding must be None', 'errors must be None'; then the
// factory is called, debug mode logs the request, and the transport is made with the
// installed child watcher (the default one when none is: Pidfd or Threaded):
// RuntimeError('asyncio.get_child_watcher() is not activated, subprocess support is not
// installed.') for an inactive one. The steps run in loop passes exactly as the coroutine's
// task would, starting in the pass after this call.
SubprocessCreation subprocess_exec(EventLoop& loop, SubprocessProtocolFactory factory, std::vector<std::string> args,
                                   SubprocessOptions options = {});
// loop.subprocess_shell(protocol_factory, cmd, **options): ValueError('cmd must be a string')
// for an argument list, then the checks above with 'shell must be True'.
SubprocessCreation subprocess_shell(EventLoop& loop, SubprocessProtocolFactory factory,
                                    std::variant<std::string, std::vector<std::string>> cmd,
                                    SubprocessOptions options = {});

}  // namespace loopcheck
