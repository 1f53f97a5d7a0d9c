// UnixWritePipeTransport and FlowControlMixin, by behaviour of CPython's
// UnixWritePipeTransportTests (test_unix_events.py) and the write-pipe catalogue: writes that
// fit, partial writes and EAGAIN through the syscall seam, write errors, peer close,
// write_eof/close/abort, connection_lost failures, flow control, repr, unclosed warning.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"
#include "loopcheck/warnings.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::CapturedLog;
using loopcheck::test::raised;
using loopcheck::test::run_until;

namespace {

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// One pass that cannot block: a queued no-op makes the pass poll with a zero timeout (run_once
// alone waits forever when nothing is ready and no timer exists).
void run_ready_pass(EventLoop& loop) {
  loop.call_soon([] {}, Label("noop()"));
  loop.run_once();
}

// Real syscalls, except that writes to `fd` follow `script` while it has steps; each step
// gets the size asked for and returns what write(2) would.
struct ScriptedWrites : RealSyscalls {
  using Step = std::function<ssize_t(int fd, const void* buf, size_t count)>;
  int fd = -1;
  std::deque<Step> script;
  std::vector<std::size_t> asked;  // sizes of every write to `fd`
  int refuse_add = 0;              // errno for EPOLL_CTL_ADD of `fd`, when set

  ssize_t write(int f, const void* buf, size_t count) override {
    if (f == fd) asked.push_back(count);
    if (f != fd || script.empty()) return RealSyscalls::write(f, buf, count);
    Step step = std::move(script.front());
    script.pop_front();
    return step(f, buf, count);
  }
  int epoll_ctl(int epfd, int op, int f, struct epoll_event* event) override {
    if (f == fd && op == EPOLL_CTL_ADD && refuse_add) {
      errno = refuse_add;
      return -1;
    }
    return RealSyscalls::epoll_ctl(epfd, op, f, event);
  }
  void take(std::size_t n) {
    script.push_back([this, n](int f, const void* b, size_t c) { return RealSyscalls::write(f, b, std::min(n, c)); });
  }
  void fail(int err) {
    script.push_back([err](int, const void*, size_t) -> ssize_t {
      errno = err;
      return -1;
    });
  }
  void raise(std::exception_ptr e) {
    script.push_back([e](int, const void*, size_t) -> ssize_t { std::rethrow_exception(e); });
  }
};

// Records protocol calls; each method may be told to throw.
struct Proto : Protocol {
  std::vector<std::string> events;
  std::exception_ptr lost;
  std::exception_ptr throw_on_made, throw_on_pause, throw_on_resume, throw_on_lost;
  std::function<void()> on_resume;

  void connection_made(BaseTransport&) override {
    events.push_back("connection_made");
    if (throw_on_made) std::rethrow_exception(throw_on_made);
  }
  void connection_lost(std::exception_ptr exc) override {
    lost = exc;
    events.push_back(exc ? "connection_lost " + format_exception_only(exc) : "connection_lost None");
    if (throw_on_lost) std::rethrow_exception(throw_on_lost);
  }
  void pause_writing() override {
    events.push_back("pause_writing");
    if (throw_on_pause) std::rethrow_exception(throw_on_pause);
  }
  void resume_writing() override {
    events.push_back("resume_writing");
    if (on_resume) on_resume();
    if (throw_on_resume) std::rethrow_exception(throw_on_resume);
  }
  std::string repr() const override { return "<Proto>"; }
};

class WritePipe : public ::testing::Test {
 protected:
  WritePipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = fds[0];
    w = fds[1];
    ::fcntl(r, F_SETFL, O_NONBLOCK);
    sys.fd = w;
    loop.set_exception_handler([this](EventLoop&, const ExceptionContext& c) { contexts.push_back(c); });
  }
  ~WritePipe() override {
    if (t && t->pipe_open()) {
      t->abort();
      run_ready_pass(loop);
    }
    if (!w_taken) ::close(w);
    if (r >= 0) ::close(r);
  }

  // A transport on the pipe's write end, which it now owns.
  std::shared_ptr<UnixWritePipeTransport> create_on_w(std::optional<Future<void>> waiter = std::nullopt) {
    t = UnixWritePipeTransport::create(loop, w, proto, std::move(waiter));
    w_taken = true;
    return t;
  }
  // Connects the pipe's write end and runs the pass that calls connection_made.
  std::shared_ptr<UnixWritePipeTransport> connect() {
    create_on_w();
    run_ready_pass(loop);
    return t;
  }
  std::string read_all() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(r, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  void shrink_pipe() { ASSERT_EQ(::fcntl(w, F_SETPIPE_SZ, 4096), 4096); }
  bool reading() const { return loop.selector().get_events(w) & EVENT_READ; }
  bool polling() const { return loop.selector().get_events(w) & EVENT_WRITE; }
  void close_read_end() {
    ::close(r);
    r = -1;
  }

  ScriptedWrites sys;
  ScopedSyscalls scoped{sys};
  std::vector<WarningRecord> warnings;
  ScopedWarningHandler warning_handler{[this](const WarningRecord& w) { warnings.push_back(w); }};
  CapturedLog log;
  EventLoop loop;
  int r = -1, w = -1;
  bool w_taken = false;  // a transport owns (and closes) w
  std::shared_ptr<Proto> proto = std::make_shared<Proto>();
  std::vector<ExceptionContext> contexts;
  std::shared_ptr<UnixWritePipeTransport> t;
};

// ---- construction ------------------------------------------------------------------------

TEST_F(WritePipe, ConnectionMadeThenReaderInTheFirstPass) {
  create_on_w();
  EXPECT_TRUE(proto->events.empty());
  EXPECT_FALSE(reading());
  EXPECT_NE(::fcntl(w, F_GETFL) & O_NONBLOCK, 0);
  run_ready_pass(loop);
  EXPECT_EQ(proto->events, std::vector<std::string>{"connection_made"});
  EXPECT_TRUE(reading());
  EXPECT_EQ(std::any_cast<int>(t->get_extra_info("pipe")), w);
  EXPECT_FALSE(t->get_extra_info("sockname").has_value());
  EXPECT_TRUE(t->can_write_eof());
  EXPECT_EQ(t->get_protocol(), proto);
}

TEST_F(WritePipe, WaiterIsSetAfterConnectionMade) {
  Future<void> waiter = loop.create_future<void>();
  create_on_w(waiter);
  EXPECT_FALSE(waiter.done());
  run_ready_pass(loop);
  EXPECT_TRUE(waiter.done());
  EXPECT_EQ(proto->events.size(), 1u);
}

TEST_F(WritePipe, CancelledWaiterIsLeftAlone) {
  Future<void> waiter = loop.create_future<void>();
  create_on_w(waiter);
  waiter.cancel();
  run_ready_pass(loop);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_TRUE(contexts.empty());
}

TEST_F(WritePipe, RegularFileIsRefusedAndLeftOpen) {
  char path[] = "/tmp/loopcheck-wpXXXXXX";
  int f = ::mkstemp(path);
  ASSERT_GE(f, 0);
  ::unlink(path);
  EXPECT_EQ(raised([&] { UnixWritePipeTransport::create(loop, f, proto); }),
            "ValueError: Pipe transport is only for pipes, sockets and character devices");
  EXPECT_NE(::fcntl(f, F_GETFD), -1);  // still open
  EXPECT_EQ(loop.ready_count(), 0u);     // nothing was queued
  ::close(f);
  run_ready_pass(loop);
  EXPECT_TRUE(proto->events.empty());
}

TEST_F(WritePipe, ClosedFdRaisesOSError) {
  int f = ::dup(r);
  ::close(f);
  EXPECT_EQ(raised([&] { UnixWritePipeTransport::create(loop, f, proto); }), "OSError: [Errno 9] Bad file descriptor");
}

TEST_F(WritePipe, CharacterDeviceGetsNoReader) {
  int f = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(f, 0);
  auto dev = UnixWritePipeTransport::create(loop, f, proto);
  run_ready_pass(loop);
  EXPECT_EQ(loop.selector().get_events(f), 0u);
  dev->write(bytes("x"));
  EXPECT_EQ(dev->get_write_buffer_size(), 0u);
  dev->close();
  run_ready_pass(loop);
  EXPECT_FALSE(dev->pipe_open());
}

// ---- writing -------------------------------------------------------------------------------

TEST_F(WritePipe, WriteThatFitsGoesOutAtOnce) {
  connect();
  t->write(bytes("data"));
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_FALSE(polling());
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, EmptyWriteDoesNothing) {
  connect();
  t->write({});
  EXPECT_TRUE(sys.asked.empty());
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
}

TEST_F(WritePipe, PartialWriteBuffersTheRestAndPolls) {
  connect();
  sys.take(2);
  t->write(bytes("data"));
  EXPECT_EQ(t->get_write_buffer_size(), 2u);
  EXPECT_TRUE(polling());
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport fd=" + std::to_string(w) + " polling bufsize=2>");
  run_ready_pass(loop);
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_FALSE(polling());
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, EagainBuffersEverything) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  EXPECT_EQ(t->get_write_buffer_size(), 4u);
  EXPECT_TRUE(polling());
  EXPECT_EQ(read_all(), "");
  run_ready_pass(loop);
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, EintrIsRetriedLikeOsWrite) {
  connect();
  sys.fail(EINTR);
  t->write(bytes("data"));
  EXPECT_EQ(sys.asked.size(), 2u);
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, WritesWhileBufferedAppendWithoutTryingThePipe) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("previous"));
  t->write(bytes("data"));
  EXPECT_EQ(sys.asked.size(), 1u);
  EXPECT_EQ(t->get_write_buffer_size(), 12u);
  run_ready_pass(loop);
  EXPECT_EQ(read_all(), "previousdata");
}

TEST_F(WritePipe, WriteReadyPartialKeepsTheRest) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  sys.take(3);
  run_ready_pass(loop);
  EXPECT_EQ(t->get_write_buffer_size(), 1u);
  EXPECT_TRUE(polling());
  sys.fail(EAGAIN);
  run_ready_pass(loop);
  EXPECT_EQ(t->get_write_buffer_size(), 1u);
  run_ready_pass(loop);
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, RealPipeFillsAndDrainsInOrder) {
  shrink_pipe();
  connect();
  std::string big(10000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  t->write(bytes(big));
  EXPECT_EQ(t->get_write_buffer_size(), 10000u - 4096u);
  std::string got;
  ASSERT_TRUE(run_until(loop, [&] {
    got += read_all();
    return t->get_write_buffer_size() == 0;
  }));
  got += read_all();
  EXPECT_EQ(got, big);
}

TEST_F(WritePipe, WriteErrorClosesQuietlyWithTheOSError) {
  connect();
  loop.set_debug(true);
  sys.fail(EPIPE);
  t->write(bytes("data"));
  EXPECT_TRUE(t->is_closing());
  EXPECT_EQ(t->conn_lost(), 1u);
  EXPECT_FALSE(reading());
  EXPECT_TRUE(contexts.empty());
  auto records = log.logger->records();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().level, LogLevel::DEBUG);
  // Logged before _close(): the repr does not say closing yet.
  EXPECT_EQ(records.back().message,
            "<_UnixWritePipeTransport fd=" + std::to_string(w) + " idle bufsize=0>: Fatal write error on pipe transport");
  EXPECT_EQ(records.back().exc_text, "BrokenPipeError: [Errno 32] Broken pipe");
  EXPECT_EQ(proto->events.size(), 1u);
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost BrokenPipeError: [Errno 32] Broken pipe");
  EXPECT_FALSE(t->pipe_open());
}

TEST_F(WritePipe, NonOSErrorGoesToTheExceptionHandlerFirst) {
  connect();
  sys.raise(std::make_exception_ptr(Exception("BufferError", "memoryview: underlying buffer is not C-contiguous")));
  t->write(bytes("data"));
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(contexts[0].message, "Fatal write error on pipe transport");
  EXPECT_EQ(exception_type_name(contexts[0].exception), "BufferError");
  EXPECT_EQ(contexts[0].keys(), (std::vector<std::string>{"exception", "message", "protocol", "transport"}));
  EXPECT_EQ(contexts[0].get("protocol"), "<Proto>");
  EXPECT_TRUE(t->is_closing());
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost BufferError: memoryview: underlying buffer is not C-contiguous");
}

TEST_F(WritePipe, WriteReadyErrorDropsTheBufferAndTheWriter) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  sys.fail(EPIPE);
  run_ready_pass(loop);
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_FALSE(polling());
  EXPECT_FALSE(reading());
  EXPECT_EQ(t->conn_lost(), 1u);
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost BrokenPipeError: [Errno 32] Broken pipe");
}

TEST_F(WritePipe, WritesAfterCloseWarnFromTheSixth) {
  connect();
  t->close();
  for (int i = 0; i < 5; ++i) t->write(bytes("x"));
  EXPECT_TRUE(log.warnings().empty());
  t->write(bytes("x"));
  t->write({});
  ASSERT_EQ(log.warnings().size(), 1u);
  EXPECT_EQ(log.warnings()[0].message, "pipe closed by peer or os.write(pipe, data) raised exception.");
  EXPECT_EQ(t->conn_lost(), 6u);
  EXPECT_TRUE(sys.asked.empty());
}

TEST_F(WritePipe, FailedWriteCountsTowardsTheWarnings) {
  connect();
  sys.fail(EIO);
  t->write(bytes("x"));
  for (int i = 0; i < 4; ++i) t->write(bytes("x"));
  EXPECT_TRUE(log.warnings().empty());
  t->write(bytes("x"));
  EXPECT_EQ(log.warnings().size(), 1u);
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost OSError: [Errno 5] Input/output error");
}

// ---- peer close (_read_ready) -------------------------------------------------------------

TEST_F(WritePipe, PeerCloseWithEmptyBufferLosesTheConnectionWithNone) {
  connect();
  loop.set_debug(true);
  close_read_end();
  ASSERT_TRUE(run_until(loop, [&] { return proto->events.size() == 2; }));
  EXPECT_EQ(proto->events.back(), "connection_lost None");
  EXPECT_FALSE(t->pipe_open());
  bool logged = false;
  for (const auto& rec : log.logger->records())
    if (rec.level == LogLevel::INFO &&
        rec.message == "<_UnixWritePipeTransport fd=" + std::to_string(w) + " idle bufsize=0> was closed by peer")
      logged = true;
  EXPECT_TRUE(logged);
}

TEST_F(WritePipe, PeerCloseWithDataGivesBrokenPipeErrorWithoutArgs) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  sys.fail(EAGAIN);
  sys.fail(EAGAIN);
  close_read_end();
  ASSERT_TRUE(run_until(loop, [&] { return proto->lost != nullptr; }));
  EXPECT_EQ(exception_type_name(proto->lost), "BrokenPipeError");
  EXPECT_EQ(exception_message(proto->lost), "");
  EXPECT_EQ(exception_repr(proto->lost), "BrokenPipeError()");
  EXPECT_TRUE(exception_is_a(proto->lost, "OSError"));
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
}

// ---- write_eof / close / abort -------------------------------------------------------------

TEST_F(WritePipe, WriteEofWithEmptyBufferClosesInTheNextPass) {
  connect();
  t->write_eof();
  EXPECT_TRUE(t->is_closing());
  EXPECT_FALSE(reading());
  EXPECT_EQ(proto->events.size(), 1u);
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost None");
  EXPECT_FALSE(t->pipe_open());
  char c;
  EXPECT_EQ(::read(r, &c, 1), 0);  // EOF: the write end is closed
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport closed fd=" + std::to_string(w) + " closed>");
}

TEST_F(WritePipe, WriteEofWithPendingDataClosesFromTheWriter) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  t->write_eof();
  EXPECT_TRUE(t->is_closing());
  EXPECT_TRUE(reading());
  run_ready_pass(loop);
  // The writer that empties the buffer calls connection_lost itself, in the same pass.
  EXPECT_EQ(proto->events.back(), "connection_lost None");
  EXPECT_FALSE(t->pipe_open());
  EXPECT_EQ(read_all(), "data");
}

TEST_F(WritePipe, CloseTwiceAndCloseAfterWriteEofLoseTheConnectionOnce) {
  connect();
  t->write_eof();
  t->close();
  t->close();
  t->write_eof();
  run_ready_pass(loop);
  run_ready_pass(loop);  // nothing more: connection_lost ran once
  EXPECT_EQ(proto->events, (std::vector<std::string>{"connection_made", "connection_lost None"}));
  EXPECT_TRUE(contexts.empty());
}

TEST_F(WritePipe, AbortDropsDataWithoutResume) {
  connect();
  t->set_write_buffer_limits(2);
  sys.fail(EAGAIN);
  t->write(bytes("data"));
  EXPECT_EQ(proto->events.back(), "pause_writing");
  t->abort();
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  EXPECT_FALSE(polling());
  EXPECT_FALSE(reading());
  EXPECT_TRUE(t->is_closing());
  run_ready_pass(loop);
  EXPECT_EQ(proto->events, (std::vector<std::string>{"connection_made", "pause_writing", "connection_lost None"}));
}

TEST_F(WritePipe, AbortAfterCloseFailsTheSecondConnectionLost) {
  connect();
  t->close();
  t->abort();
  run_ready_pass(loop);
  EXPECT_EQ(proto->events.back(), "connection_lost None");
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(contexts[0].message, "Exception in callback _UnixWritePipeTransport._call_connection_lost()");
  EXPECT_EQ(format_exception_only(contexts[0].exception), "AttributeError: 'NoneType' object has no attribute 'close'");
}

// Handles print as CPython 3.13's: the protocol's class, arguments only in debug mode.
TEST_F(WritePipe, HandleLabelsNameTheProtocolClassWithoutArguments) {
  proto->throw_on_made = std::make_exception_ptr(RuntimeError("made failed"));
  connect();
  t->close();
  t->abort();
  run_ready_pass(loop);
  std::vector<std::string> messages;
  for (const auto& c : contexts) messages.push_back(c.message.value_or(""));
  EXPECT_EQ(messages, (std::vector<std::string>{"Exception in callback Proto.connection_made()",
                                                "Exception in callback _UnixWritePipeTransport._call_connection_lost()"}));
}

TEST_F(WritePipe, HandleLabelsShowTheArgumentsInDebugMode) {
  loop.set_debug(true);
  proto->throw_on_made = std::make_exception_ptr(RuntimeError("made failed"));
  sys.refuse_add = EPERM;  // the deferred _add_reader fails too
  connect();
  sys.refuse_add = 0;
  t->close();
  t->abort();
  run_ready_pass(loop);
  std::vector<std::string> messages;
  for (const auto& c : contexts) messages.push_back(c.message.value_or(""));
  EXPECT_EQ(messages,
            (std::vector<std::string>{
                "Exception in callback Proto.connection_made(<_UnixWritePi...dle bufsize=0>)",
                "Exception in callback BaseSelectorEventLoop._add_reader(" + std::to_string(w) +
                    ", <bound method...le bufsize=0>>)",
                "Exception in callback _UnixWritePipeTransport._call_connection_lost(None)"}));
}

TEST_F(WritePipe, RaisingConnectionLostStillClosesThePipe) {
  connect();
  proto->throw_on_lost = std::make_exception_ptr(RuntimeError("lost failed"));
  t->close();
  run_ready_pass(loop);
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(format_exception_only(contexts[0].exception), "RuntimeError: lost failed");
  EXPECT_FALSE(t->pipe_open());
  EXPECT_EQ(t->get_protocol(), nullptr);
  char c;
  EXPECT_EQ(::read(r, &c, 1), 0);
}

TEST_F(WritePipe, AbortAfterConnectionLostRaisesAttributeError) {
  connect();
  t->close();
  run_ready_pass(loop);
  EXPECT_EQ(raised([&] { t->abort(); }), "AttributeError: 'NoneType' object has no attribute '_remove_reader'");
}

// ---- flow control ------------------------------------------------------------------------

TEST_F(WritePipe, DefaultLimitsAndValidation) {
  connect();
  EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{16384, 65536}));
  EXPECT_EQ(raised([&] { t->set_write_buffer_limits(1, 5); }), "ValueError: high (1) must be >= low (5) must be >= 0");
  EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{16384, 65536}));
  t->set_write_buffer_limits(std::nullopt, 100);
  EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{100, 400}));
  t->set_write_buffer_limits(1000);
  EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{250, 1000}));
  t->set_write_buffer_limits(0, 0);
  EXPECT_EQ(t->get_write_buffer_limits(), (std::pair<std::size_t, std::size_t>{0, 0}));
}

TEST_F(WritePipe, PausesOnlyAboveHighAndOnce) {
  connect();
  t->set_write_buffer_limits(10);
  sys.fail(EAGAIN);
  t->write(bytes(std::string(10, 'a')));
  EXPECT_FALSE(t->protocol_paused());
  t->write(bytes("b"));
  EXPECT_TRUE(t->protocol_paused());
  t->write(bytes(std::string(100, 'c')));
  int pauses = 0;
  for (auto& e : proto->events) pauses += e == "pause_writing";
  EXPECT_EQ(pauses, 1);
}

TEST_F(WritePipe, ResumesOnlyWhenTheBufferEmpties) {
  connect();
  t->set_write_buffer_limits(10, 5);
  sys.fail(EAGAIN);
  t->write(bytes(std::string(20, 'a')));
  sys.take(14);  // 6 left: above low, and the pipe transport only resumes once empty anyway
  run_ready_pass(loop);
  EXPECT_TRUE(t->protocol_paused());
  sys.take(2);  // 4 left: at or below low, but still not empty
  run_ready_pass(loop);
  EXPECT_TRUE(t->protocol_paused());
  run_ready_pass(loop);
  EXPECT_FALSE(t->protocol_paused());
  EXPECT_EQ(proto->events.back(), "resume_writing");
}

TEST_F(WritePipe, LoweringLimitsPausesAtOnceRaisingThemNeverResumes) {
  connect();
  sys.fail(EAGAIN);
  t->write(bytes(std::string(100, 'a')));
  t->set_write_buffer_limits(0);
  EXPECT_EQ(proto->events.back(), "pause_writing");
  t->set_write_buffer_limits(1000);
  EXPECT_TRUE(t->protocol_paused());
  EXPECT_EQ(proto->events.back(), "pause_writing");
}

TEST_F(WritePipe, RaisingPauseAndResumeGoToTheExceptionHandler) {
  connect();
  proto->throw_on_pause = std::make_exception_ptr(RuntimeError("pause failed"));
  proto->throw_on_resume = std::make_exception_ptr(RuntimeError("resume failed"));
  t->set_write_buffer_limits(10);
  sys.fail(EAGAIN);
  t->write(bytes(std::string(100, 'a')));
  ASSERT_EQ(contexts.size(), 1u);
  EXPECT_EQ(contexts[0].message, "protocol.pause_writing() failed");
  EXPECT_EQ(contexts[0].keys(), (std::vector<std::string>{"exception", "message", "protocol", "transport"}));
  EXPECT_TRUE(t->protocol_paused());
  run_ready_pass(loop);
  ASSERT_EQ(contexts.size(), 2u);
  EXPECT_EQ(contexts[1].message, "protocol.resume_writing() failed");
  EXPECT_EQ(format_exception_only(contexts[1].exception), "RuntimeError: resume failed");
  EXPECT_FALSE(t->protocol_paused());
}

TEST_F(WritePipe, SystemExitFromPauseWritingPropagates) {
  connect();
  proto->throw_on_pause = std::make_exception_ptr(SystemExit(3));
  t->set_write_buffer_limits(1);
  sys.fail(EAGAIN);
  EXPECT_THROW(t->write(bytes("abc")), SystemExit);
  EXPECT_TRUE(contexts.empty());
}

TEST_F(WritePipe, ResumeWritingMayWriteAgain) {
  connect();
  t->set_write_buffer_limits(1);
  sys.fail(EAGAIN);
  t->write(bytes("abc"));
  proto->on_resume = [this] { t->write(bytes("def")); };
  run_ready_pass(loop);
  EXPECT_EQ(read_all(), "abcdef");
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
}

// ---- repr, warning, connect_write_pipe ----------------------------------------------------

TEST_F(WritePipe, ReprInEachState) {
  connect();
  std::string fd = std::to_string(w);
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport fd=" + fd + " idle bufsize=0>");
  sys.fail(EAGAIN);
  t->write(bytes("abcde"));
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport fd=" + fd + " polling bufsize=5>");
  t->close();
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport closing fd=" + fd + " polling bufsize=5>");
  run_ready_pass(loop);
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport closed fd=" + fd + " closed>");
}

TEST_F(WritePipe, ReprSaysOpenOnceTheLoopIsClosed) {
  connect();
  loop.close();
  EXPECT_EQ(t->repr(), "<_UnixWritePipeTransport fd=" + std::to_string(w) + " open>");
  t.reset();  // unclosed: warns and closes the fd
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].category, "ResourceWarning");
  EXPECT_EQ(warnings[0].message, "unclosed transport <_UnixWritePipeTransport fd=" + std::to_string(w) + " open>");
}

TEST_F(WritePipe, UnclosedTransportWarnsWhenDestroyed) {
  int f = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(f, 0);
  auto dev = UnixWritePipeTransport::create(loop, f, proto);
  run_ready_pass(loop);
  dev.reset();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].message, "unclosed transport <_UnixWritePipeTransport fd=" + std::to_string(f) + " idle bufsize=0>");
  EXPECT_EQ(::fcntl(f, F_GETFD), -1);  // closed
}

TEST_F(WritePipe, ClosedTransportDoesNotWarn) {
  connect();
  t->close();
  run_ready_pass(loop);
  t.reset();
  EXPECT_TRUE(warnings.empty());
}

TEST_F(WritePipe, ConnectWritePipeCompletesAfterConnectionMade) {
  loop.set_debug(true);
  auto f = loop.connect_write_pipe([this] { return proto; }, w);
  w_taken = true;
  EXPECT_FALSE(f.done());
  ASSERT_TRUE(run_until(loop, [&] { return f.done(); }));
  auto [transport, protocol] = f.result();
  t = transport;
  EXPECT_EQ(protocol, proto);
  EXPECT_EQ(proto->events, std::vector<std::string>{"connection_made"});
  bool logged = false;
  for (const auto& rec : log.logger->records())
    if (rec.message == "Write pipe " + std::to_string(w) + " connected: (" + t->repr() + ", <Proto>)") logged = true;
  EXPECT_TRUE(logged);
}

TEST_F(WritePipe, ConnectWritePipeFailsWithTheCreationError) {
  char path[] = "/tmp/loopcheck-wpXXXXXX";
  int f = ::mkstemp(path);
  ASSERT_GE(f, 0);
  ::unlink(path);
  auto fut = loop.connect_write_pipe([this] { return proto; }, f);
  ASSERT_TRUE(fut.done());
  EXPECT_EQ(raised([&] { fut.result(); }), "ValueError: Pipe transport is only for pipes, sockets and character devices");
  ::close(f);
}

TEST(FlowControl, ProtocolReprDefaultsToPythonsObjectRepr) {
  Protocol p;
  std::string text = protocol_repr(&p);
  EXPECT_EQ(text.rfind("<loopcheck::Protocol object at 0x", 0), 0u) << text;
  EXPECT_EQ(protocol_repr(nullptr), "None");
}

}  // namespace
