// FlowControlMixin (asyncio.transports._FlowControlMixin): write flow control shared by the
// write transports.
//
// The subclass reports its buffer size; it calls maybe_pause_protocol() after the buffer
// grew and maybe_resume_protocol() after it shrank. The protocol is paused once the buffer
// is strictly above the high-water mark and resumed once it is at or below the low-water
// mark; each call happens once per crossing. An exception from pause_writing() or
// resume_writing() goes to the loop's exception handler ('protocol.pause_writing() failed'
// with exception, transport and protocol) and the transport still counts the protocol as
// paused (resumed). SystemExit and KeyboardInterrupt propagate.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "loopcheck/transports.hpp"

namespace loopcheck {

class EventLoop;

// repr(protocol) as CPython prints it in a context or log record; "None" for null.
std::string protocol_repr(const BaseProtocol* protocol);

class FlowControlMixin : public WriteTransport {
 public:
  static constexpr std::size_t kDefaultHighWater = 64 * 1024;

  // set_write_buffer_limits(high=None, low=None): a missing high is 4 * low (64 KiB when
  // both are missing), a missing low is high // 4. ValueError('high (H) must be >= low (L)
  // must be >= 0') when high < low. Pauses the protocol at once if the buffer is above the
  // new high mark; never resumes it.
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;
  // (low, high).
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return {low_water_, high_water_}; }

  // _protocol_paused.
  bool protocol_paused() const noexcept { return protocol_paused_; }

 protected:
  explicit FlowControlMixin(EventLoop* loop);

  void maybe_pause_protocol();
  void maybe_resume_protocol();

  // CPython's self._loop; a transport may drop it (None) once its connection is lost.
  EventLoop* loop_ = nullptr;

 private:
  void set_limits(std::optional<std::size_t> high, std::optional<std::size_t> low);
  void report_protocol_failure(const char* message);

  bool protocol_paused_ = false;
  std::size_t high_water_ = 0;
  std::size_t low_water_ = 0;
};

}  // namespace loopcheck
