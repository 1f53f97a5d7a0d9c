// loop.sock_sendfile, sock_sendall and sock_recv, by behaviour from CPython's
// test_unix_events.py (SelectorEventLoopUnixSockSendfileTests) and test_base_events.py
// (BaseLoopSockSendfileTests): the native sendfile(2) path with its waits, errors and
// cancellation, the argument checks, and the fallback through sock_sendall.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <string>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/file_object.hpp"
#include "loopcheck/sock_methods.hpp"
#include "loopcheck/sock_sendfile.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::raised;
using loopcheck::test::run_until;

namespace {

// 'a'..'z' repeated: easy to check a slice.
std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + i % 26);
  return out;
}

// A temporary regular file holding `data`, opened read-only (unlinked at once).
std::shared_ptr<FdFile> temp_file(const std::string& data, const std::string& mode = "rb") {
  char path[] = "/tmp/loopcheck-sendfile-XXXXXX";
  int w = ::mkstemp(path);
  EXPECT_GE(w, 0);
  EXPECT_EQ(::write(w, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(w);
  auto f = FdFile::open(path, mode);
  ::unlink(path);
  return f;
}

// A connected AF_UNIX stream pair: `a` non-blocking (the sending side), `b` the peer.
struct SocketPair {
  int a = -1, b = -1;
  explicit SocketPair(int type = SOCK_STREAM) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
      ::fcntl(a, F_SETFL, ::fcntl(a, F_GETFL) | O_NONBLOCK);
      ::fcntl(b, F_SETFL, ::fcntl(b, F_GETFL) | O_NONBLOCK);
    }
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  // Everything the peer can read now.
  std::string read_peer() const {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(b, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
};

// Collects what the peer receives, from a reader on the loop, while the loop runs.
struct PeerSink {
  EventLoop& loop;
  int fd;
  std::string data;
  PeerSink(EventLoop& l, int f) : loop(l), fd(f) {
    loop.add_reader(fd, [this] {
      char buf[65536];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) data.append(buf, static_cast<std::size_t>(n));
    });
  }
  ~PeerSink() { loop.remove_reader(fd); }
};

// Real syscalls with scripted sendfile results: each queued errno fails one call (0 lets
// a call through); `max_chunk` caps how much one call sends (a short send).
struct SendfileScript : RealSyscalls {
  std::deque<int> errors;
  std::size_t max_chunk = 0;
  int calls = 0;
  ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) override {
    ++calls;
    if (!errors.empty()) {
      int err = errors.front();
      errors.pop_front();
      if (err) {
        errno = err;
        return -1;
      }
    }
    if (max_chunk && count > max_chunk) count = max_chunk;
    return RealSyscalls::sendfile(out_fd, in_fd, offset, count);
  }
};

template <class T>
bool wait_done(EventLoop& loop, const Future<T>& f) {
  return run_until(loop, [&] { return f.done(); });
}

// "Type: message" of what the done future holds ("" for a result).
template <class T>
std::string error_of(const Future<T>& f) {
  return raised([&] { f.result(); });
}

class SockSendfileTest : public ::testing::Test {
 protected:
  EventLoop loop;
  SocketPair pair;
  std::string data = pattern(10);
  std::shared_ptr<FdFile> file = temp_file(data);

  // Sends `source` (which holds `content`) to a peer that reads as it comes, and checks that
  // all of it arrives and the file position ends after it.
  void expect_arrives_whole(std::shared_ptr<FileObject> source, const std::string& content) {
    PeerSink sink(loop, pair.b);
    auto f = loop.sock_sendfile(pair.a, source);
    ASSERT_TRUE(run_until(loop, [&] { return f.done() && sink.data.size() == content.size(); }, 10000));
    EXPECT_EQ(f.result(), content.size());
    EXPECT_EQ(source->tell(), static_cast<std::int64_t>(content.size()));
    EXPECT_TRUE(sink.data == content);
  }
};

// ---- the native path ------------------------------------------------------------------------

TEST_F(SockSendfileTest, SendsTheWholeFileAndMovesThePosition) {
  auto f = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 10u);
  EXPECT_EQ(file->tell(), 10);
  EXPECT_EQ(pair.read_peer(), data);
  EXPECT_FALSE(loop.remove_writer(pair.a));  // nothing left registered
}

TEST_F(SockSendfileTest, OffsetAndCountSendASliceAndLeaveThePositionAfterIt) {
  auto f = loop.sock_sendfile(pair.a, file, 2, 5);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 5u);
  EXPECT_EQ(file->tell(), 7);
  EXPECT_EQ(pair.read_peer(), "cdefg");
}

TEST_F(SockSendfileTest, AnEmptyFileReturnsZeroAtOnce) {
  auto empty = temp_file("");
  auto f = loop.sock_sendfile(pair.a, empty);
  ASSERT_TRUE(f.done());
  EXPECT_EQ(f.result(), 0u);
  EXPECT_EQ(empty->tell(), 0);
}

TEST_F(SockSendfileTest, ALargeFileWaitsForThePeerAndArrivesWhole) {
  std::string big = pattern(4 * 1024 * 1024);
  expect_arrives_whole(temp_file(big), big);
}

TEST_F(SockSendfileTest, EagainAndEintrWaitForTheWriterThenSend) {
  for (int err : {EAGAIN, EINTR}) {
    SendfileScript script;
    script.errors = {err};
    ScopedSyscalls scope(script);
    file->seek(0);
    auto f = loop.sock_sendfile(pair.a, file);
    EXPECT_FALSE(f.done());
    EXPECT_EQ(loop.selector().get_events(pair.a), EVENT_WRITE);  // waiting for writability
    ASSERT_TRUE(wait_done(loop, f));
    EXPECT_EQ(f.result(), 10u);
    EXPECT_EQ(pair.read_peer(), data);
    EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  }
}

TEST_F(SockSendfileTest, ShortSendsContinueFromWriterCallbacks) {
  SendfileScript script;
  script.max_chunk = 3;
  ScopedSyscalls scope(script);
  auto f = loop.sock_sendfile(pair.a, file, 1);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 9u);
  EXPECT_EQ(file->tell(), 10);
  EXPECT_EQ(pair.read_peer(), data.substr(1));
  EXPECT_EQ(script.calls, 4);  // 3 + 3 + 3, then the EOF call that returns 0
}

TEST_F(SockSendfileTest, AFailingFirstCallIsNotAvailableAndLeavesThePosition) {
  for (int err : {EINVAL, ENOTSOCK, ENOTCONN}) {
    SendfileScript script;
    script.errors = {err};
    ScopedSyscalls scope(script);
    auto f = loop.sock_sendfile(pair.a, file, 0, std::nullopt, /*fallback=*/false);
    ASSERT_TRUE(f.done());
    EXPECT_EQ(error_of(f), "SendfileNotAvailableError: os.sendfile call failed");
    EXPECT_EQ(file->tell(), 0);
    EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  }
}

TEST_F(SockSendfileTest, AFailingFirstCallFallsBackWhenAllowed) {
  SendfileScript script;
  script.errors = {EINVAL};
  ScopedSyscalls scope(script);
  auto f = loop.sock_sendfile(pair.a, file, 2, 5);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 5u);
  EXPECT_EQ(file->tell(), 7);
  EXPECT_EQ(pair.read_peer(), "cdefg");
}

TEST_F(SockSendfileTest, AFirstCallFailingAfterAWaitFallsBackAPassLater) {
  SendfileScript script;
  script.errors = {EAGAIN, EINVAL};
  ScopedSyscalls scope(script);
  auto f = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 10u);
  EXPECT_EQ(pair.read_peer(), data);
  EXPECT_EQ(file->tell(), 10);
}

TEST_F(SockSendfileTest, ALaterErrorIsRaisedAndThePositionCountsTheBytesSent) {
  SendfileScript script;
  script.errors = {0, EINVAL};
  script.max_chunk = 4;
  ScopedSyscalls scope(script);
  auto f = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(error_of(f), "OSError: [Errno 22] Invalid argument");
  EXPECT_EQ(file->tell(), 4);
  EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
}

TEST_F(SockSendfileTest, EnotconnOnALaterCallIsCPythonsSwappedConnectionError) {
  SendfileScript script;
  script.errors = {0, ENOTCONN};
  script.max_chunk = 4;
  ScopedSyscalls scope(script);
  auto f = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(error_of(f), "ConnectionError: [Errno socket is not connected] 107");
  auto e = f.exception();
  EXPECT_TRUE(exception_is_a(e, "ConnectionError"));
  EXPECT_TRUE(exception_is_a(e, "OSError"));
  EXPECT_EQ(exception_repr(e), "ConnectionError('socket is not connected', 107)");
  EXPECT_EQ(file->tell(), 4);
}

// SIGPIPE ignored for a scope, as CPython ignores it (sendfile(2) has no MSG_NOSIGNAL).
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe() {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ign, &old);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old, nullptr); }
};

TEST_F(SockSendfileTest, APeerThatWentAwayMidTransferGivesBrokenPipe) {
  IgnoreSigpipe ignore;
  std::string big = pattern(4 * 1024 * 1024);
  auto bigfile = temp_file(big);
  auto f = loop.sock_sendfile(pair.a, bigfile);
  ASSERT_FALSE(f.done());
  ASSERT_TRUE(run_until(loop, [&] { return loop.selector().get_events(pair.a) != 0; }));
  ::close(std::exchange(pair.b, -1));
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_TRUE(exception_is_a(f.exception(), "BrokenPipeError") || exception_is_a(f.exception(), "ConnectionResetError"))
      << error_of(f);
  std::int64_t first = bigfile->tell();
  EXPECT_GT(first, 0);
  EXPECT_LT(first, static_cast<std::int64_t>(big.size()));
}

// ---- cancellation -----------------------------------------------------------------------------

TEST_F(SockSendfileTest, CancellingRemovesTheWriterAndKeepsThePosition) {
  std::string big = pattern(4 * 1024 * 1024);
  auto bigfile = temp_file(big);
  auto f = loop.sock_sendfile(pair.a, bigfile);
  ASSERT_FALSE(f.done());
  EXPECT_EQ(loop.selector().get_events(pair.a), EVENT_WRITE);
  EXPECT_TRUE(f.cancel());
  loop.run_once();  // the cancellation callback
  EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  EXPECT_EQ(bigfile->tell(), 0);  // only the next sendfile call would have moved it
  EXPECT_EQ(raised([&] { f.result(); }), "CancelledError");
}

TEST_F(SockSendfileTest, AWriterQueuedInThePassThatCancelsSetsThePosition) {
  std::string big = pattern(4 * 1024 * 1024);
  auto bigfile = temp_file(big);
  auto f = loop.sock_sendfile(pair.a, bigfile);
  ASSERT_FALSE(f.done());
  std::string first = pair.read_peer();  // the socket turns writable
  ASSERT_FALSE(first.empty());
  loop.call_soon([&] { f.cancel(); });
  loop.run_once();  // the cancel runs, then the writer queued in the same pass
  EXPECT_EQ(bigfile->tell(), static_cast<std::int64_t>(first.size()));
  loop.run_once();
  EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  EXPECT_FALSE(loop.remove_writer(pair.a));
}

// ---- argument checks --------------------------------------------------------------------------

TEST_F(SockSendfileTest, DebugModeRefusesABlockingSocket) {
  ::fcntl(pair.a, F_SETFL, ::fcntl(pair.a, F_GETFL) & ~O_NONBLOCK);
  loop.set_debug(true);
  auto f = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(f.done());
  EXPECT_EQ(error_of(f), "ValueError: the socket must be non-blocking");
  loop.set_debug(false);
  auto g = loop.sock_sendfile(pair.a, file);
  ASSERT_TRUE(wait_done(loop, g));
  EXPECT_EQ(g.result(), 10u);
}

TEST_F(SockSendfileTest, ChecksRunInCPythonsOrder) {
  SocketPair dgram(SOCK_DGRAM);
  auto text = temp_file("0123456789", "r");
  ::fcntl(dgram.a, F_SETFL, ::fcntl(dgram.a, F_GETFL) & ~O_NONBLOCK);
  loop.set_debug(true);
  EXPECT_EQ(error_of(loop.sock_sendfile(dgram.a, text, -1, 0)), "ValueError: the socket must be non-blocking");
  EXPECT_EQ(error_of(loop.sock_sendfile(Socket(pair.a, /*tls=*/true), text, -1, 0)),
            "TypeError: Socket cannot be of type SSLSocket");
  ::fcntl(dgram.a, F_SETFL, ::fcntl(dgram.a, F_GETFL) | O_NONBLOCK);
  EXPECT_EQ(error_of(loop.sock_sendfile(dgram.a, text, -1, 0)), "ValueError: file should be opened in binary mode");
  EXPECT_EQ(error_of(loop.sock_sendfile(dgram.a, file, -1, 0)),
            "ValueError: only SOCK_STREAM type sockets are supported");
  EXPECT_EQ(error_of(loop.sock_sendfile(pair.a, file, -1, 0)), "ValueError: count must be a positive integer (got 0)");
  EXPECT_EQ(error_of(loop.sock_sendfile(pair.a, file, -1, -1)),
            "ValueError: count must be a positive integer (got -1)");
  EXPECT_EQ(error_of(loop.sock_sendfile(pair.a, file, -1)),
            "ValueError: offset must be a non-negative integer (got -1)");
  EXPECT_EQ(file->tell(), 0);
  EXPECT_EQ(pair.read_peer(), "");
}

TEST_F(SockSendfileTest, ANonSocketFdFailsWithTheKernelsError) {
  test::Pipe p;
  EXPECT_EQ(error_of(loop.sock_sendfile(p.w, file)), "OSError: [Errno 88] Socket operation on non-socket");
}

// ---- files without a usable fd, and the fallback ---------------------------------------------

TEST_F(SockSendfileTest, AMemoryFileFallsBackAndMovesItsPosition) {
  auto mem = std::make_shared<BytesFile>(data);
  auto f = loop.sock_sendfile(pair.a, mem, 2, 5);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), 5u);
  EXPECT_EQ(mem->tell(), 7);
  EXPECT_EQ(pair.read_peer(), "cdefg");
  auto g = loop.sock_sendfile(pair.a, mem);  // offset 0: from where the file is
  ASSERT_TRUE(wait_done(loop, g));
  EXPECT_EQ(g.result(), 3u);
  EXPECT_EQ(mem->tell(), 3);  // offset + bytes sent
  EXPECT_EQ(pair.read_peer(), "hij");
}

TEST_F(SockSendfileTest, AMemoryFileWithoutFallbackIsNotARegularFile) {
  auto mem = std::make_shared<BytesFile>(data);
  auto f = loop.sock_sendfile(pair.a, mem, 0, std::nullopt, false);
  ASSERT_TRUE(f.done());
  EXPECT_EQ(error_of(f), "SendfileNotAvailableError: not a regular file");
  EXPECT_TRUE(exception_is_a(f.exception(), "RuntimeError"));
  EXPECT_EQ(mem->tell(), 0);
}

TEST_F(SockSendfileTest, AClosedFilesValueErrorPassesThrough) {
  file->close();
  for (bool fallback : {true, false}) {
    auto f = loop.sock_sendfile(pair.a, file, 0, std::nullopt, fallback);
    ASSERT_TRUE(f.done());
    EXPECT_EQ(error_of(f), "ValueError: I/O operation on closed file");
  }
}

TEST_F(SockSendfileTest, AFstatFailureIsNotARegularFile) {
  struct FailingFstat : RealSyscalls {
    int fstat(int, struct stat*) override {
      errno = EIO;
      return -1;
    }
  } failing;
  ScopedSyscalls scope(failing);
  auto f = loop.sock_sendfile(pair.a, file, 0, std::nullopt, false);
  ASSERT_TRUE(f.done());
  EXPECT_EQ(error_of(f), "SendfileNotAvailableError: not a regular file");
}

TEST_F(SockSendfileTest, APipeFallsBackThenFailsToSeek) {
  test::Pipe p;
  ASSERT_EQ(::write(p.w, "hello world", 11), 11);
  auto pipe_file = std::make_shared<FdFile>(p.r, "rb", /*owns_fd=*/false);
  EXPECT_EQ(error_of(loop.sock_sendfile(pair.a, pipe_file, 0, 5, false)),
            "SendfileNotAvailableError: os.sendfile call failed");
  auto f = loop.sock_sendfile(pair.a, pipe_file, 0, 5);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(error_of(f), "OSError: [Errno 29] Illegal seek");
  EXPECT_EQ(pair.read_peer(), "hello");
  // Without a count the size (0 for a pipe) says there is nothing to send.
  auto g = loop.sock_sendfile(pair.a, pipe_file);
  ASSERT_TRUE(g.done());
  EXPECT_EQ(g.result(), 0u);
}

TEST_F(SockSendfileTest, TheFallbackSendsLargeFilesInBlocks) {
  std::string big = pattern(kSendfileFallbackReadBufferSize * 3 + 17);
  expect_arrives_whole(std::make_shared<BytesFile>(big), big);
}

TEST_F(SockSendfileTest, CancellingTheFallbackCancelsItsSendAndSeeksToWhatWasSent) {
  std::string big = pattern(kSendfileFallbackReadBufferSize * 8);
  auto mem = std::make_shared<BytesFile>(big);
  auto f = loop.sock_sendfile(pair.a, mem);
  ASSERT_FALSE(f.done());  // the socket buffer is full: a sock_sendall waits
  EXPECT_TRUE(f.cancel());
  ASSERT_TRUE(run_until(loop, [&] { return loop.selector().get_events(pair.a) == 0; }));
  EXPECT_EQ(raised([&] { f.result(); }), "CancelledError");
  EXPECT_LT(mem->tell(), static_cast<std::int64_t>(big.size()));
}

// ---- sock_sendall and sock_recv ---------------------------------------------------------------

TEST_F(SockSendfileTest, SockSendallWaitsForRoomAndSendsEverything) {
  std::string big = pattern(2 * 1024 * 1024);
  PeerSink sink(loop, pair.b);
  auto f = loop.sock_sendall(pair.a, big);
  ASSERT_FALSE(f.done());
  ASSERT_TRUE(run_until(loop, [&] { return f.done() && sink.data.size() == big.size(); }, 10000));
  EXPECT_EQ(error_of(f), "");
  EXPECT_TRUE(sink.data == big);
  EXPECT_FALSE(loop.remove_writer(pair.a));
}

TEST_F(SockSendfileTest, SockSendallReportsErrorsAndRefusesBadSockets) {
  ::close(std::exchange(pair.b, -1));
  auto f = loop.sock_sendall(pair.a, "x");
  ASSERT_TRUE(f.done());
  EXPECT_EQ(error_of(f), "BrokenPipeError: [Errno 32] Broken pipe");
  EXPECT_EQ(error_of(loop.sock_sendall(Socket(pair.a, true), "x")), "TypeError: Socket cannot be of type SSLSocket");
  ::fcntl(pair.a, F_SETFL, ::fcntl(pair.a, F_GETFL) & ~O_NONBLOCK);
  loop.set_debug(true);
  EXPECT_EQ(error_of(loop.sock_sendall(pair.a, "x")), "ValueError: the socket must be non-blocking");
}

TEST_F(SockSendfileTest, SockRecvWaitsForDataAndRemovesItsReader) {
  auto f = loop.sock_recv(pair.a, 100);
  ASSERT_FALSE(f.done());
  EXPECT_EQ(loop.selector().get_events(pair.a), EVENT_READ);
  ASSERT_EQ(::write(pair.b, "ping", 4), 4);
  ASSERT_TRUE(wait_done(loop, f));
  EXPECT_EQ(f.result(), "ping");
  loop.run_once();  // _sock_read_done
  EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  ::close(std::exchange(pair.b, -1));
  auto eof = loop.sock_recv(pair.a, 100);
  ASSERT_TRUE(eof.done());
  EXPECT_EQ(eof.result(), "");
}

TEST_F(SockSendfileTest, CancellingSockRecvLeavesTheDataInTheSocket) {
  auto f = loop.sock_recv(pair.a, 100);
  f.cancel();
  ASSERT_EQ(::write(pair.b, "ping", 4), 4);
  loop.run_once();  // the done callback removes the reader; the reader's own callback sees done
  EXPECT_EQ(loop.selector().get_events(pair.a), 0u);
  char buf[8];
  EXPECT_EQ(::read(pair.a, buf, sizeof buf), 4);
}

TEST_F(SockSendfileTest, SockRecvPassesErrorsOn) {
  test::Pipe p;
  EXPECT_EQ(error_of(loop.sock_recv(p.r, 1)), "OSError: [Errno 88] Socket operation on non-socket");
}

// ---- the file objects ------------------------------------------------------------------------

TEST(FileObjectTest, BytesFileIsAnInMemoryFileWithoutFileno) {
  BytesFile m("hello");
  EXPECT_FALSE(m.mode().has_value());
  EXPECT_EQ(raised([&] { m.fileno(); }), "UnsupportedOperation: fileno");
  char buf[3];
  EXPECT_EQ(m.readinto(buf), 3u);
  EXPECT_EQ(m.tell(), 3);
  EXPECT_EQ(m.readinto(buf), 2u);
  EXPECT_EQ(m.readinto(buf), 0u);
  EXPECT_EQ(raised([&] { m.seek(-1); }), "ValueError: negative seek value -1");
  m.close();
  EXPECT_EQ(raised([&] { m.tell(); }), "ValueError: I/O operation on closed file");
}

TEST(FileObjectTest, FdFileClosesWhatItOwnsOnce) {
  auto f = temp_file("abc");
  int fd = f->fileno();
  f->close();
  f->close();
  EXPECT_TRUE(f->closed());
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(raised([&] { f->fileno(); }), "ValueError: I/O operation on closed file");
  EXPECT_EQ(raised([] { FdFile::open("/nonexistent/x"); }), "FileNotFoundError: [Errno 2] No such file or directory");
}

}  // namespace
