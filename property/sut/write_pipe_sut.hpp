// A UnixWritePipeTransport on a 4096-byte pipe (F_SETPIPE_SZ, so writes go partial on their
// own) with the expectations a program of steps builds up, shared by the rapidcheck property
// (write_pipe_property.cpp) and the fuzzer (fuzz/write_pipe_fuzzer.cpp).
//
// What the kernel takes is not known in advance, so every step is checked against what is
// observed (what was read plus the pipe's FIONREAD):
// - get_write_buffer_size() == bytes the transport accepted - bytes the kernel accepted;
//   an append to a non-empty buffer writes nothing;
// - pause_writing exactly when the buffer is above the high mark and the protocol is not
//   paused, after a buffered write or set_write_buffer_limits (CPython's
//   _maybe_pause_protocol); resume_writing exactly when a pass drains the whole buffer of a
//   paused protocol (CPython's _write_ready calls _maybe_resume_protocol only then); so
//   they alternate, starting with pause;
// - write_eof/close/abort/a write error close as CPython's: connection_lost exactly once (a
//   second scheduled _call_connection_lost fails with AttributeError, as in CPython), with
//   the error for a failed write(2) and None otherwise, then the fd is closed;
// - writes after closing or after an error are counted (_conn_lost) and log the WARNING
//   once the count has reached LOG_THRESHOLD_FOR_CONNLOST_WRITES;
// - fully drained at the end, the bytes read are exactly the accepted bytes in order (after
//   abort or an error: the prefix the kernel had taken), the loop holds no handle, reader or
//   writer for the pipe, and nothing holds the transports.
// Every step returns "" or what went wrong.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"
#include "injected_writes.hpp"
#include "pipe_reader.hpp"

namespace loopcheck::sut {

// Byte at position `pos` of the stream the program writes: a shifted, duplicated or lost
// piece shows up as a mismatch.
inline std::byte stream_byte(std::size_t pos) {
  std::uint64_t x = (pos + 1) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::byte>((x >> 29) & 0xff);
}

// Entries in /proc/self/fd: equal before and after a program, or an fd leaked.
inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

struct WriterProtocol : Protocol {
  std::vector<std::string> events;
  std::size_t lost = 0;
  std::exception_ptr first_lost_exc;
  void connection_made(BaseTransport&) override { events.push_back("connection_made"); }
  void connection_lost(std::exception_ptr exc) override {
    if (++lost == 1) first_lost_exc = exc;
    events.push_back("connection_lost");
  }
  void pause_writing() override { events.push_back("pause_writing"); }
  void resume_writing() override { events.push_back("resume_writing"); }
  std::string repr() const override { return "<WriterProtocol>"; }
};

struct WritePipeSut {
  InjectedWrites sys;
  ScopedSyscalls scoped{sys};
  std::shared_ptr<CapturingLogger> logger = std::make_shared<CapturingLogger>();
  ScopedLogger log_scope{logger};
  EventLoop loop;
  std::size_t selector_base = loop.selector().size();  // the loop's own fds
  int r = -1, w = -1;
  std::shared_ptr<WriterProtocol> proto = std::make_shared<WriterProtocol>();
  std::shared_ptr<UnixWritePipeTransport> t;
  // Exceptions the loop's handler got (only the exception: a context's handle would keep
  // the transport alive).
  std::vector<std::exception_ptr> handled;
  std::vector<std::byte> readback;  // bytes read from the pipe so far (directly or by the reader)
  PipeReader reader{loop, open_pipe(), readback};

  std::vector<std::byte> expected;  // bytes the transport accepted, in order
  bool closing = false;             // write_eof/close/abort called, or a write failed
  bool paused = false;              // the protocol should be paused
  bool aborted = false;             // abort() dropped the buffer (the protocol stays paused)
  bool errored = false;             // a write(2) failed: buffer dropped, connection_lost(exc)
  std::size_t high = 64 * 1024, low = 16 * 1024;
  std::size_t pending_lost = 0;     // scheduled _call_connection_lost not yet run
  std::size_t lost_calls = 0;       // _call_connection_lost runs (scheduled or direct)
  std::size_t events_seen = 0;      // proto->events checked so far
  std::size_t conn_lost = 0;        // CPython's _conn_lost: failed and dropped writes
  std::size_t warnings = 0;         // WARNINGs the dropped writes should have logged
  bool buffered = false;            // the buffer was ever non-empty (for the stats)

  WritePipeSut() {
    sys.fd = w;
    loop.set_exception_handler([this](EventLoop&, const ExceptionContext& c) { handled.push_back(c.exception); });
    t = UnixWritePipeTransport::create(loop, w, proto);
    pass();  // connection_made, the read-end watch
    events_seen = proto->events.size();
  }
  ~WritePipeSut() {
    try {
      sys.script.clear();
      reader.close();
      if (t && t->pipe_open()) {
        if (!t->is_closing() || t->get_write_buffer_size() != 0) t->abort();
      }
      for (int i = 0; i < 4 && ((t && t->pipe_open()) || reader.fd_open()); ++i) pass();
    } catch (...) {
    }
    if (t && t->pipe_open()) ::close(w);  // should not happen; never leak the fd
    ::close(r);
  }
  WritePipeSut(const WritePipeSut&) = delete;
  WritePipeSut& operator=(const WritePipeSut&) = delete;

  // One loop pass that never blocks: a ready callback makes the poll's timeout zero.
  void pass() {
    loop.call_soon([] {}, Label("noop()"));
    loop.run_once();
  }
  std::size_t in_pipe() const {
    int n = 0;
    if (::ioctl(r, FIONREAD, &n) != 0) return 0;
    return static_cast<std::size_t>(n);
  }
  std::size_t kernel_took() const { return readback.size() + in_pipe(); }

  // ---- steps ----------------------------------------------------------------------------

  std::string write(std::size_t n, bool lines, std::size_t pieces) {
    if (lines && pieces == 0) n = 0;  // writelines([])
    std::vector<std::byte> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = stream_byte(expected.size() + i);
    std::size_t before = t->get_write_buffer_size();
    std::size_t epipes = sys.epipes;
    if (lines)
      writelines(data, pieces);
    else
      t->write(data);
    bool accepted = false;
    if (n > 0 && closing)
      drop();
    else if (sys.epipes != epipes)
      write_failed();
    else
      accepted = n > 0;
    if (accepted) expected.insert(expected.end(), data.begin(), data.end());
    if (accepted && before > 0 && t->get_write_buffer_size() != before + n)
      return "write to a non-empty buffer did not just append";
    std::vector<std::string> want;
    if (accepted && t->get_write_buffer_size() > 0) want = maybe_pause();
    return check(want, "write");
  }

  std::string limits(std::optional<std::size_t> h, std::optional<std::size_t> l) {
    std::size_t nh = h ? *h : (l ? 4 * *l : 64 * 1024);
    std::size_t nl = l ? *l : nh / 4;
    bool valid = nh >= nl;
    bool raised = false;
    try {
      t->set_write_buffer_limits(h, l);
    } catch (const ValueError&) {
      raised = true;
    }
    if (raised == valid) return valid ? "set_write_buffer_limits raised" : "set_write_buffer_limits accepted high < low";
    std::vector<std::string> want;
    if (valid) {
      high = nh, low = nl;
      want = maybe_pause();
    }
    auto got = t->get_write_buffer_limits();
    if (got.first != low || got.second != high) return "get_write_buffer_limits disagrees";
    return check(want, "set_write_buffer_limits");
  }

  std::string read(std::size_t n) {
    read_some(n);
    return check({}, "read");
  }

  std::string run_pass() {
    std::size_t before = t->get_write_buffer_size();
    std::size_t epipes = sys.epipes;
    std::size_t lost_due = pending_lost;
    pending_lost = 0;
    pass();
    std::vector<std::string> want;
    // Handles queued before the pass run before the I/O callbacks it adds.
    for (std::size_t i = 0; i < lost_due; ++i) lost_ran(want);
    if (sys.epipes != epipes) {
      write_failed();  // in _write_ready: the buffer is dropped, no resume_writing
    } else if (before > 0 && t->get_write_buffer_size() == 0) {
      // _write_ready took everything: _maybe_resume_protocol, then, when closing,
      // _call_connection_lost(None) directly.
      if (paused) {
        paused = false;
        want.push_back("resume_writing");
      }
      if (closing) lost_ran(want);
    }
    return check(want, "pass");
  }

  std::string write_eof(bool via_close) {
    if (via_close)
      t->close();
    else
      t->write_eof();
    if (!closing) {
      closing = true;
      if (t->get_write_buffer_size() == 0) ++pending_lost;
    }
    return check({}, via_close ? "close" : "write_eof");
  }

  std::string abort() {
    if (lost_calls > 0) {
      // connection_lost ran: CPython's _close finds self._loop None.
      try {
        t->abort();
      } catch (const AttributeError&) {
        closing = true;
        return check({}, "abort after connection_lost");
      }
      return "abort after connection_lost did not raise AttributeError";
    }
    std::size_t took = kernel_took();
    t->abort();
    closing = true;
    expected.resize(took);  // the buffer is dropped
    aborted = true;
    ++pending_lost;
    return check({}, "abort");
  }

  std::string pause_reading() {
    reader.pause_reading();
    return check({}, "pause_reading");
  }
  std::string resume_reading() {
    reader.resume_reading();
    return check({}, "resume_reading");
  }

  // Close (unless closed), drain the pipe fully, then compare everything.
  std::string finish() {
    sys.script.clear();
    if (!closing) {
      std::string err = write_eof(true);
      if (!err.empty()) return err;
    }
    for (int i = 0; i < 100000 && (t->pipe_open() || pending_lost > 0); ++i) {
      read_some(65536);
      std::string err = run_pass();
      if (!err.empty()) return "finish: " + err;
    }
    if (t->pipe_open()) return "the transport never closed its pipe";
    std::string err = close_reader();
    if (!err.empty()) return err;
    err = drain_and_compare();
    if (!err.empty()) return err;
    err = check_lost();
    if (!err.empty()) return err;
    err = check_pause_resume();
    if (!err.empty()) return err;
    return check_nothing_held();
  }

  // ---- checks ---------------------------------------------------------------------------

  // The events since the last check must be `want`; the buffer must agree with the pipe.
  std::string check(const std::vector<std::string>& want, const std::string& what) {
    std::vector<std::string> got(proto->events.begin() + static_cast<std::ptrdiff_t>(events_seen),
                                 proto->events.end());
    events_seen = proto->events.size();
    std::ostringstream err;
    if (got != want) {
      err << what << ": protocol got [";
      for (auto& e : got) err << e << " ";
      err << "], model wants [";
      for (auto& e : want) err << e << " ";
      err << "]";
      return err.str();
    }
    std::size_t took = kernel_took();
    if (took > expected.size()) {
      err << what << ": kernel holds " << took << " bytes, only " << expected.size() << " accepted";
      return err.str();
    }
    if (t->get_write_buffer_size() != expected.size() - took) {
      err << what << ": buffer " << t->get_write_buffer_size() << ", accepted " << expected.size()
          << " - kernel " << took;
      return err.str();
    }
    if (t->protocol_paused() != paused) return what + ": protocol_paused disagrees";
    if (t->conn_lost() != conn_lost)
      return what + ": conn_lost " + std::to_string(t->conn_lost()) + ", model " + std::to_string(conn_lost);
    std::size_t logged = logger->records_at_least(LogLevel::WARNING).size();
    if (logged != warnings)
      return what + ": " + std::to_string(logged) + " warnings, model " + std::to_string(warnings);
    buffered = buffered || t->get_write_buffer_size() > 0;
    if (t->is_closing() != closing) return what + ": is_closing disagrees";
    std::string reader_err = reader.check(t->pipe_open());
    if (!reader_err.empty()) return what + ": " + reader_err;
    return "";
  }

 private:
  // The pipe before anything else that needs it: a 4096-byte buffer, a nonblocking read end.
  int open_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = fds[0];
    w = fds[1];
    ::fcntl(r, F_SETFL, O_NONBLOCK);
    if (::fcntl(w, F_SETPIPE_SZ, 4096) < 0) {
      ::close(r);
      ::close(w);
      throw std::runtime_error("F_SETPIPE_SZ");
    }
    return r;
  }

  void writelines(const std::vector<std::byte>& data, std::size_t pieces) {
    std::vector<std::span<const std::byte>> list;
    std::size_t n = data.size(), at = 0;
    for (std::size_t p = 0; p < pieces; ++p) {
      std::size_t len = p + 1 == pieces ? n - at : (n - at) / 2;
      list.emplace_back(data.data() + at, len);
      at += len;
    }
    t->writelines(list);
  }

  void read_some(std::size_t n) {
    std::vector<std::byte> buf(n);
    ssize_t k = ::read(r, buf.data(), n);
    if (k > 0) readback.insert(readback.end(), buf.begin(), buf.begin() + k);
  }

  std::vector<std::string> maybe_pause() {
    if (t->get_write_buffer_size() > high && !paused) {
      paused = true;
      return {"pause_writing"};
    }
    return {};
  }

  // A write dropped after closing or an error: counted, and logged once the count is high.
  void drop() {
    if (conn_lost >= kLogThresholdForConnlostWrites) ++warnings;
    ++conn_lost;
  }

  // write(2) failed (EPIPE): counted, the buffer dropped, connection_lost(exc) scheduled.
  void write_failed() {
    ++conn_lost;
    closing = true;
    errored = true;
    expected.resize(kernel_took());
    ++pending_lost;
  }

  // A _call_connection_lost ran: only the first reaches the protocol.
  void lost_ran(std::vector<std::string>& want) {
    if (lost_calls == 0) want.push_back("connection_lost");
    ++lost_calls;
  }

  std::string close_reader() {
    reader.close();
    for (int i = 0; i < 4 && reader.fd_open(); ++i) {
      std::string err = run_pass();
      if (!err.empty()) return "closing the reader: " + err;
    }
    return reader.check_closed();
  }

  // Reads what is left; the bytes must be the accepted ones in order, then EOF.
  std::string drain_and_compare() {
    for (;;) {
      std::size_t before = readback.size();
      read_some(65536);
      if (readback.size() == before) break;
    }
    char c;
    if (::read(r, &c, 1) != 0) return "the pipe's write end is still open";
    if (readback.size() != expected.size())
      return "read " + std::to_string(readback.size()) + " bytes, expected " + std::to_string(expected.size());
    for (std::size_t i = 0; i < readback.size(); ++i)
      if (readback[i] != expected[i]) return "bytes differ at offset " + std::to_string(i);
    return "";
  }

  std::string check_lost() {
    if (proto->lost != 1) return "connection_lost called " + std::to_string(proto->lost) + " times";
    if (errored && !exception_is_a(proto->first_lost_exc, "BrokenPipeError"))
      return "connection_lost after a failed write did not get BrokenPipeError";
    if (!errored && proto->first_lost_exc) return "connection_lost got an exception";
    // Each extra _call_connection_lost fails with AttributeError through the handler.
    if (handled.size() != lost_calls - 1)
      return std::to_string(handled.size()) + " exception contexts, " + std::to_string(lost_calls) +
             " _call_connection_lost runs";
    for (auto& exc : handled)
      if (!exception_is_a(exc, "AttributeError")) return "unexpected exception context: " + format_exception_only(exc);
    return "";
  }

  // Pause and resume alternate, pause first; only a dropped buffer may leave it paused.
  std::string check_pause_resume() const {
    if (paused && !aborted && !errored) return "still paused after the buffer drained";
    bool p = false;
    for (auto& e : proto->events) {
      if (e == "pause_writing") {
        if (p) return "pause_writing twice in a row";
        p = true;
      } else if (e == "resume_writing") {
        if (!p) return "resume_writing without pause_writing";
        p = false;
      }
    }
    return "";
  }

  // No handle queued or timer left, no reader or writer registered for the pipe, and the
  // loop keeps no reference to the transport.
  std::string check_nothing_held() {
    pass();
    if (loop.ready_count() != 0 || loop.scheduled_count() != 0)
      return "handles left: " + std::to_string(loop.ready_count()) + " ready, " +
             std::to_string(loop.scheduled_count()) + " scheduled";
    if (loop.selector().size() != selector_base)
      return "the selector still watches " + std::to_string(loop.selector().size() - selector_base) + " fds";
    if (t.use_count() != 1) return "the loop still holds the write transport";
    return "";
  }
};

}  // namespace loopcheck::sut
