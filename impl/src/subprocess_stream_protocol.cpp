// asyncio.subprocess.SubprocessStreamProtocol (3.13).
#include <algorithm>

#include "loopcheck/subprocess_streams.hpp"

namespace loopcheck {

void SubprocessStreamProtocol::connection_made(BaseTransport& transport) {
  auto* base = dynamic_cast<BaseSubprocessTransport*>(&transport);
  if (!base) return;
  transport_ = base->shared_from_this();
  if (auto out = std::dynamic_pointer_cast<ReadTransport>(transport_->get_pipe_transport(1))) {
    stdout_ = std::make_shared<StreamReader>(loop_, limit_);
    stdout_->set_transport(out);
    pipe_fds_.push_back(1);
  }
  if (auto err = std::dynamic_pointer_cast<ReadTransport>(transport_->get_pipe_transport(2))) {
    stderr_ = std::make_shared<StreamReader>(loop_, limit_);
    stderr_->set_transport(err);
    pipe_fds_.push_back(2);
  }
  if (auto in = std::dynamic_pointer_cast<WriteTransport>(transport_->get_pipe_transport(0)))
    stdin_ = std::make_shared<StreamWriter>(in, std::weak_ptr<StreamFlowControl>(shared_from_this()), loop_);
}

void SubprocessStreamProtocol::pipe_data_received(int fd, std::span<const std::byte> data) {
  StreamReader* reader = fd == 1 ? stdout_.get() : fd == 2 ? stderr_.get() : nullptr;
  if (reader) reader->feed_data(data);
}

void SubprocessStreamProtocol::pipe_connection_lost(int fd, std::exception_ptr exc) {
  if (fd == 0) {
    if (stdin_) stdin_->close();
    connection_lost(exc);
    return;
  }
  StreamReader* reader = fd == 1 ? stdout_.get() : fd == 2 ? stderr_.get() : nullptr;
  if (reader) {
    if (exc)
      reader->set_exception(exc);
    else
      reader->feed_eof();
  }
  std::erase(pipe_fds_, fd);
  maybe_close_transport();
}

void SubprocessStreamProtocol::process_exited() {
  process_exited_ = true;
  maybe_close_transport();
}

void SubprocessStreamProtocol::maybe_close_transport() {
  if (pipe_fds_.empty() && process_exited_ && transport_) {
    transport_->close();
    transport_ = nullptr;
  }
}

}  // namespace loopcheck
