// asyncio.subprocess (3.13): SubprocessStreamProtocol, Process and
// create_subprocess_exec/create_subprocess_shell.
//
// - The protocol gives a piped stdout/stderr a StreamReader (with the call's limit) and a
//   piped stdin a StreamWriter; pipe data feeds the readers, a lost pipe feeds EOF (or the
//   exception); stdin's loss closes the writer and wakes drain(). Once every output pipe is
//   lost and the process exited, the protocol closes the transport.
// - Process: pid, returncode (the transport's), wait() (the transport's _wait()),
//   send_signal/terminate/kill, communicate(input): writes the input and drains
//   (BrokenPipeError and ConnectionResetError ignored), closes stdin, reads stdout and stderr
//   to EOF (closing each pipe transport), then waits for the exit; the result is (stdout,
//   stderr), nullopt for a stream that is not piped. repr: `<Process PID>`.
// - create_subprocess_*: the loop method with stdin/stdout/stderr inherited by default,
//   then a Process.
//
// Not mirrored: StreamWriter.wait_closed() (the protocol's _stdin_closed future) and the
// readline/readexactly family of StreamReader.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "loopcheck/streams.hpp"
#include "loopcheck/subprocess_transport.hpp"

namespace loopcheck {

class SubprocessStreamProtocol final : public SubprocessProtocol,
                                       public StreamFlowControl,
                                       public std::enable_shared_from_this<SubprocessStreamProtocol> {
 public:
  SubprocessStreamProtocol(EventLoop& loop, long limit) : StreamFlowControl(loop), loop_(loop), limit_(limit) {}

  void connection_made(BaseTransport& transport) override;
  void pipe_data_received(int fd, std::span<const std::byte> data) override;
  void pipe_connection_lost(int fd, std::exception_ptr exc) override;
  void process_exited() override;
  void connection_lost(std::exception_ptr exc) override { flow_connection_lost(exc); }
  void pause_writing() override { flow_pause_writing(); }
  void resume_writing() override { flow_resume_writing(); }

  std::shared_ptr<StreamWriter> stdin_;
  std::shared_ptr<StreamReader> stdout_;
  std::shared_ptr<StreamReader> stderr_;

 private:
  void maybe_close_transport();

  EventLoop& loop_;
  long limit_;
  std::shared_ptr<SubprocessTransport> transport_;
  bool process_exited_ = false;
  std::vector<int> pipe_fds_;
};

// Made with std::make_shared (create_subprocess_* do): pending communicate() steps keep it
// alive, as the coroutine's `self` does.
class Process : public std::enable_shared_from_this<Process> {
 public:
  using Output = std::pair<std::optional<std::string>, std::optional<std::string>>;

  Process(std::shared_ptr<BaseSubprocessTransport> transport, std::shared_ptr<SubprocessStreamProtocol> protocol,
          EventLoop& loop);

  pid_t pid() const noexcept { return pid_; }
  std::optional<int> returncode() const { return transport_->get_returncode(); }
  std::string repr() const { return "<Process " + std::to_string(pid_) + ">"; }
  Future<int> wait() { return transport_->wait(); }
  void send_signal(int sig) { transport_->send_signal(sig); }
  void terminate() { transport_->terminate(); }
  void kill() { transport_->kill(); }
  // communicate(input=None)
  Future<Output> communicate(std::optional<std::string> input = std::nullopt);

  const std::shared_ptr<StreamWriter> stdin_;
  const std::shared_ptr<StreamReader> stdout_;
  const std::shared_ptr<StreamReader> stderr_;

 private:
  Future<void> feed_stdin(std::optional<std::string> input);
  Future<std::optional<std::string>> read_stream(int fd);
  Future<void> noop();

  std::shared_ptr<BaseSubprocessTransport> transport_;
  std::shared_ptr<SubprocessStreamProtocol> protocol_;
  EventLoop& loop_;
  pid_t pid_;
};

struct ProcessCreation {
  Future<std::shared_ptr<Process>> result;
  std::function<bool()> cancel;
};

// asyncio.create_subprocess_exec(program, *args, stdin=None, stdout=None, stderr=None,
// limit=2**16, **kwds). `options` streams default to inherited here.
ProcessCreation create_subprocess_exec(EventLoop& loop, std::vector<std::string> args, SubprocessOptions options,
                                       long limit = static_cast<long>(kStreamDefaultLimit));
ProcessCreation create_subprocess_shell(EventLoop& loop, std::string cmd, SubprocessOptions options,
                                        long limit = static_cast<long>(kStreamDefaultLimit));
// SubprocessOptions with the three streams inherited (create_subprocess_*'s defaults).
SubprocessOptions inherited_streams();

}  // namespace loopcheck
