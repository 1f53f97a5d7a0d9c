// The pipe's reading side as an asyncio program would have it: a UnixReadPipeTransport on a
// duplicate of the read end, made on the first pause_reading/resume_reading, whose data
// lands in the same sink as the test's direct reads (one thread, so the sink keeps the
// order the bytes left the pipe). While it reads, loop passes drain the pipe.
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/protocols.hpp"
#include "loopcheck/unix_read_pipe_transport.hpp"

namespace loopcheck::sut {

class PipeReader {
 public:
  PipeReader(EventLoop& loop, int read_fd, std::vector<std::byte>& sink) : loop_(loop), read_fd_(read_fd) {
    proto_->sink = &sink;
  }
  PipeReader(const PipeReader&) = delete;
  PipeReader& operator=(const PipeReader&) = delete;

  void pause_reading() { transport().pause_reading(); }
  void resume_reading() { transport().resume_reading(); }
  bool made() const { return transport_ != nullptr; }
  bool is_reading() const { return transport_ && transport_->is_reading(); }
  bool fd_open() const { return transport_ && transport_->fileno() >= 0; }
  // Starts closing (a no-op once closing); the fd closes in the next pass.
  void close() {
    if (transport_) transport_->close();
  }

  // At any time: EOF only once every write end is closed, nothing after EOF,
  // connection_lost at most once, and only once closing (after EOF or close).
  std::string check(bool write_end_open) const {
    if (proto_->eof && write_end_open) return "reader: EOF while the write end is open";
    if (proto_->data_after_eof) return "reader: data_received after eof_received";
    if (proto_->lost > 1) return "reader: connection_lost " + std::to_string(proto_->lost) + " times";
    if (proto_->lost == 1 && !transport_->is_closing()) return "reader: connection_lost before closing";
    return "";
  }
  // At the end: closed through connection_lost(None), fd released, nothing holds it.
  std::string check_closed() const {
    if (!transport_) return "";
    if (fd_open()) return "reader: the read transport's fd is still open";
    if (proto_->lost != 1) return "reader: connection_lost called " + std::to_string(proto_->lost) + " times";
    if (proto_->lost_exc) return "reader: connection_lost got an exception";
    if (transport_.use_count() != 1) return "reader: the loop still holds the read transport";
    return "";
  }

 private:
  struct Sink : Protocol {
    std::vector<std::byte>* sink = nullptr;
    bool eof = false, data_after_eof = false;
    std::size_t lost = 0;
    std::exception_ptr lost_exc;
    void data_received(std::span<const std::byte> data) override {
      data_after_eof = data_after_eof || eof;
      sink->insert(sink->end(), data.begin(), data.end());
    }
    bool eof_received() override {
      eof = true;
      return false;
    }
    void connection_lost(std::exception_ptr exc) override {
      ++lost;
      lost_exc = exc;
    }
    std::string repr() const override { return "<PipeReader>"; }
  };

  UnixReadPipeTransport& transport() {
    if (!transport_) {
      int fd = ::fcntl(read_fd_, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) throw std::runtime_error("PipeReader: dup of the read end failed");
      transport_ = UnixReadPipeTransport::create(loop_, fd, proto_);
    }
    return *transport_;
  }

  EventLoop& loop_;
  int read_fd_;
  std::shared_ptr<Sink> proto_ = std::make_shared<Sink>();
  std::shared_ptr<UnixReadPipeTransport> transport_;
};

}  // namespace loopcheck::sut
