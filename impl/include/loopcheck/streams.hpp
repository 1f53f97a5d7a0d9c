// The parts of asyncio.streams that asyncio.subprocess needs: FlowControlMixin (here
// StreamFlowControl, to tell it from the transport-side FlowControlMixin), StreamReader and
// StreamWriter, with CPython 3.13's behaviour and messages.
//
// Coroutines are futures: read() and drain() return a Future that completes where the
// awaiting coroutine would resume (a read whose data is already buffered completes at once,
// as a coroutine that never suspends returns in the same step).
#pragma once

#include <deque>
#include <exception>
#include <memory>
#include <span>
#include <string>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/future.hpp"
#include "loopcheck/transports.hpp"

namespace loopcheck {

// streams._DEFAULT_LIMIT
inline constexpr std::size_t kStreamDefaultLimit = 64 * 1024;

// streams.FlowControlMixin: pause_writing/resume_writing/connection_lost bookkeeping for
// StreamWriter.drain().
class StreamFlowControl {
 public:
  explicit StreamFlowControl(EventLoop& loop) : flow_loop_(loop) {}
  virtual ~StreamFlowControl() = default;

  // AssertionError when already paused / not paused, as CPython's asserts.
  void flow_pause_writing();
  void flow_resume_writing();
  void flow_connection_lost(std::exception_ptr exc);
  // _drain_helper(): ConnectionResetError('Connection lost') once the connection is lost;
  // done at once unless paused; else done at resume_writing or connection_lost.
  Future<void> drain_helper();

 private:
  EventLoop& flow_loop_;
  bool paused_ = false;
  bool connection_lost_ = false;
  std::deque<Future<void>> drain_waiters_;
};

class StreamReader {
 public:
  // ValueError('Limit cannot be <= 0').
  StreamReader(EventLoop& loop, long limit = static_cast<long>(kStreamDefaultLimit));

  std::exception_ptr exception() const { return exception_; }
  void set_exception(std::exception_ptr exc);
  // AssertionError('Transport already set') the second time.
  void set_transport(std::shared_ptr<ReadTransport> transport);
  void feed_eof();
  bool at_eof() const { return eof_ && buffer_.empty(); }
  // AssertionError('feed_data after feed_eof'); pauses the transport above 2 * limit.
  void feed_data(std::span<const std::byte> data);
  // read(-1): every byte until EOF, read in blocks of `limit` as CPython does (each block
  // resumes a paused transport once the buffer is back under the limit).
  Future<std::string> read_all();
  std::size_t limit() const noexcept { return limit_; }

 private:
  void read_loop(std::shared_ptr<std::string> out, Future<std::string> result);
  // _wait_for_data: resumes a paused transport, then waits for feed_data/feed_eof.
  Future<void> wait_for_data(const char* func_name);
  void wakeup_waiter();
  void maybe_resume_transport();

  EventLoop& loop_;
  std::size_t limit_;
  std::string buffer_;
  bool eof_ = false;
  std::optional<Future<void>> waiter_;
  std::exception_ptr exception_;
  std::shared_ptr<ReadTransport> transport_;
  bool paused_ = false;
};

class StreamWriter {
 public:
  StreamWriter(std::shared_ptr<WriteTransport> transport, std::weak_ptr<StreamFlowControl> protocol, EventLoop& loop)
      : transport_(std::move(transport)), protocol_(std::move(protocol)), loop_(loop) {}
  // __del__: an open transport is closed with ResourceWarning 'unclosed <StreamWriter
  // transport=...>' ('loop is closed' when the loop is).
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  void write(std::span<const std::byte> data) { transport_->write(data); }
  void write_eof() { transport_->write_eof(); }
  void close() { transport_->close(); }
  bool is_closing() const { return transport_->is_closing(); }
  const std::shared_ptr<WriteTransport>& transport() const noexcept { return transport_; }
  // drain(): one pass first when the transport is closing (sleep(0), so connection_lost can
  // run), then the protocol's drain_helper().
  Future<void> drain();
  std::string repr() const { return "<StreamWriter transport=" + transport_->repr() + ">"; }

 private:
  std::shared_ptr<WriteTransport> transport_;
  std::weak_ptr<StreamFlowControl> protocol_;
  EventLoop& loop_;
};

// `dest` completes as `src` did (the way an awaiting coroutine passes a result on).
template <class T>
void chain_future(const Future<T>& src, Future<T> dest) {
  if (dest.done()) return;
  if (src.cancelled()) {
    dest.cancel();
  } else if (auto e = src.exception()) {
    dest.set_exception(e);
  } else if constexpr (std::is_void_v<T>) {
    dest.set_result();
  } else {
    dest.set_result(src.result());
  }
}

}  // namespace loopcheck
