// UnixReadPipeTransport and loop.connect_read_pipe, by behaviour after CPython's
// test_unix_events.UnixReadPipeTransportTests, on real pipes, with read errors injected
// through the syscall layer.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "loopcheck/unix_read_pipe_transport.hpp"
#include "loopcheck/warnings.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

using test::CapturedLog;
using test::Pipe;
using test::raised;

// Records each protocol call as text: "made", "data:<bytes>", "eof", "lost:None" or
// "lost:<Type: message>".
struct TestProtocol : Protocol {
  std::vector<std::string> calls;
  bool eof_result = false;
  std::function<void()> on_made;
  std::function<void()> on_data;
  std::function<void()> on_lost;

  void connection_made(BaseTransport&) override {
    calls.push_back("made");
    if (on_made) on_made();
  }
  void data_received(std::span<const std::byte> data) override {
    calls.push_back("data:" + std::string(reinterpret_cast<const char*>(data.data()), data.size()));
    if (on_data) on_data();
  }
  bool eof_received() override {
    calls.push_back("eof");
    return eof_result;
  }
  void connection_lost(std::exception_ptr exc) override {
    calls.push_back("lost:" + (exc ? format_exception_only(exc) : std::string("None")));
    if (on_lost) on_lost();
  }
};

// Keeps every warning for the test's lifetime.
struct CapturedWarnings {
  std::vector<WarningRecord> records;
  ScopedWarningHandler scope{[this](const WarningRecord& w) { records.push_back(w); }};
};

// Keeps every context given to the loop's exception handler.
struct CapturedContexts {
  std::vector<ExceptionContext> contexts;
  explicit CapturedContexts(EventLoop& loop) {
    loop.set_exception_handler([this](EventLoop&, const ExceptionContext& c) { contexts.push_back(c); });
  }
};

// read() of one fd fails with `err`; every other call is real.
struct FailingRead : RealSyscalls {
  int fd = -1;
  int err = 0;
  ssize_t read(int f, void* buf, size_t count) override {
    if (f == fd) {
      errno = err;
      return -1;
    }
    return RealSyscalls::read(f, buf, count);
  }
};

bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

// One pass that cannot block: a queued no-op makes the pass poll with a zero timeout, so
// it handles exactly the I/O that is ready now (run_once alone waits forever when nothing
// is ready and no timer exists).
void run_ready_pass(EventLoop& loop) {
  loop.call_soon([] {}, Label("noop()"));
  loop.run_once();
}

bool reader_registered(const EventLoop& loop, int fd) { return (loop.selector().get_events(fd) & EVENT_READ) != 0; }

void write_all(int fd, const std::string& data) {
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
}

class ReadPipeTransportTest : public testing::Test {
 protected:
  // The transport on the pipe's read end (which it now owns), after the pass that runs
  // connection_made and registers the reader.
  std::shared_ptr<UnixReadPipeTransport> make(bool run = true) {
    auto t = UnixReadPipeTransport::create(loop, pipe.r, protocol);
    pipe.r = -1;
    if (run) run_ready_pass(loop);
    return t;
  }
  // Runs passes until the protocol saw `n` calls (with a deadline).
  bool run_until_calls(std::size_t n) {
    return test::run_until(loop, [&] { return protocol->calls.size() >= n; });
  }

  Pipe pipe;
  EventLoop loop;
  std::shared_ptr<TestProtocol> protocol = std::make_shared<TestProtocol>();
};

TEST_F(ReadPipeTransportTest, CtorQueuesConnectionMadeThenReaderThenWaiter) {
  Future<void> waiter = loop.create_future<void>();
  int fd = pipe.r;
  auto t = UnixReadPipeTransport::create(loop, fd, protocol, waiter);
  pipe.r = -1;
  EXPECT_TRUE(protocol->calls.empty());
  EXPECT_FALSE(reader_registered(loop, fd));
  EXPECT_EQ(loop.ready_count(), 3u);
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  EXPECT_TRUE(reader_registered(loop, fd));
  EXPECT_TRUE(waiter.done());
  EXPECT_NO_THROW(waiter.result());
  EXPECT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, RegularFileIsRefusedAndLeftOpen) {
  char path[] = "/tmp/loopcheck-read-pipe-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  EXPECT_EQ(raised([&] { UnixReadPipeTransport::create(loop, fd, protocol); }),
            "ValueError: Pipe transport is for pipes/sockets only.");
  EXPECT_TRUE(fd_is_open(fd));
  EXPECT_EQ(loop.ready_count(), 0u);
  close(fd);
}

TEST_F(ReadPipeTransportTest, ClosedFdRaisesEbadf) {
  int fd = pipe.r;
  close(fd);
  pipe.r = -1;
  EXPECT_EQ(raised([&] { UnixReadPipeTransport::create(loop, fd, protocol); }),
            "OSError: [Errno 9] Bad file descriptor");
}

TEST_F(ReadPipeTransportTest, SocketAndCharacterDeviceAreAccepted) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto t = UnixReadPipeTransport::create(loop, sv[0], protocol);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  auto other = std::make_shared<TestProtocol>();
  auto d = UnixReadPipeTransport::create(loop, devnull, other);
  CapturedContexts handler(loop);
  run_ready_pass(loop);
  EXPECT_TRUE(reader_registered(loop, sv[0]));
  // epoll refuses /dev/null: the reader registration fails inside its callback.
  EXPECT_FALSE(reader_registered(loop, devnull));
  ASSERT_EQ(handler.contexts.size(), 1u);
  EXPECT_EQ(handler.contexts[0].message.value_or(""), "Exception in callback _UnixReadPipeTransport._add_reader()");
  EXPECT_EQ(format_exception_only(handler.contexts[0].exception), "PermissionError: [Errno 1] Operation not permitted");
  EXPECT_FALSE(d->is_closing());
  t->close();
  d->close();
  run_ready_pass(loop);
  close(sv[1]);
}

TEST_F(ReadPipeTransportTest, ReadReadyDeliversData) {
  auto t = make();
  write_all(pipe.w, "data");
  ASSERT_TRUE(run_until_calls(2));
  EXPECT_EQ(protocol->calls[1], "data:data");
  EXPECT_FALSE(t->is_closing());
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, EofClosesAtOnceThenEofReceivedAndConnectionLostWhateverItReturns) {
  protocol->eof_result = true;
  auto t = make();
  int fd = t->fileno();
  close(pipe.w);
  pipe.w = -1;
  test::run_until(loop, [&] { return t->is_closing(); });
  EXPECT_TRUE(t->is_closing());
  EXPECT_FALSE(reader_registered(loop, fd));
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, (std::vector<std::string>{"made", "eof", "lost:None"}));
  EXPECT_EQ(t->fileno(), -1);
  EXPECT_FALSE(fd_is_open(fd));
  EXPECT_EQ(t->get_protocol(), nullptr);
}

TEST_F(ReadPipeTransportTest, BlockedReadDoesNothing) {
  auto t = make();
  FailingRead fail;
  fail.fd = t->fileno();
  fail.err = EAGAIN;
  ScopedSyscalls scope(fail);
  write_all(pipe.w, "x");
  run_ready_pass(loop);
  fail.err = EINTR;
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  EXPECT_FALSE(t->is_closing());
  EXPECT_TRUE(reader_registered(loop, fail.fd));
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, ReadErrorGoesToTheExceptionHandlerAndCloses) {
  CapturedContexts handler(loop);
  auto t = make();
  int fd = t->fileno();
  {
    FailingRead fail;
    fail.fd = fd;
    fail.err = ECONNRESET;
    ScopedSyscalls scope(fail);
    write_all(pipe.w, "x");
    run_ready_pass(loop);
  }
  ASSERT_EQ(handler.contexts.size(), 1u);
  const ExceptionContext& c = handler.contexts[0];
  EXPECT_EQ(c.message.value_or(""), "Fatal read error on pipe transport");
  EXPECT_EQ(format_exception_only(c.exception), "ConnectionResetError: [Errno 104] Connection reset by peer");
  EXPECT_EQ(c.keys(), (std::vector<std::string>{"exception", "message", "protocol", "transport"}));
  EXPECT_EQ(c.get("transport").value_or(""), "<_UnixReadPipeTransport fd=" + std::to_string(fd) + " polling>");
  EXPECT_TRUE(t->is_closing());
  EXPECT_FALSE(reader_registered(loop, fd));
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls,
            (std::vector<std::string>{"made", "lost:ConnectionResetError: [Errno 104] Connection reset by peer"}));
  EXPECT_FALSE(fd_is_open(fd));
}

TEST_F(ReadPipeTransportTest, EioIsOnlyLoggedInDebugMode) {
  CapturedContexts handler(loop);
  CapturedLog log;
  loop.set_debug(true);
  auto t = make();
  int fd = t->fileno();
  {
    FailingRead fail;
    fail.fd = fd;
    fail.err = EIO;
    ScopedSyscalls scope(fail);
    write_all(pipe.w, "x");
    run_ready_pass(loop);
  }
  EXPECT_TRUE(handler.contexts.empty());
  bool logged = false;
  for (const LogRecord& r : log.logger->records())
    if (r.level == LogLevel::DEBUG &&
        r.message == "<_UnixReadPipeTransport fd=" + std::to_string(fd) + " polling>: Fatal read error on pipe transport")
      logged = r.exc_text == "OSError: [Errno 5] Input/output error";
  EXPECT_TRUE(logged);
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, (std::vector<std::string>{"made", "lost:OSError: [Errno 5] Input/output error"}));
}

TEST_F(ReadPipeTransportTest, PauseAndResumeReading) {
  auto t = make();
  int fd = t->fileno();
  EXPECT_TRUE(t->is_reading());
  t->pause_reading();
  EXPECT_FALSE(t->is_reading());
  EXPECT_FALSE(reader_registered(loop, fd));
  t->pause_reading();  // redundant: nothing
  write_all(pipe.w, "held");
  run_ready_pass(loop);  // the data is ready, but no reader is registered
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  t->resume_reading();
  EXPECT_TRUE(t->is_reading());
  EXPECT_TRUE(reader_registered(loop, fd));
  t->resume_reading();  // redundant: nothing
  ASSERT_TRUE(run_until_calls(2));
  EXPECT_EQ(protocol->calls[1], "data:held");
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, PauseAndResumeAreNoOpsOnAClosingTransport) {
  auto t = make();
  int fd = t->fileno();
  t->close();
  t->resume_reading();
  EXPECT_FALSE(reader_registered(loop, fd));
  t->pause_reading();
  EXPECT_FALSE(t->is_reading());
  run_ready_pass(loop);
  // Closed pipe: the loop is forgotten too, and both calls still do nothing.
  t->pause_reading();
  t->resume_reading();
  EXPECT_EQ(protocol->calls, (std::vector<std::string>{"made", "lost:None"}));
}

TEST_F(ReadPipeTransportTest, PausedTransportStaysClosedOnResumeAfterClose) {
  auto t = make();
  t->pause_reading();
  t->close();
  t->resume_reading();
  EXPECT_FALSE(t->is_reading());
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, (std::vector<std::string>{"made", "lost:None"}));
}

TEST_F(ReadPipeTransportTest, PauseReadingInConnectionMadeKeepsTheReaderOff) {
  std::shared_ptr<UnixReadPipeTransport> t;
  protocol->on_made = [&] { t->pause_reading(); };
  t = make(false);
  int fd = t->fileno();
  write_all(pipe.w, "waiting");
  run_ready_pass(loop);
  EXPECT_FALSE(reader_registered(loop, fd));
  run_ready_pass(loop);
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  t->resume_reading();
  ASSERT_TRUE(run_until_calls(2));
  EXPECT_EQ(protocol->calls[1], "data:waiting");
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, CloseLosesTheConnectionOnceInTheNextPass) {
  auto t = make();
  int fd = t->fileno();
  write_all(pipe.w, "never");
  t->close();
  EXPECT_TRUE(t->is_closing());
  EXPECT_FALSE(reader_registered(loop, fd));
  t->close();
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  run_ready_pass(loop);
  run_ready_pass(loop);  // nothing more: connection_lost ran once
  EXPECT_EQ(protocol->calls, (std::vector<std::string>{"made", "lost:None"}));
  EXPECT_FALSE(fd_is_open(fd));
}

TEST_F(ReadPipeTransportTest, RaisingConnectionLostStillClosesThePipe) {
  CapturedContexts handler(loop);
  protocol->on_lost = [] { throw ValueError("in connection_lost"); };
  auto t = make();
  int fd = t->fileno();
  t->close();
  run_ready_pass(loop);
  ASSERT_EQ(handler.contexts.size(), 1u);
  EXPECT_EQ(handler.contexts[0].message.value_or(""),
            "Exception in callback _UnixReadPipeTransport._call_connection_lost()");
  EXPECT_FALSE(fd_is_open(fd));
  EXPECT_EQ(t->fileno(), -1);
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport closed fd=" + std::to_string(fd) + " closed>");
}

TEST_F(ReadPipeTransportTest, RaisingDataReceivedIsNotFatal) {
  CapturedContexts handler(loop);
  protocol->on_data = [] { throw ValueError("in data_received"); };
  auto t = make();
  write_all(pipe.w, "one");
  ASSERT_TRUE(run_until_calls(2));
  ASSERT_EQ(handler.contexts.size(), 1u);
  EXPECT_EQ(handler.contexts[0].message.value_or(""), "Exception in callback _UnixReadPipeTransport._read_ready()");
  EXPECT_FALSE(t->is_closing());
  write_all(pipe.w, "two");
  ASSERT_TRUE(run_until_calls(3));
  EXPECT_EQ(protocol->calls[2], "data:two");
  t->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, ReprInEachState) {
  auto t = make();
  std::string fd = std::to_string(t->fileno());
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport fd=" + fd + " polling>");
  t->pause_reading();
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport fd=" + fd + " idle>");
  t->close();
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport closing fd=" + fd + " idle>");
  run_ready_pass(loop);
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport closed fd=" + fd + " closed>");
}

TEST_F(ReadPipeTransportTest, ReprSaysOpenOnceTheLoopIsClosed) {
  CapturedWarnings warnings;
  auto t = make();
  std::string fd = std::to_string(t->fileno());
  loop.close();
  EXPECT_EQ(t->repr(), "<_UnixReadPipeTransport fd=" + fd + " open>");
  // close() on a closed loop fails after marking the transport closing.
  EXPECT_EQ(raised([&] { t->close(); }), "RuntimeError: Event loop is closed");
  EXPECT_TRUE(t->is_closing());
  t.reset();
  ASSERT_EQ(warnings.records.size(), 1u);
  EXPECT_EQ(warnings.records[0].category, "ResourceWarning");
  EXPECT_EQ(warnings.records[0].message, "unclosed transport <_UnixReadPipeTransport closing fd=" + fd + " open>");
}

TEST_F(ReadPipeTransportTest, UnclosedTransportWarnsAndClosesItsPipe) {
  CapturedWarnings warnings;
  auto t = make();
  int fd = t->fileno();
  t->pause_reading();  // the loop lets go of it
  t.reset();
  ASSERT_EQ(warnings.records.size(), 1u);
  EXPECT_EQ(warnings.records[0].message, "unclosed transport <_UnixReadPipeTransport fd=" + std::to_string(fd) + " idle>");
  EXPECT_FALSE(fd_is_open(fd));
}

TEST_F(ReadPipeTransportTest, ClosedTransportDoesNotWarn) {
  CapturedWarnings warnings;
  auto t = make();
  t->close();
  run_ready_pass(loop);
  t.reset();
  EXPECT_TRUE(warnings.records.empty());
}

TEST_F(ReadPipeTransportTest, ExtraInfoPipeAndSetProtocol) {
  auto t = make();
  int fd = t->fileno();
  EXPECT_EQ(std::any_cast<int>(t->get_extra_info("pipe")), fd);
  EXPECT_FALSE(t->get_extra_info("socket").has_value());
  EXPECT_EQ(t->get_protocol(), protocol);
  auto second = std::make_shared<TestProtocol>();
  t->set_protocol(second);
  EXPECT_EQ(t->get_protocol(), second);
  write_all(pipe.w, "for p2");
  close(pipe.w);
  pipe.w = -1;
  ASSERT_TRUE(test::run_until(loop, [&] { return second->calls.size() >= 3; }));
  EXPECT_EQ(second->calls, (std::vector<std::string>{"data:for p2", "eof", "lost:None"}));
  EXPECT_EQ(protocol->calls, std::vector<std::string>{"made"});
  EXPECT_EQ(std::any_cast<int>(t->get_extra_info("pipe")), fd);  // kept after close, like _extra
}

TEST_F(ReadPipeTransportTest, DebugModeLogsPausesResumesAndPeerClose) {
  CapturedLog log;
  loop.set_debug(true);
  auto t = make();
  std::string fd = std::to_string(t->fileno());
  t->pause_reading();
  t->resume_reading();
  close(pipe.w);
  pipe.w = -1;
  ASSERT_TRUE(run_until_calls(3));
  std::vector<std::string> messages;
  for (const LogRecord& r : log.logger->records())
    if (r.message.find("_UnixReadPipeTransport") != std::string::npos)
      messages.push_back(std::string(log_level_name(r.level)) + " " + r.message);
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "DEBUG <_UnixReadPipeTransport fd=" + fd + " idle> pauses reading",
                          "DEBUG <_UnixReadPipeTransport fd=" + fd + " polling> resumes reading",
                          "INFO <_UnixReadPipeTransport fd=" + fd + " polling> was closed by peer",
                      }));
}

TEST_F(ReadPipeTransportTest, ConnectReadPipeCompletesAfterConnectionMade) {
  CapturedLog log;
  loop.set_debug(true);
  int fd = pipe.r;
  pipe.r = -1;
  bool made_before_done = false;
  auto future = loop.connect_read_pipe([this] { return protocol; }, fd);
  protocol->on_made = [&] { made_before_done = !future.done(); };
  auto [transport, proto] = loop.run_until_complete(future);
  EXPECT_TRUE(made_before_done);
  EXPECT_EQ(proto, protocol);
  EXPECT_EQ(transport->fileno(), fd);
  EXPECT_EQ(transport->get_protocol(), protocol);
  bool logged = false;
  for (const LogRecord& r : log.logger->records())
    logged = logged || r.message.rfind("Read pipe " + std::to_string(fd) + " connected: (<_UnixReadPipeTransport fd=" +
                                           std::to_string(fd) + " polling>, <",
                                       0) == 0;
  EXPECT_TRUE(logged);
  transport->close();
  run_ready_pass(loop);
}

TEST_F(ReadPipeTransportTest, ConnectReadPipeFailsWithTheCreationError) {
  char path[] = "/tmp/loopcheck-read-pipe-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  auto future = loop.connect_read_pipe([this] { return protocol; }, fd);
  EXPECT_EQ(raised([&] { loop.run_until_complete(future); }),
            "ValueError: Pipe transport is for pipes/sockets only.");
  close(fd);
}

TEST_F(ReadPipeTransportTest, CreatingOnAClosedLoopWarnsAndClosesTheFd) {
  CapturedWarnings warnings;
  int fd = pipe.r;
  pipe.r = -1;
  loop.close();
  EXPECT_EQ(raised([&] { UnixReadPipeTransport::create(loop, fd, protocol); }), "RuntimeError: Event loop is closed");
  EXPECT_FALSE(fd_is_open(fd));
  ASSERT_EQ(warnings.records.size(), 1u);
  EXPECT_EQ(warnings.records[0].message, "unclosed transport <_UnixReadPipeTransport fd=" + std::to_string(fd) + " open>");
}

}  // namespace
}  // namespace loopcheck
