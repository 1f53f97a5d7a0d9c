// asyncio.subprocess.Process and create_subprocess_exec/shell (3.13).
#include "loopcheck/errors.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/subprocess_streams.hpp"
#include "subprocess_task.hpp"

namespace loopcheck {
namespace {

bool ignored_by_communicate(const std::exception_ptr& e) {
  return exception_is_a(e, "BrokenPipeError") || exception_is_a(e, "ConnectionResetError");
}

// tasks.gather(...) of n children: done when all are, failing with the first exception.
struct Gather {
  Future<void> result;
  int left;
  void child_done(std::exception_ptr error) {
    --left;
    if (result.done()) return;
    if (error) return result.set_exception(error);
    if (left == 0) result.set_result();
  }
};

// `return Process(transport, protocol, loop)` in the step where the loop method returns.
ProcessCreation start_process(EventLoop& loop, std::variant<std::string, std::vector<std::string>> cmd, bool shell,
                              SubprocessOptions options, SubprocessProtocolFactory factory) {
  auto result = loop.create_future<std::shared_ptr<Process>>();
  EventLoop* l = &loop;
  auto wrap = [l](const SubprocessResult& r) {
    return std::make_shared<Process>(std::dynamic_pointer_cast<BaseSubprocessTransport>(r.first),
                                     std::dynamic_pointer_cast<SubprocessStreamProtocol>(r.second), *l);
  };
  auto cancel = detail::start_subprocess_task(loop, std::move(factory), std::move(cmd), shell, std::move(options),
                                              detail::hooks_for(result, wrap));
  return ProcessCreation{result, cancel};
}

SubprocessProtocolFactory stream_protocol_factory(EventLoop& loop, long limit) {
  return [&loop, limit]() -> std::shared_ptr<SubprocessProtocol> {
    return std::make_shared<SubprocessStreamProtocol>(loop, limit);
  };
}

}  // namespace

Process::Process(std::shared_ptr<BaseSubprocessTransport> transport, std::shared_ptr<SubprocessStreamProtocol> protocol,
                 EventLoop& loop)
    : stdin_(protocol->stdin_),
      stdout_(protocol->stdout_),
      stderr_(protocol->stderr_),
      transport_(std::move(transport)),
      protocol_(std::move(protocol)),
      loop_(loop),
      pid_(transport_->get_pid()) {}

Future<void> Process::feed_stdin(std::optional<std::string> input) {
  Future<void> done = loop_.create_future<void>();
  bool debug = loop_.get_debug();
  auto finish = [self = shared_from_this(), this, done, debug](std::exception_ptr error) mutable {
    if (error && !ignored_by_communicate(error)) return done.set_exception(error);
    if (error && debug) log(LogLevel::DEBUG, repr() + " communicate: stdin got " + exception_repr(error));
    if (debug) log(LogLevel::DEBUG, repr() + " communicate: close stdin");
    try {
      stdin_->close();
      done.set_result();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  };
  try {
    if (input) {
      stdin_->write({reinterpret_cast<const std::byte*>(input->data()), input->size()});
      if (debug)
        log(LogLevel::DEBUG, repr() + " communicate: feed stdin (" + std::to_string(input->size()) + " bytes)");
    }
    Future<void> drained = stdin_->drain();
    drained.add_done_callback(
        [finish](const Future<void>& f) mutable { finish(f.cancelled() ? nullptr : f.exception()); },
        "Task.task_wakeup()");
  } catch (...) {
    finish(std::current_exception());
  }
  return done;
}

Future<std::optional<std::string>> Process::read_stream(int fd) {
  auto result = loop_.create_future<std::optional<std::string>>();
  auto transport = transport_->get_pipe_transport(fd);
  const char* name = fd == 1 ? "stdout" : "stderr";
  if (loop_.get_debug()) log(LogLevel::DEBUG, repr() + " communicate: read " + name);
  auto stream = fd == 1 ? stdout_ : stderr_;
  stream->read_all().add_done_callback(
      [self = shared_from_this(), this, result, transport, name](const Future<std::string>& f) mutable {
        if (f.cancelled()) return (void)result.cancel();
        if (auto e = f.exception()) return result.set_exception(e);
        if (loop_.get_debug()) log(LogLevel::DEBUG, repr() + " communicate: close " + name);
        transport->close();
        result.set_result(f.result());
      },
      "Task.task_wakeup()");
  return result;
}

// gather(feed stdin, read stdout, read stderr) -- each a task started in the next pass --
// then wait().
Future<Process::Output> Process::communicate(std::optional<std::string> input) {
  auto result = loop_.create_future<Output>();
  auto gather = std::make_shared<Gather>(Gather{loop_.create_future<void>(), 3});
  auto outputs = std::make_shared<Output>();
  auto child = [gather](auto future) {
    future.add_done_callback(
        [gather](const auto& f) { gather->child_done(f.cancelled() ? nullptr : f.exception()); },
        "gather._done_callback()");
  };
  auto self = shared_from_this();
  loop_.call_soon(
      [self, this, input, child] {
        if (stdin_)
          child(feed_stdin(input));
        else
          child(noop());
      },
      "Task.__step()");
  for (int fd : {1, 2}) {
    loop_.call_soon(
        [self, this, fd, child, outputs] {
          if (!(fd == 1 ? stdout_ : stderr_)) return child(noop());
          auto f = read_stream(fd);
          f.add_done_callback(
              [outputs, fd](const Future<std::optional<std::string>>& r) {
                if (!r.cancelled() && !r.exception()) (fd == 1 ? outputs->first : outputs->second) = r.result();
              },
              "Task.__step()");
          child(f);
        },
        "Task.__step()");
  }
  gather->result.add_done_callback(
      [self, this, result, outputs](const Future<void>& g) mutable {
        if (auto e = g.exception()) return result.set_exception(e);
        Future<int> w = wait();
        w.add_done_callback(
            [result, outputs](const Future<int>& f) mutable {
              if (f.cancelled()) return (void)result.cancel();
              if (auto e = f.exception()) return result.set_exception(e);
              result.set_result(*outputs);
            },
            "Task.task_wakeup()");
      },
      "Task.task_wakeup()");
  return result;
}

Future<void> Process::noop() {
  Future<void> done = loop_.create_future<void>();
  done.set_result();
  return done;
}

SubprocessOptions inherited_streams() {
  SubprocessOptions o;
  o.stdin_ = o.stdout_ = o.stderr_ = Stdio::inherit();
  return o;
}

ProcessCreation create_subprocess_exec(EventLoop& loop, std::vector<std::string> args, SubprocessOptions options,
                                       long limit) {
  return start_process(loop, std::move(args), false, std::move(options), stream_protocol_factory(loop, limit));
}

ProcessCreation create_subprocess_shell(EventLoop& loop, std::string cmd, SubprocessOptions options, long limit) {
  return start_process(loop, std::move(cmd), true, std::move(options), stream_protocol_factory(loop, limit));
}

}  // namespace loopcheck
