// Unix domain sockets: create_unix_server, create_unix_connection, Server and the socket
// transport, by the behaviours CPython's test_unix_events.py (SelectorEventLoopUnixSocketTests)
// and test_selector_events.py (SelectorSocketTransportTests) check.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "loopcheck/event_loop.hpp"
#include "loopcheck/selector_socket_transport.hpp"
#include "loopcheck/unix_server.hpp"
#include "loopcheck/warnings.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

using test::CapturedLog;
using test::raised;
using test::run_until;

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// A protocol that records its calls as text ("made", "data:abc", "eof", "lost:None" ...).
struct Recording : Protocol {
  std::vector<std::string> events;
  std::string data;
  bool keep_open_on_eof = false;
  bool raise_in_data_received = false;
  BaseTransport* transport = nullptr;

  void connection_made(BaseTransport& t) override {
    transport = &t;
    events.push_back("made");
  }
  void data_received(std::span<const std::byte> d) override {
    data.append(reinterpret_cast<const char*>(d.data()), d.size());
    if (raise_in_data_received) throw ValueError("boom");
  }
  bool eof_received() override {
    events.push_back("eof");
    return keep_open_on_eof;
  }
  void connection_lost(std::exception_ptr exc) override {
    events.push_back(exc ? "lost:" + format_exception_only(exc) : "lost:None");
  }
  void pause_writing() override { events.push_back("pause"); }
  void resume_writing() override { events.push_back("resume"); }
  bool has(const std::string& e) const { return std::find(events.begin(), events.end(), e) != events.end(); }
};

// A fresh directory for socket files, removed with everything in it at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/loopcheck-unix-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Runs the loop until `f` is done; true if it is.
template <class T>
bool wait(EventLoop& loop, const Future<T>& f) {
  return run_until(loop, [&] { return f.done(); });
}

// "Type: message" of a done future's exception, or "" on success.
template <class T>
std::string error_of(const Future<T>& f) {
  auto e = f.exception();
  return e ? format_exception_only(e) : "";
}

class UnixSocketsTest : public ::testing::Test {
 protected:
  EventLoop loop;
  TempDir dir;
  std::vector<std::shared_ptr<Recording>> accepted;

  ProtocolFactory server_factory() {
    return [this] {
      accepted.push_back(std::make_shared<Recording>());
      return accepted.back();
    };
  }

  std::shared_ptr<Server> serve(UnixServerOptions options) {
    auto f = loop.create_unix_server(server_factory(), options);
    EXPECT_TRUE(wait(loop, f));
    EXPECT_EQ(error_of(f), "");
    return f.result();
  }

  Future<UnixConnection> connect(UnixConnectionOptions options, std::shared_ptr<Recording> proto = nullptr) {
    if (!proto) proto = std::make_shared<Recording>();
    return loop.create_unix_connection([proto] { return proto; }, options);
  }

  std::string server_error(UnixServerOptions options) {
    auto f = loop.create_unix_server(server_factory(), options);
    EXPECT_TRUE(wait(loop, f));
    return error_of(f);
  }

  std::string connection_error(UnixConnectionOptions options) {
    auto f = connect(options);
    EXPECT_TRUE(wait(loop, f));
    return error_of(f);
  }

  void close_server(const std::shared_ptr<Server>& server) {
    server->close();
    auto closed = server->wait_closed();
    EXPECT_TRUE(wait(loop, closed));
  }
};

int unix_socket(int type = SOCK_STREAM) { return ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0); }

// ---- create_unix_server: arguments -------------------------------------------------------------

TEST_F(UnixSocketsTest, ServerPathAndSockExcludeEachOther) {
  int s = unix_socket();
  EXPECT_EQ(server_error({.path = dir / "s.sock", .sock = s}),
            "ValueError: path and sock can not be specified at the same time");
  EXPECT_FALSE(exists(dir / "s.sock"));
  ::close(s);  // a refused socket stays the caller's
}

TEST_F(UnixSocketsTest, ServerNeedsPathOrSock) {
  EXPECT_EQ(server_error({}), "ValueError: path was not specified, and no sock specified");
}

TEST_F(UnixSocketsTest, ServerRefusesSslBoolBeforeOtherChecks) {
  EXPECT_EQ(server_error({.ssl = true}), "TypeError: ssl argument must be an SSLContext or None");
  EXPECT_EQ(server_error({.path = dir / "s.sock", .ssl = false}), "TypeError: ssl argument must be an SSLContext or None");
  EXPECT_FALSE(exists(dir / "s.sock"));
}

TEST_F(UnixSocketsTest, ServerTlsTimeoutsNeedSsl) {
  EXPECT_EQ(server_error({.path = dir / "s.sock", .ssl_handshake_timeout = 1.0}),
            "ValueError: ssl_handshake_timeout is only meaningful with ssl");
  EXPECT_EQ(server_error({.path = dir / "s.sock", .ssl_shutdown_timeout = 1.0}),
            "ValueError: ssl_shutdown_timeout is only meaningful with ssl");
  EXPECT_FALSE(exists(dir / "s.sock"));
}

TEST_F(UnixSocketsTest, ServerRefusesDatagramAndInetSockets) {
  int d = unix_socket(SOCK_DGRAM);
  EXPECT_EQ(server_error({.sock = d}), "ValueError: A UNIX Domain Stream Socket was expected, got <socket.socket fd=" +
                                           std::to_string(d) + ", family=1, type=2, proto=0>");
  int i = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(server_error({.sock = i}), "ValueError: A UNIX Domain Stream Socket was expected, got <socket.socket fd=" +
                                           std::to_string(i) + ", family=2, type=1, proto=0, laddr=('0.0.0.0', 0)>");
  ::close(d);
  ::close(i);
}

TEST_F(UnixSocketsTest, ServerOnUnboundSockFailsLikeCleanupSocketIn313) {
  int s = unix_socket();
  EXPECT_EQ(server_error({.sock = s}), "IndexError: string index out of range");
  ::close(s);
}

TEST_F(UnixSocketsTest, ServerAcceptsABoundNonBlockingSockAndOwnsIt) {
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = dir / "n.sock";
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto server = serve({.sock = s});
  EXPECT_TRUE(server->is_serving());
  EXPECT_EQ(server->sockets(), std::vector<int>{s});
  close_server(server);
  EXPECT_TRUE(server->sockets().empty());
  EXPECT_FALSE(exists(path));  // cleanup_socket applies to a given socket too
}

// ---- create_unix_server: the socket file ---------------------------------------------------------

TEST_F(UnixSocketsTest, ServerOnARegularFileRaisesAddressInUseAndKeepsTheFile) {
  std::string path = dir / "taken";
  ::close(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  EXPECT_EQ(server_error({.path = path}), "OSError: [Errno 98] Address '" + path + "' is already in use");
  EXPECT_TRUE(exists(path));
}

TEST_F(UnixSocketsTest, ServerInAMissingDirectoryRaisesTheBindError) {
  EXPECT_EQ(server_error({.path = dir / "nodir/s.sock"}), "FileNotFoundError: [Errno 2] No such file or directory");
}

TEST_F(UnixSocketsTest, FailingStaleFileCheckIsLoggedAndBindIsTried) {
  CapturedLog log;
  std::string file = dir / "f";
  ::close(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  EXPECT_EQ(server_error({.path = file + "/s.sock"}), "NotADirectoryError: [Errno 20] Not a directory");
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].level, LogLevel::ERROR);
  EXPECT_EQ(records[0].message, "Unable to check or remove stale UNIX socket '" + file +
                                    "/s.sock': NotADirectoryError(20, 'Not a directory')");
}

TEST_F(UnixSocketsTest, StaleSocketFileIsReplaced) {
  std::string path = dir / "s.sock";
  int stale = unix_socket();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(stale);
  auto server = serve({.path = path});
  auto c = connect({.path = path});
  ASSERT_TRUE(wait(loop, c));
  EXPECT_EQ(error_of(c), "");
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return !accepted.empty() && accepted[0]->has("lost:None"); }));
  close_server(server);
  EXPECT_FALSE(exists(path));
}

TEST_F(UnixSocketsTest, SecondServerTakesOverALiveServersPathAndTheFirstLeavesItAlone) {
  std::string path = dir / "s.sock";
  auto first = serve({.path = path});
  auto second = serve({.path = path});
  EXPECT_TRUE(first->is_serving());
  auto c = connect({.path = path});
  ASSERT_TRUE(wait(loop, c));
  ASSERT_EQ(error_of(c), "");
  ASSERT_TRUE(run_until(loop, [&] { return accepted.size() == 1 && accepted[0]->has("made"); }));
  // The first server's file is gone (another inode now): closing it must not unlink the second's.
  close_server(first);
  EXPECT_TRUE(exists(path));
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return accepted[0]->has("lost:None"); }));
  close_server(second);
  EXPECT_FALSE(exists(path));
}

TEST_F(UnixSocketsTest, AbstractNamesNeverTouchTheFileSystem) {
  std::string name = std::string(1, '\0') + dir.path + "/abstract";
  auto server = serve({.path = name});
  EXPECT_FALSE(exists(dir / "abstract"));
  EXPECT_EQ(server->repr().find("laddr=b'\\x00" + dir.path + "/abstract'") != std::string::npos, true) << server->repr();
  auto c = connect({.path = name});
  ASSERT_TRUE(wait(loop, c));
  EXPECT_EQ(error_of(c), "");
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return !accepted.empty() && accepted[0]->has("lost:None"); }));
  close_server(server);
}

// ---- start_serving, close, wait_closed ------------------------------------------------------------

TEST_F(UnixSocketsTest, StartServingFalseRefusesUntilStarted) {
  std::string path = dir / "s.sock";
  auto server = serve({.path = path, .start_serving = false});
  EXPECT_TRUE(exists(path));
  EXPECT_FALSE(server->is_serving());
  EXPECT_EQ(connection_error({.path = path}), "ConnectionRefusedError: [Errno 111] Connection refused");
  auto started = server->start_serving();
  ASSERT_TRUE(wait(loop, started));
  EXPECT_TRUE(server->is_serving());
  auto c = connect({.path = path});
  ASSERT_TRUE(wait(loop, c));
  EXPECT_EQ(error_of(c), "");
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return !accepted.empty() && accepted[0]->has("lost:None"); }));
  server->close();
  EXPECT_FALSE(server->is_serving());
  EXPECT_FALSE(exists(path));
  server->close();  // idempotent
}

TEST_F(UnixSocketsTest, CleanupSocketFalseLeavesTheFile) {
  std::string path = dir / "s.sock";
  auto server = serve({.path = path, .cleanup_socket = false});
  close_server(server);
  EXPECT_TRUE(exists(path));
}

TEST_F(UnixSocketsTest, WaitClosedWaitsForTheClientsToGo) {
  std::string path = dir / "s.sock";
  auto server = serve({.path = path});
  auto c = connect({.path = path});
  ASSERT_TRUE(wait(loop, c));
  ASSERT_TRUE(run_until(loop, [&] { return accepted.size() == 1 && accepted[0]->has("made"); }));
  EXPECT_EQ(server->client_count(), 1u);
  auto closed = server->wait_closed();
  server->close();
  EXPECT_FALSE(run_until(loop, [&] { return closed.done(); }, 100));
  server->close_clients();
  EXPECT_TRUE(wait(loop, closed));
  EXPECT_EQ(server->client_count(), 0u);
  ASSERT_TRUE(run_until(loop, [&] { return c.result().first->is_closing() && !c.result().first->socket_open(); }));
}

// ---- create_unix_connection ---------------------------------------------------------------------

TEST_F(UnixSocketsTest, ConnectionArgumentChecksInCPythonsOrder) {
  EXPECT_EQ(connection_error({.path = dir / "x.sock", .ssl = true}),
            "ValueError: you have to pass server_hostname when using ssl");
  EXPECT_EQ(connection_error({.path = dir / "x.sock", .server_hostname = "spam"}),
            "ValueError: server_hostname is only meaningful with ssl");
  EXPECT_EQ(connection_error({.path = dir / "x.sock", .ssl_handshake_timeout = 1.0}),
            "ValueError: ssl_handshake_timeout is only meaningful with ssl");
  EXPECT_EQ(connection_error({.path = dir / "x.sock", .ssl_shutdown_timeout = 1.0}),
            "ValueError: ssl_shutdown_timeout is only meaningful with ssl");
  EXPECT_EQ(connection_error({}), "ValueError: no path and sock were specified");
  int s = unix_socket();
  EXPECT_EQ(connection_error({.path = dir / "x.sock", .sock = s}),
            "ValueError: path and sock can not be specified at the same time");
  ::close(s);
}

TEST_F(UnixSocketsTest, ConnectionRefusesDatagramSockets) {
  int d = unix_socket(SOCK_DGRAM);
  EXPECT_EQ(connection_error({.sock = d}), "ValueError: A UNIX Domain Stream Socket was expected, got <socket.socket fd=" +
                                               std::to_string(d) + ", family=1, type=2, proto=0>");
  ::close(d);
}

TEST_F(UnixSocketsTest, ConnectionToAMissingPathOrAStaleFileFails) {
  EXPECT_EQ(connection_error({.path = dir / "missing.sock"}), "FileNotFoundError: [Errno 2] No such file or directory");
  std::string path = dir / "s.sock";
  int stale = unix_socket();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(stale);
  EXPECT_EQ(connection_error({.path = path}), "ConnectionRefusedError: [Errno 111] Connection refused");
  EXPECT_TRUE(exists(path));
}

TEST_F(UnixSocketsTest, ConnectionAcceptsAFilesystemPathAndConnectionMadeRunsFirst) {
  std::string path = dir / "s.sock";
  auto server = serve({.path = path});
  auto proto = std::make_shared<Recording>();
  auto c = connect({.path = std::filesystem::path(path)}, proto);
  ASSERT_TRUE(wait(loop, c));
  ASSERT_EQ(error_of(c), "");
  EXPECT_EQ(proto->events, std::vector<std::string>{"made"});
  EXPECT_EQ(c.result().second, proto);
  EXPECT_FALSE(c.result().first->is_closing());
  EXPECT_EQ(std::any_cast<std::string>(c.result().first->get_extra_info("peername")), path);
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return !accepted.empty() && accepted[0]->has("lost:None"); }));
  EXPECT_EQ(accepted[0]->events, (std::vector<std::string>{"made", "eof", "lost:None"}));
  close_server(server);
}

TEST_F(UnixSocketsTest, ConnectionOverAGivenSocketTakesIt) {
  std::string path = dir / "s.sock";
  auto server = serve({.path = path});
  int s = unix_socket();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto c = connect({.sock = s});
  ASSERT_TRUE(wait(loop, c));
  ASSERT_EQ(error_of(c), "");
  EXPECT_EQ(c.result().first->fileno(), s);
  EXPECT_NE(::fcntl(s, F_GETFL) & O_NONBLOCK, 0);
  c.result().first->close();
  ASSERT_TRUE(run_until(loop, [&] { return !c.result().first->socket_open(); }));
  close_server(server);
}

// ---- the transport over a socketpair --------------------------------------------------------------

class SocketTransportTest : public ::testing::Test {
 protected:
  EventLoop loop;
  int peer = -1;
  std::shared_ptr<Recording> proto = std::make_shared<Recording>();
  std::shared_ptr<SelectorSocketTransport> t;

  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peer = sv[1];
    t = SelectorSocketTransport::create(loop, sv[0], proto);
    ASSERT_TRUE(run_until(loop, [&] { return proto->has("made"); }));
  }
  void TearDown() override {
    if (t && t->socket_open()) {
      t->abort();
      run_until(loop, [&] { return !t->socket_open(); });
    }
    ::close(peer);
  }
  std::string read_peer() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(peer, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    return out;
  }
};

TEST_F(SocketTransportTest, DataReceivedThenEofClosesTheTransport) {
  ASSERT_EQ(::write(peer, "ping", 4), 4);
  ASSERT_TRUE(run_until(loop, [&] { return proto->data == "ping"; }));
  ::shutdown(peer, SHUT_WR);
  ASSERT_TRUE(run_until(loop, [&] { return proto->has("lost:None"); }));
  EXPECT_EQ(proto->events, (std::vector<std::string>{"made", "eof", "lost:None"}));
  EXPECT_FALSE(t->socket_open());
  EXPECT_EQ(t->get_protocol(), nullptr);
}

TEST_F(SocketTransportTest, EofReceivedTrueKeepsWriting) {
  proto->keep_open_on_eof = true;
  ::shutdown(peer, SHUT_WR);
  ASSERT_TRUE(run_until(loop, [&] { return proto->has("eof"); }));
  EXPECT_FALSE(t->is_closing());
  EXPECT_EQ(loop.selector().get_events(t->fileno()) & EVENT_READ, 0u);
  t->write(bytes("after"));
  EXPECT_EQ(read_peer(), "after");
}

TEST_F(SocketTransportTest, PauseAndResumeReading) {
  EXPECT_TRUE(t->is_reading());
  t->pause_reading();
  EXPECT_FALSE(t->is_reading());
  t->pause_reading();  // no-op
  ASSERT_EQ(::write(peer, "x", 1), 1);
  EXPECT_FALSE(run_until(loop, [&] { return !proto->data.empty(); }, 100));
  t->resume_reading();
  EXPECT_TRUE(t->is_reading());
  ASSERT_TRUE(run_until(loop, [&] { return proto->data == "x"; }));
}

TEST_F(SocketTransportTest, ReprShowsReadAndWriteState) {
  std::string fd = std::to_string(t->fileno());
  EXPECT_EQ(t->repr(), "<_SelectorSocketTransport fd=" + fd + " read=polling write=<idle, bufsize=0>>");
  t->close();
  EXPECT_EQ(t->repr(), "<_SelectorSocketTransport closing fd=" + fd + " read=idle write=<idle, bufsize=0>>");
  ASSERT_TRUE(run_until(loop, [&] { return !t->socket_open(); }));
  EXPECT_EQ(t->repr(), "<_SelectorSocketTransport closed fd=" + fd + ">");
}

TEST_F(SocketTransportTest, FdBelongsToTheTransportWhileOpen) {
  EXPECT_EQ(raised([&] { loop.add_reader(t->fileno(), [] {}); }),
            "RuntimeError: File descriptor " + std::to_string(t->fileno()) + " is used by transport " + t->repr());
}

TEST_F(SocketTransportTest, WriteBuffersPausesAndResumesTheProtocol) {
  t->set_write_buffer_limits(4096, 1024);
  std::string chunk(1 << 20, 'a');
  t->write(bytes(chunk));  // far more than a socketpair takes at once
  EXPECT_GT(t->get_write_buffer_size(), 4096u);
  EXPECT_TRUE(proto->has("pause"));
  EXPECT_NE(loop.selector().get_events(t->fileno()) & EVENT_WRITE, 0u);
  std::string got;
  ASSERT_TRUE(run_until(loop, [&] {
    got += read_peer();
    return t->get_write_buffer_size() == 0;
  }));
  got += read_peer();
  EXPECT_EQ(got.size(), chunk.size());
  EXPECT_EQ(proto->events, (std::vector<std::string>{"made", "pause", "resume"}));
  EXPECT_EQ(loop.selector().get_events(t->fileno()) & EVENT_WRITE, 0u);
}

TEST_F(SocketTransportTest, WriteEofAfterTheBufferDrainsAndNoWriteAfterIt) {
  std::string chunk(1 << 20, 'b');
  t->write(bytes(chunk));
  t->write_eof();
  EXPECT_EQ(raised([&] { t->write(bytes("more")); }), "RuntimeError: Cannot call write() after write_eof()");
  std::string got;
  bool eof = false;
  ASSERT_TRUE(run_until(loop, [&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(peer, buf, sizeof buf)) > 0) got.append(buf, std::size_t(n));
    eof = n == 0;
    return eof;
  }));
  EXPECT_EQ(got.size(), chunk.size());
  EXPECT_TRUE(t->can_write_eof());
}

TEST_F(SocketTransportTest, CloseWaitsForTheBufferAbortDoesNot) {
  std::string chunk(1 << 20, 'c');
  t->write(bytes(chunk));
  t->close();
  EXPECT_TRUE(t->is_closing());
  std::size_t before = t->get_write_buffer_size();
  ASSERT_TRUE(run_until(loop, [&] {
    read_peer();
    return t->get_write_buffer_size() < before;
  }));
  EXPECT_GT(t->get_write_buffer_size(), 0u);
  EXPECT_FALSE(proto->has("lost:None"));  // the buffer is still there
  t->abort();
  EXPECT_EQ(t->get_write_buffer_size(), 0u);
  ASSERT_TRUE(run_until(loop, [&] { return proto->has("lost:None"); }));
}

TEST_F(SocketTransportTest, WritesAfterTheConnectionIsLostAreCountedThenLogged) {
  CapturedLog log;
  t->abort();
  ASSERT_TRUE(run_until(loop, [&] { return proto->has("lost:None"); }));
  for (int i = 0; i < 7; ++i) t->write(bytes("x"));
  auto records = log.warnings();
  ASSERT_EQ(records.size(), 3u);  // the 5th, 6th and 7th dropped writes
  EXPECT_EQ(records[0].message, "socket.send() raised exception.");
  t->write(bytes(""));  // empty data is ignored before anything else
  EXPECT_EQ(t->conn_lost(), 8u);
}

TEST_F(SocketTransportTest, ProtocolErrorGoesToTheExceptionHandlerThenConnectionLost) {
  std::vector<std::string> contexts;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) {
    contexts.push_back(c.message.value_or("") + "|" + format_exception_only(c.exception));
  });
  proto->raise_in_data_received = true;
  ASSERT_EQ(::write(peer, "x", 1), 1);
  ASSERT_TRUE(run_until(loop, [&] { return proto->events.size() == 2; }));
  EXPECT_EQ(contexts, std::vector<std::string>{"Fatal error: protocol.data_received() call failed.|ValueError: boom"});
  EXPECT_EQ(proto->events[1], "lost:ValueError: boom");
}

TEST_F(SocketTransportTest, PeerResetClosesQuietlyWithTheError) {
  std::vector<std::string> contexts;
  loop.set_exception_handler([&](EventLoop&, const ExceptionContext& c) { contexts.push_back(c.message.value_or("")); });
  ::close(peer);
  peer = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // TearDown closes it
  t->write(bytes("x"));  // EPIPE: an OSError only closes the transport
  ASSERT_TRUE(run_until(loop, [&] { return proto->events.size() == 2; }));
  EXPECT_EQ(proto->events[1], "lost:BrokenPipeError: [Errno 32] Broken pipe");
  EXPECT_TRUE(contexts.empty());
}

TEST_F(SocketTransportTest, EmptyWaiterForSendfile) {
  auto w = t->make_empty_waiter();
  EXPECT_TRUE(w.done());
  EXPECT_EQ(raised([&] { t->make_empty_waiter(); }), "RuntimeError: Empty waiter is already set");
  EXPECT_EQ(raised([&] { t->write(bytes("x")); }), "RuntimeError: unable to write; sendfile is in progress");
  t->reset_empty_waiter();
  t->write(bytes("x"));
  EXPECT_EQ(read_peer(), "x");
}

TEST(SocketTransportLifetime, UnclosedTransportWarnsAndClosesItsSocket) {
  std::vector<std::string> warnings;
  auto previous = set_warning_handler([&](const auto& w) { warnings.push_back(w.category + ": " + w.message); });
  {
    EventLoop loop;
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    {
      auto t = SelectorSocketTransport::create(loop, sv[0], std::make_shared<Recording>());
      loop.run_once();
    }
    loop.close();  // drops the reader that kept it alive
    ::close(sv[1]);
  }
  set_warning_handler(std::move(previous));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].rfind("ResourceWarning: unclosed transport <_SelectorSocketTransport fd=", 0), 0u) << warnings[0];
}

}  // namespace
}  // namespace loopcheck
