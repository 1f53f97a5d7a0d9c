// asyncio.streams.StreamReader (3.13), the parts a subprocess's stdout/stderr use.
#include <algorithm>

#include "loopcheck/errors.hpp"
#include "loopcheck/streams.hpp"

namespace loopcheck {

StreamReader::StreamReader(EventLoop& loop, long limit) : loop_(loop), limit_(static_cast<std::size_t>(limit)) {
  if (limit <= 0) throw ValueError("Limit cannot be <= 0");
}

void StreamReader::set_exception(std::exception_ptr exc) {
  exception_ = exc;
  if (auto waiter = std::exchange(waiter_, std::nullopt); waiter && !waiter->cancelled()) waiter->set_exception(exc);
}

void StreamReader::wakeup_waiter() {
  if (auto waiter = std::exchange(waiter_, std::nullopt); waiter && !waiter->cancelled()) waiter->set_result();
}

void StreamReader::set_transport(std::shared_ptr<ReadTransport> transport) {
  if (transport_) throw AssertionError("Transport already set");
  transport_ = std::move(transport);
}

void StreamReader::maybe_resume_transport() {
  if (paused_ && buffer_.size() <= limit_) {
    paused_ = false;
    transport_->resume_reading();
  }
}

void StreamReader::feed_eof() {
  eof_ = true;
  wakeup_waiter();
}

void StreamReader::feed_data(std::span<const std::byte> data) {
  if (eof_) throw AssertionError("feed_data after feed_eof");
  if (data.empty()) return;
  buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
  wakeup_waiter();
  if (transport_ && !paused_ && buffer_.size() > 2 * limit_) {
    transport_->pause_reading();
    paused_ = true;
  }
}

Future<void> StreamReader::wait_for_data(const char* func_name) {
  if (waiter_)
    throw RuntimeError(std::string(func_name) + "() called while another coroutine is already waiting for incoming data");
  if (eof_) throw AssertionError("_wait_for_data after EOF");
  if (paused_) {
    paused_ = false;
    transport_->resume_reading();
  }
  waiter_ = loop_.create_future<void>();
  return *waiter_;
}

Future<std::string> StreamReader::read_all() {
  auto result = loop_.create_future<std::string>();
  read_loop(std::make_shared<std::string>(), result);
  return result;
}

// while True: block = await self.read(self._limit); if not block: break
void StreamReader::read_loop(std::shared_ptr<std::string> out, Future<std::string> result) {
  try {
    for (;;) {
      if (exception_) std::rethrow_exception(exception_);
      if (buffer_.empty() && !eof_) {
        Future<void> waiter = wait_for_data("read");
        waiter.add_done_callback(
            [this, out, result](const Future<void>& w) mutable {
              waiter_.reset();  // finally: self._waiter = None
              if (w.cancelled()) return (void)result.cancel();
              if (auto e = w.exception()) return result.set_exception(e);
              read_loop(out, result);
            },
            "Task.task_wakeup()");
        return;
      }
      std::size_t n = std::min(limit_, buffer_.size());
      if (n == 0) break;  // EOF and nothing buffered: the empty block ends the loop
      out->append(buffer_, 0, n);
      buffer_.erase(0, n);
      maybe_resume_transport();
    }
    result.set_result(std::move(*out));
  } catch (...) {
    result.set_exception(std::current_exception());
  }
}

}  // namespace loopcheck
