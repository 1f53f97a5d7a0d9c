// Stateful property: random sequences of write / writelines / set_write_buffer_limits /
// slow reads / loop passes / injected short writes, EAGAIN and EINTR / write_eof / close / abort on a
// UnixWritePipeTransport whose pipe holds 4096 bytes (F_SETPIPE_SZ), so writes go partial
// on their own. What the kernel takes is not known in advance, so the checks are made
// against what is observed (the pipe's FIONREAD and what was read) after every step:
// - get_write_buffer_size() == bytes the transport accepted - bytes the kernel accepted
//   (read so far + FIONREAD); an append to a non-empty buffer writes nothing;
// - pause_writing exactly when the buffer is above the high mark and the protocol is not
//   paused, after a buffered write or set_write_buffer_limits (CPython's
//   _maybe_pause_protocol); resume_writing exactly when a pass drains the whole buffer of a
//   paused protocol (CPython's _write_ready calls _maybe_resume_protocol only then); so
//   they alternate, starting with pause;
// - write_eof/close/abort close as CPython's: connection_lost(None) exactly once (a second
//   scheduled _call_connection_lost fails with AttributeError, as in CPython), the fd closed;
// - dropped writes after closing are counted (conn_lost) and log the WARNING from the sixth;
// - fully drained at the end, the bytes read are exactly the accepted bytes in order (after
//   abort: the prefix the kernel had taken), and no fd is left open.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/logger.hpp"
#include "loopcheck/syscalls.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"

namespace {

using namespace loopcheck;

// Byte at position `pos` of the stream the program writes: a shifted, duplicated or lost
// piece shows up as a mismatch.
std::byte stream_byte(std::size_t pos) {
  std::uint64_t x = (pos + 1) * 0x9E3779B97F4A7C15ull;
  return static_cast<std::byte>((x >> 29) & 0xff);
}

struct Proto : Protocol {
  std::vector<std::string> events;
  std::size_t lost = 0;
  std::exception_ptr lost_exc;
  void connection_made(BaseTransport&) override { events.push_back("connection_made"); }
  void connection_lost(std::exception_ptr exc) override {
    ++lost;
    lost_exc = exc;
    events.push_back("connection_lost");
  }
  void pause_writing() override { events.push_back("pause_writing"); }
  void resume_writing() override { events.push_back("resume_writing"); }
  std::string repr() const override { return "<Proto>"; }
};

// Real syscalls, except that writes to `fd` take the next injected step while there is one.
struct InjectedWrites : RealSyscalls {
  enum class Step { Short, Eagain, Eintr };
  struct Injection {
    Step step;
    std::size_t n;
  };
  int fd = -1;
  std::deque<Injection> script;
  ssize_t write(int f, const void* buf, size_t count) override {
    if (f != fd || script.empty()) return RealSyscalls::write(f, buf, count);
    Injection i = script.front();
    script.pop_front();
    switch (i.step) {
      case Step::Short:
        return RealSyscalls::write(f, buf, std::min(i.n, count));
      case Step::Eagain:
        errno = EAGAIN;
        return -1;
      case Step::Eintr:
        errno = EINTR;
        return -1;
    }
    return -1;
  }
};

// The loop, the transport, the pipe's read end and the expectations that depend on what the
// kernel took (observed, so kept here rather than in the rapidcheck model).
struct Sut {
  InjectedWrites sys;
  ScopedSyscalls scoped{sys};
  std::shared_ptr<CapturingLogger> logger = std::make_shared<CapturingLogger>();
  ScopedLogger log_scope{logger};
  EventLoop loop;
  int r = -1, w = -1;
  std::shared_ptr<Proto> proto = std::make_shared<Proto>();
  std::shared_ptr<UnixWritePipeTransport> t;
  std::vector<ExceptionContext> contexts;

  std::vector<std::byte> expected;  // bytes the transport accepted, in order
  std::vector<std::byte> readback;  // bytes read from the pipe so far
  bool closing = false;             // write_eof/close/abort called
  bool paused = false;              // the protocol should be paused
  bool aborted = false;             // abort() dropped the buffer (the protocol stays paused)
  std::size_t high = 64 * 1024, low = 16 * 1024;
  std::size_t pending_lost = 0;     // scheduled _call_connection_lost not yet run
  std::size_t lost_calls = 0;       // _call_connection_lost runs (scheduled or direct)
  std::size_t events_seen = 0;      // proto->events checked so far
  std::size_t dropped = 0;          // non-empty writes after closing (CPython's _conn_lost)
  bool buffered = false;            // the buffer was ever non-empty (for the stats)

  Sut() {
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
    sys.fd = w;
    loop.set_exception_handler([this](EventLoop&, const ExceptionContext& c) { contexts.push_back(c); });
    t = UnixWritePipeTransport::create(loop, w, proto);
    pass();  // connection_made, the read-end watch
    events_seen = proto->events.size();
  }
  ~Sut() {
    try {
      sys.script.clear();
      if (t && t->pipe_open()) {
        if (!t->is_closing() || t->get_write_buffer_size() != 0) t->abort();
        for (int i = 0; i < 4 && t->pipe_open(); ++i) pass();
      }
    } catch (...) {
    }
    if (t && t->pipe_open()) ::close(w);  // should not happen; never leak the fd
    ::close(r);
  }

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
    if (t->conn_lost() != dropped) return what + ": conn_lost " + std::to_string(t->conn_lost()) + ", model " + std::to_string(dropped);
    // From the sixth dropped write on, each logs 'pipe closed by peer or os.write(pipe, data)
    // raised exception.' (LOG_THRESHOLD_FOR_CONNLOST_WRITES).
    std::size_t warnings = logger->records_at_least(LogLevel::WARNING).size();
    if (warnings != (dropped > kLogThresholdForConnlostWrites ? dropped - kLogThresholdForConnlostWrites : 0))
      return what + ": " + std::to_string(warnings) + " warnings for " + std::to_string(dropped) + " dropped writes";
    buffered = buffered || t->get_write_buffer_size() > 0;
    if (t->is_closing() != closing) return what + ": is_closing disagrees";
    return "";
  }

  std::vector<std::string> maybe_pause() {
    if (t->get_write_buffer_size() > high && !paused) {
      paused = true;
      return {"pause_writing"};
    }
    return {};
  }

  std::string write(std::size_t n, bool lines, std::size_t pieces) {
    if (lines && pieces == 0) n = 0;  // writelines([])
    std::vector<std::byte> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = stream_byte(expected.size() + i);
    std::size_t before = t->get_write_buffer_size();
    if (lines) {
      std::vector<std::span<const std::byte>> list;
      std::size_t at = 0;
      for (std::size_t p = 0; p < pieces; ++p) {
        std::size_t len = p + 1 == pieces ? n - at : (n - at) / 2;
        list.emplace_back(data.data() + at, len);
        at += len;
      }
      t->writelines(list);
    } else {
      t->write(data);
    }
    bool accepted = !closing && n > 0;
    if (closing && n > 0) ++dropped;
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

  void read_some(std::size_t n) {
    std::vector<std::byte> buf(n);
    ssize_t k = ::read(r, buf.data(), n);
    if (k > 0) readback.insert(readback.end(), buf.begin(), buf.begin() + k);
  }
  std::string read(std::size_t n) {
    read_some(n);
    return check({}, "read");
  }

  std::string run_pass() {
    std::size_t before = t->get_write_buffer_size();
    std::size_t lost_due = pending_lost;
    pending_lost = 0;
    pass();
    std::vector<std::string> want;
    if (before > 0 && t->get_write_buffer_size() == 0) {
      // _write_ready took everything: _maybe_resume_protocol, then, when closing,
      // _call_connection_lost(None) directly.
      if (paused) {
        paused = false;
        want.push_back("resume_writing");
      }
      if (closing) {
        if (lost_calls == 0) want.push_back("connection_lost");
        ++lost_calls;
      }
    }
    for (std::size_t i = 0; i < lost_due; ++i) {
      if (lost_calls == 0) want.push_back("connection_lost");
      ++lost_calls;
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
    if (proto->lost != 1) return "connection_lost called " + std::to_string(proto->lost) + " times";
    if (proto->lost_exc) return "connection_lost got an exception";
    if (paused && !aborted) return "still paused after the buffer drained";
    // Pause and resume alternate, pause first.
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
    // Each extra _call_connection_lost fails with AttributeError through the handler.
    if (contexts.size() != lost_calls - 1)
      return std::to_string(contexts.size()) + " exception contexts, " + std::to_string(lost_calls) +
             " _call_connection_lost runs";
    for (auto& c : contexts)
      if (!exception_is_a(c.exception, "AttributeError")) return "unexpected exception context";
    return "";
  }
};

// The rapidcheck model: only what is known without the kernel.
struct Model {
  bool aborted = false;
};

enum class Kind { Write, Writelines, Limits, Read, Pass, Inject, WriteEof, Close, Abort };

struct PipeCommand : rc::state::Command<Model, Sut> {
  Kind kind;
  std::size_t n = 0, pieces = 1;
  std::optional<std::size_t> high, low;
  InjectedWrites::Step step = InjectedWrites::Step::Short;

  void checkPreconditions(const Model& m) const override {
    if (kind == Kind::Abort) RC_PRE(!m.aborted);
  }
  void apply(Model& m) const override {
    if (kind == Kind::Abort) m.aborted = true;
  }
  void run(const Model&, Sut& sut) const override {
    std::string err;
    switch (kind) {
      case Kind::Write: err = sut.write(n, false, 1); break;
      case Kind::Writelines: err = sut.write(n, true, pieces); break;
      case Kind::Limits: err = sut.limits(high, low); break;
      case Kind::Read: err = sut.read(n); break;
      case Kind::Pass: err = sut.run_pass(); break;
      case Kind::Inject: sut.sys.script.push_back({step, n}); break;
      case Kind::WriteEof: err = sut.write_eof(false); break;
      case Kind::Close: err = sut.write_eof(true); break;
      case Kind::Abort: err = sut.abort(); break;
    }
    RC_ASSERT(err == "");
  }
  void show(std::ostream& os) const override {
    switch (kind) {
      case Kind::Write: os << "write " << n; break;
      case Kind::Writelines: os << "writelines " << n << " in " << pieces; break;
      case Kind::Limits:
        os << "set_write_buffer_limits " << (high ? std::to_string(*high) : "None") << " "
           << (low ? std::to_string(*low) : "None");
        break;
      case Kind::Read: os << "read " << n; break;
      case Kind::Pass: os << "pass"; break;
      case Kind::Inject:
        os << "inject " << (step == InjectedWrites::Step::Short ? "short " + std::to_string(n)
                            : step == InjectedWrites::Step::Eagain ? "EAGAIN" : "EINTR");
        break;
      case Kind::WriteEof: os << "write_eof"; break;
      case Kind::Close: os << "close"; break;
      case Kind::Abort: os << "abort"; break;
    }
  }
};

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

rc::Gen<std::size_t> size_gen() {
  return rc::gen::weightedOneOf<std::size_t>({{1, rc::gen::just<std::size_t>(0)},
                                              {4, rc::gen::inRange<std::size_t>(1, 600)},
                                              {3, rc::gen::inRange<std::size_t>(600, 5000)},
                                              {1, rc::gen::inRange<std::size_t>(5000, 20000)}});
}
rc::Gen<std::optional<std::size_t>> mark_gen() {
  return rc::gen::weightedOneOf<std::optional<std::size_t>>(
      {{1, rc::gen::just<std::optional<std::size_t>>(std::nullopt)},
       {4, rc::gen::map(rc::gen::inRange<std::size_t>(0, 12000), [](std::size_t v) { return std::optional(v); })}});
}

struct Write : PipeCommand {
  Write() { kind = Kind::Write, n = *size_gen(); }
};
struct Writelines : PipeCommand {
  Writelines() { kind = Kind::Writelines, n = *size_gen(), pieces = *rc::gen::inRange<std::size_t>(0, 4); }
};
struct Limits : PipeCommand {
  Limits() { kind = Kind::Limits, high = *mark_gen(), low = *mark_gen(); }
};
struct Read : PipeCommand {
  Read() { kind = Kind::Read, n = *rc::gen::inRange<std::size_t>(1, 6000); }
};
struct Pass : PipeCommand {
  Pass() { kind = Kind::Pass; }
};
struct Inject : PipeCommand {
  Inject() {
    kind = Kind::Inject;
    step = *rc::gen::element(InjectedWrites::Step::Short, InjectedWrites::Step::Eagain, InjectedWrites::Step::Eintr);
    n = *rc::gen::inRange<std::size_t>(0, 3000);
  }
};
struct WriteEof : PipeCommand {
  WriteEof() { kind = Kind::WriteEof; }
};
struct Close : PipeCommand {
  Close() { kind = Kind::Close; }
};
struct Abort : PipeCommand {
  Abort() { kind = Kind::Abort; }
};

RC_GTEST_PROP(WritePipe, PartialWritesKeepOrderBufferAndFlowControl, ()) {
  const Model initial;
  // write_eof/close/abort are rare: after them every write is dropped.
  auto commands = *rc::state::gen::commands(initial, [](const Model& m) {
    namespace sg = rc::state::gen;
    return rc::gen::weightedOneOf<std::shared_ptr<const rc::state::Command<Model, Sut>>>(
        {{6, sg::execOneOfWithArgs<Write>()(m)},
         {2, sg::execOneOfWithArgs<Writelines>()(m)},
         {2, sg::execOneOfWithArgs<Limits>()(m)},
         {5, sg::execOneOfWithArgs<Read>()(m)},
         {5, sg::execOneOfWithArgs<Pass>()(m)},
         {2, sg::execOneOfWithArgs<Inject>()(m)},
         {1, sg::execOneOfWithArgs<WriteEof, Close, Abort>()(m)}});
  });
  const std::size_t fds_before = open_fds();
  {
    Sut sut;
    rc::state::runAll(commands, initial, sut);
    std::string err = sut.finish();
    RC_ASSERT(err == "");
    RC_CLASSIFY(sut.buffered, "buffered");
    RC_CLASSIFY(std::count(sut.proto->events.begin(), sut.proto->events.end(), std::string("resume_writing")) > 0,
                "resumed");
    RC_CLASSIFY(sut.aborted, "aborted");
    RC_CLASSIFY(sut.expected.size() > 20000, "over 20000 bytes through");
    RC_CLASSIFY(sut.lost_calls > 1, "second _call_connection_lost");
  }
  RC_ASSERT(open_fds() == fds_before);  // both pipe ends, the loop's own fds
}

}  // namespace
