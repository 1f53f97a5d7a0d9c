// base_events._SendfileFallbackProtocol: the protocol loop.sendfile's fallback swaps in.
#include "loopcheck/errors.hpp"
#include "loopcheck/loop_sendfile.hpp"

namespace loopcheck {

namespace {

ReadTransport* as_read_transport(const std::shared_ptr<BaseTransport>& t) {
  return dynamic_cast<ReadTransport*>(t.get());
}

}  // namespace

SendfileFallbackProtocol::SendfileFallbackProtocol(EventLoop& loop, std::shared_ptr<BaseTransport> transport,
                                                   FlowControlMixin& flow)
    : loop_(&loop), transport_(std::move(transport)), proto_(transport_->get_protocol()) {
  auto* reader = as_read_transport(transport_);
  should_resume_reading_ = reader && reader->is_reading();
  should_resume_writing_ = flow.protocol_paused();
  // The original protocol was paused: wait for the transport's next resume_writing.
  if (should_resume_writing_) write_ready_fut_ = loop_->create_future<void>();
}

std::shared_ptr<SendfileFallbackProtocol> SendfileFallbackProtocol::install(EventLoop& loop,
                                                                            std::shared_ptr<BaseTransport> transport) {
  auto* flow = dynamic_cast<FlowControlMixin*>(transport.get());
  if (!flow) throw TypeError("transport should be _FlowControlMixin instance");
  std::shared_ptr<SendfileFallbackProtocol> proto(new SendfileFallbackProtocol(loop, transport, *flow));
  if (auto* reader = as_read_transport(transport)) reader->pause_reading();
  transport->set_protocol(proto);
  return proto;
}

std::optional<Future<void>> SendfileFallbackProtocol::drain() const {
  if (transport_->is_closing()) throw ConnectionError(OSError::Message{"Connection closed by peer"});
  return write_ready_fut_;
}

void SendfileFallbackProtocol::restore() {
  transport_->set_protocol(proto_);
  if (should_resume_reading_) as_read_transport(transport_)->resume_reading();
  // Nobody waits for it any more: the original protocol is back.
  if (write_ready_fut_) write_ready_fut_->cancel();
  if (should_resume_writing_) proto_->resume_writing();
}

void SendfileFallbackProtocol::connection_made(BaseTransport&) {
  throw RuntimeError("Invalid state: connection should have been established already.");
}

void SendfileFallbackProtocol::data_received(std::span<const std::byte>) {
  throw RuntimeError("Invalid state: reading should be paused");
}

bool SendfileFallbackProtocol::eof_received() { throw RuntimeError("Invalid state: reading should be paused"); }

void SendfileFallbackProtocol::connection_lost(std::exception_ptr exc) {
  // A disconnection while the fallback waits is always an error for it.
  if (write_ready_fut_) {
    if (exc)
      write_ready_fut_->set_exception(exc);
    else
      write_ready_fut_->set_exception(ConnectionError(OSError::Message{"Connection is closed by peer"}));
  }
  proto_->connection_lost(exc);
}

void SendfileFallbackProtocol::pause_writing() {
  if (!write_ready_fut_) write_ready_fut_ = loop_->create_future<void>();
}

void SendfileFallbackProtocol::resume_writing() {
  if (!write_ready_fut_) return;
  write_ready_fut_->set_result();
  write_ready_fut_.reset();
}

}  // namespace loopcheck
