// loop.sendfile on transports, by behaviour from CPython's base_events.sendfile,
// _sendfile_fallback, _SendfileFallbackProtocol and selector_events._sendfile_native: the
// refusals and their messages, the native path on the socket transport (buffer drained
// first, reading paused, fd table and waiter restored), and the fallback's blocks, flow
// control, file position, protocol swap, errors and cancellation.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/exception_context.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/loop_sendfile.hpp"
#include "loopcheck/selector_socket_transport.hpp"
#include "loopcheck/sock_sendfile.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::raised;
using loopcheck::test::run_until;

namespace {

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + i % 26);
  return out;
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span<const char>(s)); }

// A temporary regular file holding `data` (unlinked at once).
std::shared_ptr<FdFile> temp_file(const std::string& data) {
  char path[] = "/tmp/loopcheck-loop-sendfile-XXXXXX";
  int w = ::mkstemp(path);
  EXPECT_GE(w, 0);
  EXPECT_EQ(::write(w, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(w);
  auto f = FdFile::open(path, "rb");
  ::unlink(path);
  return f;
}

struct Recording : Protocol {
  std::vector<std::string> events;
  void connection_lost(std::exception_ptr exc) override {
    events.push_back(exc ? "lost:" + format_exception_only(exc) : "lost:None");
  }
  void resume_writing() override { events.push_back("resume"); }
};

// A transport under the test's control: writes land in `written` (one entry per write) and
// in the flow-control buffer until drain() empties it.
class FakeTransport final : public ReadTransport, public FlowControlMixin {
 public:
  FakeTransport(EventLoop& loop, SendfileMode mode) : FlowControlMixin(&loop), mode_(mode) {}
  SendfileMode sendfile_compatible() const override { return mode_; }
  std::any get_extra_info(std::string_view) const override { return {}; }
  bool is_closing() const override { return closing_; }
  void close() override { closing_ = true; }
  void set_protocol(std::shared_ptr<BaseProtocol> p) override { protocol_ = std::move(p); }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }
  std::string repr() const override { return "<FakeTransport>"; }
  bool is_reading() const override { return reading_; }
  void pause_reading() override { reading_ = false; }
  void resume_reading() override { reading_ = true; }
  std::size_t get_write_buffer_size() const override { return buffered_; }
  void write(std::span<const std::byte> data) override {
    written.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
    buffered_ += data.size();
    maybe_pause_protocol();
  }
  void write_eof() override {}
  bool can_write_eof() const override { return true; }
  void abort() override { closing_ = true; }

  // The peer took everything: the protocol may resume.
  void drain() {
    buffered_ = 0;
    maybe_resume_protocol();
  }
  std::string data() const {
    std::string out;
    for (const auto& w : written) out += w;
    return out;
  }

  std::vector<std::string> written;

 private:
  SendfileMode mode_;
  std::shared_ptr<BaseProtocol> protocol_;
  bool closing_ = false;
  bool reading_ = true;
  std::size_t buffered_ = 0;
};

// n passes that never block: a ready no-op makes each pass poll without waiting.
void spin(EventLoop& loop, int n) {
  for (int i = 0; i < n; ++i) {
    loop.call_soon([] {});
    loop.run_once();
  }
}

// Waits for `fut`; "" when it has a result, else "Type: message" (or "cancelled").
template <class T>
std::string outcome(EventLoop& loop, Future<T>& fut) {
  if (!run_until(loop, [&] { return fut.done(); })) return "timeout";
  if (fut.cancelled()) return "cancelled";
  return raised([&] { fut.result(); });
}

// ---- refusals --------------------------------------------------------------------------------

class LoopSendfileRefusalTest : public ::testing::Test {
 protected:
  EventLoop loop;
  std::shared_ptr<BytesFile> file = std::make_shared<BytesFile>(pattern(10));
};

TEST_F(LoopSendfileRefusalTest, AClosingTransportIsRefused) {
  auto t = std::make_shared<FakeTransport>(loop, SendfileMode::TryNative);
  t->close();
  auto fut = loop.sendfile(t, file);
  EXPECT_EQ(outcome(loop, fut), "RuntimeError: Transport is closing");
}

TEST_F(LoopSendfileRefusalTest, ATransportWithoutSendfileSupportIsRefused) {
  auto t = std::make_shared<FakeTransport>(loop, SendfileMode::Unsupported);
  auto fut = loop.sendfile(t, file);
  EXPECT_EQ(outcome(loop, fut), "RuntimeError: sendfile is not supported for transport <FakeTransport>");
  EXPECT_TRUE(t->written.empty());
}

TEST_F(LoopSendfileRefusalTest, AFallbackOnlyTransportWithoutFallbackIsRefused) {
  auto t = std::make_shared<FakeTransport>(loop, SendfileMode::Fallback);
  auto fut = loop.sendfile(t, file, 0, std::nullopt, /*fallback=*/false);
  EXPECT_EQ(outcome(loop, fut),
            "RuntimeError: fallback is disabled and native sendfile is not supported for transport <FakeTransport>");
}

TEST_F(LoopSendfileRefusalTest, NativeOnATransportOtherThanTheSocketOneIsNotAvailable) {
  auto t = std::make_shared<FakeTransport>(loop, SendfileMode::TryNative);
  auto fut = loop.sendfile(t, file, 0, std::nullopt, /*fallback=*/false);
  EXPECT_EQ(outcome(loop, fut), "SendfileNotAvailableError: sendfile syscall is not supported");
  auto with_fallback = loop.sendfile(t, file);
  EXPECT_EQ(outcome(loop, with_fallback), "");
  EXPECT_EQ(with_fallback.result(), 10u);
}

// A transport that is not a FlowControlMixin cannot take the fallback protocol.
class PlainTransport final : public BaseTransport {
 public:
  SendfileMode sendfile_compatible() const override { return SendfileMode::Fallback; }
  std::any get_extra_info(std::string_view) const override { return {}; }
  bool is_closing() const override { return false; }
  void close() override {}
  void set_protocol(std::shared_ptr<BaseProtocol>) override {}
  std::shared_ptr<BaseProtocol> get_protocol() const override { return nullptr; }
  std::string repr() const override { return "<PlainTransport>"; }
};

TEST_F(LoopSendfileRefusalTest, TheFallbackNeedsAFlowControlTransport) {
  auto fut = loop.sendfile(std::make_shared<PlainTransport>(), file);
  EXPECT_EQ(outcome(loop, fut), "TypeError: transport should be _FlowControlMixin instance");
}

// ---- the fallback ----------------------------------------------------------------------------

class LoopSendfileFallbackTest : public ::testing::Test {
 protected:
  EventLoop loop;
  std::shared_ptr<Recording> proto = std::make_shared<Recording>();
  std::shared_ptr<FakeTransport> t = std::make_shared<FakeTransport>(loop, SendfileMode::Fallback);
  void SetUp() override { t->set_protocol(proto); }
};

TEST_F(LoopSendfileFallbackTest, WritesTheFileInBlocksOf16KiBAndMovesThePosition) {
  auto file = std::make_shared<BytesFile>(pattern(40000));
  t->set_write_buffer_limits(1 << 20);  // no pause
  auto fut = loop.sendfile(t, file);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 40000u);
  EXPECT_EQ(t->written, (std::vector<std::string>{pattern(40000).substr(0, 16384), pattern(40000).substr(16384, 16384),
                                                  pattern(40000).substr(32768)}));
  EXPECT_EQ(file->tell(), 40000);
}

TEST_F(LoopSendfileFallbackTest, OffsetAndCountSendASlice) {
  auto file = std::make_shared<BytesFile>(pattern(40000));
  t->set_write_buffer_limits(1 << 20);
  auto fut = loop.sendfile(t, file, 5, 20000);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 20000u);
  EXPECT_EQ(t->written.size(), 2u);
  EXPECT_EQ(t->data(), pattern(40000).substr(5, 20000));
  EXPECT_EQ(file->tell(), 20005);
}

TEST_F(LoopSendfileFallbackTest, AnEmptyFileSendsNothingAndKeepsThePosition) {
  auto file = std::make_shared<BytesFile>(std::string());
  auto fut = loop.sendfile(t, file);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 0u);
  EXPECT_TRUE(t->written.empty());
}

TEST_F(LoopSendfileFallbackTest, SwapsTheProtocolAndPausesReadingUntilItIsDone) {
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(100)));
  EXPECT_NE(std::dynamic_pointer_cast<SendfileFallbackProtocol>(t->get_protocol()), nullptr);
  EXPECT_FALSE(t->is_reading());
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(t->get_protocol(), proto);
  EXPECT_TRUE(t->is_reading());
}

TEST_F(LoopSendfileFallbackTest, WaitsWhileTheTransportIsAboveItsHighWaterMark) {
  t->set_write_buffer_limits(1000, 0);
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(40000)));
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 1; }));
  spin(loop, 5);  // paused: nothing more is written
  EXPECT_EQ(t->written.size(), 1u);
  t->drain();
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 2; }));
  t->drain();
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 3; }));
  t->drain();
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 40000u);
  EXPECT_TRUE(proto->events.empty());  // the original protocol was not paused, so not resumed
}

TEST_F(LoopSendfileFallbackTest, APausedProtocolIsResumedAfterwards) {
  t->set_write_buffer_limits(10, 0);
  t->write(bytes(pattern(100)));  // pauses `proto` (no pause_writing recorded by it)
  ASSERT_TRUE(t->protocol_paused());
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(50)));
  spin(loop, 5);
  EXPECT_EQ(t->written.size(), 1u);  // waits for the transport to resume
  t->drain();
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(t->data(), pattern(100) + pattern(50));
  EXPECT_EQ(proto->events, std::vector<std::string>{"resume"});
}

TEST_F(LoopSendfileFallbackTest, AClosingTransportEndsItWithConnectionError) {
  t->set_write_buffer_limits(1 << 20);
  auto file = std::make_shared<BytesFile>(pattern(40000));
  auto fut = loop.sendfile(t, file);
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 1; }));
  t->close();
  EXPECT_EQ(outcome(loop, fut), "ConnectionError: Connection closed by peer");
  EXPECT_EQ(file->tell(), 16384);  // what was sent
  EXPECT_EQ(t->get_protocol(), proto);
}

TEST_F(LoopSendfileFallbackTest, ALostConnectionWhilePausedFailsIt) {
  t->set_write_buffer_limits(1000, 0);
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(40000)));
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 1; }));
  t->get_protocol()->connection_lost(nullptr);
  EXPECT_EQ(outcome(loop, fut), "ConnectionError: Connection is closed by peer");
  EXPECT_EQ(proto->events, std::vector<std::string>{"lost:None"});
}

TEST_F(LoopSendfileFallbackTest, CancellingItMovesThePositionAndRestoresTheProtocol) {
  t->set_write_buffer_limits(1000, 0);
  auto file = std::make_shared<BytesFile>(pattern(40000));
  auto fut = loop.sendfile(t, file);
  ASSERT_TRUE(run_until(loop, [&] { return t->written.size() == 1; }));
  fut.cancel();
  ASSERT_TRUE(run_until(loop, [&] { return t->get_protocol() == proto; }));
  EXPECT_EQ(file->tell(), 16384);
  EXPECT_TRUE(t->is_reading());
  t->drain();
  spin(loop, 3);
  EXPECT_EQ(t->written.size(), 1u);
}

TEST_F(LoopSendfileFallbackTest, TheFallbackProtocolRefusesReadsAndConnectionMade) {
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(10)));
  auto p = std::dynamic_pointer_cast<SendfileFallbackProtocol>(t->get_protocol());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(raised([&] { p->data_received(bytes("x")); }), "RuntimeError: Invalid state: reading should be paused");
  EXPECT_EQ(raised([&] { p->eof_received(); }), "RuntimeError: Invalid state: reading should be paused");
  EXPECT_EQ(raised([&] { p->connection_made(*t); }),
            "RuntimeError: Invalid state: connection should have been established already.");
  EXPECT_EQ(outcome(loop, fut), "");
}

// ---- the native path on the socket transport ----------------------------------------------

class LoopSendfileNativeTest : public ::testing::Test {
 protected:
  EventLoop loop;
  int peer = -1;
  std::shared_ptr<Recording> proto = std::make_shared<Recording>();
  std::shared_ptr<SelectorSocketTransport> t;
  std::string received;

  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peer = sv[1];
    t = SelectorSocketTransport::create(loop, sv[0], proto);
    loop.add_reader(peer, [this] { read_peer(); });
    spin(loop, 3);
  }
  void TearDown() override {
    loop.remove_reader(peer);
    if (t->socket_open()) {
      t->abort();
      run_until(loop, [&] { return !t->socket_open(); });
    }
    ::close(peer);
  }
  void read_peer() {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(peer, buf, sizeof buf)) > 0) received.append(buf, std::size_t(n));
  }
};

TEST_F(LoopSendfileNativeTest, SendsTheFileAndMovesThePosition) {
  auto file = temp_file(pattern(100000));
  auto fut = loop.sendfile(t, file);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 100000u);
  EXPECT_EQ(file->tell(), 100000);
  ASSERT_TRUE(run_until(loop, [&] { return received.size() == 100000; }));
  EXPECT_EQ(received, pattern(100000));
}

TEST_F(LoopSendfileNativeTest, AfterwardsTheTransportReadsWritesAndOwnsItsFdAgain) {
  auto fut = loop.sendfile(t, temp_file(pattern(10)));
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_TRUE(t->is_reading());
  EXPECT_EQ(raised([&] { t->write(bytes("after")); }), "");  // the empty waiter was reset
  EXPECT_NE(raised([&] { loop.add_reader(t->fileno(), [] {}); }).find("is used by transport"), std::string::npos);
  ASSERT_TRUE(run_until(loop, [&] { return received == pattern(10) + "after"; }));
}

TEST_F(LoopSendfileNativeTest, WaitsForTheWriteBufferToDrainFirst) {
  std::string big = pattern(2'000'000);
  t->write(bytes(big));  // far more than a socketpair takes at once
  ASSERT_GT(t->get_write_buffer_size(), 0u);
  auto fut = loop.sendfile(t, temp_file("FILE"));
  EXPECT_FALSE(t->is_reading());
  EXPECT_EQ(raised([&] { t->write(bytes("x")); }), "RuntimeError: unable to write; sendfile is in progress");
  ASSERT_EQ(outcome(loop, fut), "");
  ASSERT_TRUE(run_until(loop, [&] { return received.size() == big.size() + 4; }, 5000));
  EXPECT_EQ(received.substr(big.size()), "FILE");
}

TEST_F(LoopSendfileNativeTest, OffsetAndCountSendASlice) {
  auto file = temp_file(pattern(1000));
  auto fut = loop.sendfile(t, file, 10, 100);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 100u);
  EXPECT_EQ(file->tell(), 110);
  ASSERT_TRUE(run_until(loop, [&] { return received.size() == 100; }));
  EXPECT_EQ(received, pattern(1000).substr(10, 100));
}

TEST_F(LoopSendfileNativeTest, SockSendfileArgumentErrorsComeThroughAndTheTransportIsRestored) {
  auto file = temp_file(pattern(10));
  auto zero = loop.sendfile(t, file, 0, 0);
  EXPECT_EQ(outcome(loop, zero), "ValueError: count must be a positive integer (got 0)");
  auto negative = loop.sendfile(t, file, -1);
  EXPECT_EQ(outcome(loop, negative), "ValueError: offset must be a non-negative integer (got -1)");
  EXPECT_TRUE(t->is_reading());
  EXPECT_EQ(raised([&] { t->write(bytes("ok")); }), "");
}

TEST_F(LoopSendfileNativeTest, AFileWithoutFdIsNotAvailableWithoutFallback) {
  auto fut = loop.sendfile(t, std::make_shared<BytesFile>(pattern(10)), 0, std::nullopt, /*fallback=*/false);
  EXPECT_EQ(outcome(loop, fut), "SendfileNotAvailableError: not a regular file");
  EXPECT_TRUE(t->is_reading());
}

TEST_F(LoopSendfileNativeTest, AFileWithoutFdFallsBackToTransportWrites) {
  auto file = std::make_shared<BytesFile>(pattern(50000));
  auto fut = loop.sendfile(t, file);
  ASSERT_EQ(outcome(loop, fut), "");
  EXPECT_EQ(fut.result(), 50000u);
  EXPECT_EQ(file->tell(), 50000);
  EXPECT_EQ(t->get_protocol(), proto);
  ASSERT_TRUE(run_until(loop, [&] { return received.size() == 50000; }));
  EXPECT_EQ(received, pattern(50000));
}

// As in CPython the cancelled empty waiter stays set (no try/finally around its await), so
// the transport's close later fails to set it: InvalidStateError in _call_connection_lost.
TEST_F(LoopSendfileNativeTest, CancellingWhileTheBufferDrainsCancelsIt) {
  std::vector<std::string> errors;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) {
    errors.push_back(format_exception_only(c.exception));
  });
  t->write(bytes(pattern(2'000'000)));
  auto fut = loop.sendfile(t, temp_file("FILE"));
  spin(loop, 1);
  fut.cancel();
  EXPECT_EQ(outcome(loop, fut), "cancelled");
  spin(loop, 3);
  EXPECT_EQ(received.find("FILE"), std::string::npos);
  EXPECT_EQ(raised([&] { t->write(bytes("x")); }), "RuntimeError: unable to write; sendfile is in progress");
  t->abort();
  ASSERT_TRUE(run_until(loop, [&] { return !t->socket_open(); }));
  EXPECT_EQ(errors, std::vector<std::string>{"InvalidStateError: invalid state"});
}

}  // namespace
