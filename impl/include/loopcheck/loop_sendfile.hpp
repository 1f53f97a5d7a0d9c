// loop.sendfile(transport, file, offset=0, count=None, *, fallback=True) (declared in
// event_loop.hpp, defined in src/loop_sendfile.cpp), as CPython's base_events and
// selector_events do it:
//
// 1. A closing transport -> RuntimeError('Transport is closing'); a transport whose
//    sendfile_compatible() is Unsupported -> RuntimeError('sendfile is not supported for
//    transport <repr>').
// 2. TryNative (the socket transport): the transport leaves the loop's fd table, pauses
//    reading, waits until its write buffer is empty (make_empty_waiter), then runs
//    loop.sock_sendfile(sock, file, offset, count, fallback=False) — its argument checks
//    and errors included. Afterwards, whatever happened, the waiter is reset, reading
//    resumes if it was on, and the transport is back in the fd table.
//    SendfileNotAvailableError goes to the caller with fallback=False, else to step 3.
// 3. Fallback mode with fallback=False -> RuntimeError('fallback is disabled and native
//    sendfile is not supported for transport <repr>'). Otherwise the fallback: seek to
//    `offset` (if not 0), swap in a SendfileFallbackProtocol (TypeError unless the
//    transport is a FlowControlMixin), read blocks of 16 KiB (at most `count` bytes in all,
//    each read a pass later, where CPython's executor read completes), drain, write each to
//    the transport. At the end (done, failed or cancelled) seek to offset + bytes sent when
//    something was sent, then restore the protocol.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/flow_control.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/protocols.hpp"

namespace loopcheck {

// The fallback's block size (base_events._sendfile_fallback's 16384).
inline constexpr std::size_t kSendfileFallbackBlockSize = 16384;

// base_events._SendfileFallbackProtocol: stands in for the transport's protocol while the
// fallback writes, so write flow control can be awaited (drain) and nothing is read.
class SendfileFallbackProtocol final : public Protocol,
                                       public std::enable_shared_from_this<SendfileFallbackProtocol> {
 public:
  // Pauses reading and installs the new protocol on `transport`. TypeError('transport should
  // be _FlowControlMixin instance') when it is not one.
  static std::shared_ptr<SendfileFallbackProtocol> install(EventLoop& loop, std::shared_ptr<BaseTransport> transport);

  // drain(): ConnectionError('Connection closed by peer') when the transport is closing;
  // otherwise the future to wait for while writing is paused, or nullopt.
  std::optional<Future<void>> drain() const;
  // restore(): the original protocol back, reading resumed if it was on, the pending
  // write-ready future cancelled, and resume_writing() on the original protocol if it was
  // paused when the fallback started.
  void restore();

  // connection_made, data_received, eof_received: RuntimeError('Invalid state: ...').
  void connection_made(BaseTransport& transport) override;
  void data_received(std::span<const std::byte> data) override;
  bool eof_received() override;
  // Fails a pending write-ready future (ConnectionError('Connection is closed by peer') for
  // a clean close), then tells the original protocol.
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;

 private:
  SendfileFallbackProtocol(EventLoop& loop, std::shared_ptr<BaseTransport> transport, FlowControlMixin& flow);

  EventLoop* loop_;
  std::shared_ptr<BaseTransport> transport_;
  std::shared_ptr<BaseProtocol> proto_;
  bool should_resume_reading_;
  bool should_resume_writing_;
  std::optional<Future<void>> write_ready_fut_;
};

}  // namespace loopcheck
