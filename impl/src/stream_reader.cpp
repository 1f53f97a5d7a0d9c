// asyncio.streams.StreamReader (3.13): the buffer, feeding, waiting, and the byte-count
// reads (read, readexactly). The separator reads are in stream_reader_lines.cpp.
#include <algorithm>

#include "loopcheck/errors.hpp"
#include "loopcheck/stream_errors.hpp"
#include "loopcheck/streams.hpp"
#include "stream_coroutine.hpp"

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
    try {
      transport_->pause_reading();
    } catch (const NotImplementedError&) {
      transport_ = nullptr;  // it cannot pause: buffer everything and stop trying
      return;
    }
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

std::string StreamReader::take(std::size_t n) {
  std::string data = buffer_.substr(0, n);
  buffer_.erase(0, n);
  maybe_resume_transport();
  return data;
}

Future<std::string> StreamReader::read(long n) {
  if (n < 0) return read_all();  // which raises a set exception first, as read() does
  auto co = std::make_shared<Coroutine<std::string>>();
  co->name = "read";
  // It waits at most once: woken by feed_eof (or by another reader), it returns what is there.
  co->step = [this, n, waited = false]() mutable -> std::optional<std::string> {
    if (!waited) {
      if (exception_) std::rethrow_exception(exception_);
      if (n == 0) return std::string();
      if (buffer_.empty() && !eof_) {
        waited = true;
        return std::nullopt;
      }
    }
    return take(static_cast<std::size_t>(n));
  };
  return start(co);
}

Future<std::string> StreamReader::readexactly(long n) {
  auto co = std::make_shared<Coroutine<std::string>>();
  co->name = "readexactly";
  co->step = [this, n, checked = false]() mutable -> std::optional<std::string> {
    if (!checked) {  // the checks before the loop
      checked = true;
      if (n < 0) throw ValueError("readexactly size can not be less than zero");
      if (exception_) std::rethrow_exception(exception_);
      if (n == 0) return std::string();
    }
    auto want = static_cast<std::size_t>(n);
    if (buffer_.size() >= want) return take(want);
    if (eof_) throw IncompleteReadError(std::exchange(buffer_, {}), n);
    return std::nullopt;
  };
  return start(co);
}

}  // namespace loopcheck
