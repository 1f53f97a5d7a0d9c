// StreamReader's reads (streams.hpp): read(n), readexactly, readuntil, readline, anext,
// set_exception, feed_eof and flow control, against CPython 3.13's streams.py.
#include <gtest/gtest.h>

#include <string>

#include "loopcheck/stream_errors.hpp"
#include "loopcheck/streams.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A read transport that counts pause/resume calls (or cannot pause at all).
struct CountingTransport final : ReadTransport {
  int pauses = 0, resumes = 0;
  bool can_pause = true;
  std::any get_extra_info(std::string_view) const override { return {}; }
  bool is_closing() const override { return false; }
  void close() override {}
  void set_protocol(std::shared_ptr<BaseProtocol>) override {}
  std::shared_ptr<BaseProtocol> get_protocol() const override { return nullptr; }
  std::string repr() const override { return "<CountingTransport>"; }
  bool is_reading() const override { return pauses == resumes; }
  void pause_reading() override {
    if (!can_pause) throw NotImplementedError();
    ++pauses;
  }
  void resume_reading() override { ++resumes; }
};

struct StreamReaderReads : testing::Test {
  EventLoop loop;
  StreamReader reader{loop, 4};
  void feed(const std::string& s) { reader.feed_data(bytes_of(s)); }
  // One pass that never blocks (nothing else may be ready).
  void one_pass() {
    loop.call_soon([] {}, "pass()");
    loop.run_once();
  }
  // Runs passes until `f` is done (deadline 2 s).
  template <class T>
  Future<T> settle(Future<T> f) {
    EXPECT_TRUE(test::run_until(loop, [&] { return f.done(); }));
    return f;
  }
  template <class T>
  std::string error_of(Future<T> f) {
    return test::raised([&] { settle(f).result(); });
  }
};

TEST_F(StreamReaderReads, ReadlineReturnsEachLineThenThePartialLineThenEmpty) {
  feed("ab\ncd\nef");
  reader.feed_eof();
  EXPECT_EQ(settle(reader.readline()).result(), "ab\n");
  EXPECT_EQ(settle(reader.readline()).result(), "cd\n");
  EXPECT_EQ(settle(reader.readline()).result(), "ef");
  EXPECT_TRUE(reader.at_eof());
  EXPECT_EQ(settle(reader.readline()).result(), "");
}

TEST_F(StreamReaderReads, ReadlineWaitsUntilTheNewlineArrives) {
  auto line = reader.readline();
  feed("ab");
  one_pass();
  EXPECT_FALSE(line.done());
  feed("c\nd");
  EXPECT_EQ(settle(line).result(), "abc\n");
  EXPECT_EQ(settle(reader.read(5)).result(), "d");
}

TEST_F(StreamReaderReads, ReadlineOverTheLimitDropsThatLineAndRaisesValueError) {
  feed("abcdefgh\nok\n");
  EXPECT_EQ(error_of(reader.readline()), "ValueError: Separator is found, but chunk is longer than limit");
  EXPECT_EQ(settle(reader.readline()).result(), "ok\n");
}

TEST_F(StreamReaderReads, ReadlineOverTheLimitWithoutANewlineClearsTheBuffer) {
  feed("abcdefgh");
  EXPECT_EQ(error_of(reader.readline()), "ValueError: Separator is not found, and chunk exceed the limit");
  reader.feed_eof();
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderReads, ReaduntilFindsAMultiByteSeparatorSplitAcrossChunks) {
  feed("ab\r");
  auto chunk = reader.readuntil("\r\n");
  one_pass();
  EXPECT_FALSE(chunk.done());
  feed("\ncd");
  EXPECT_EQ(settle(chunk).result(), "ab\r\n");
  reader.feed_eof();
  EXPECT_EQ(settle(reader.read(-1)).result(), "cd");
}

TEST_F(StreamReaderReads, ReaduntilWithSeveralSeparatorsReturnsTheShortestChunk) {
  feed("x--y|");
  EXPECT_EQ(settle(reader.readuntil(std::vector<std::string>{"|", "--"})).result(), "x--");
  EXPECT_EQ(settle(reader.readuntil(std::vector<std::string>{"--", "|"})).result(), "y|");
}

TEST_F(StreamReaderReads, ReaduntilRefusesEmptySeparators) {
  EXPECT_EQ(error_of(reader.readuntil(std::vector<std::string>{})),
            "ValueError: Separator should contain at least one element");
  EXPECT_EQ(error_of(reader.readuntil("")), "ValueError: Separator should be at least one-byte string");
}

TEST_F(StreamReaderReads, ReaduntilOverrunKeepsTheDataAndReportsConsumed) {
  feed("abcdef");
  auto f = settle(reader.readuntil("\n"));
  try {
    f.result();
    FAIL() << "no LimitOverrunError";
  } catch (const LimitOverrunError& e) {
    EXPECT_EQ(e.message(), "Separator is not found, and chunk exceed the limit");
    EXPECT_EQ(e.consumed(), 6u);
  }
  feed("\n");
  try {
    settle(reader.readuntil("\n")).result();
    FAIL() << "no LimitOverrunError";
  } catch (const LimitOverrunError& e) {
    EXPECT_EQ(e.message(), "Separator is found, but chunk is longer than limit");
    EXPECT_EQ(e.consumed(), 6u);
  }
  reader.feed_eof();
  EXPECT_EQ(settle(reader.read(-1)).result(), "abcdef\n");
}

TEST_F(StreamReaderReads, ReaduntilAtEofRaisesIncompleteReadErrorAndEmptiesTheBuffer) {
  feed("ab\r");
  reader.feed_eof();
  try {
    settle(reader.readuntil("\r\n")).result();
    FAIL() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "ab\r");
    EXPECT_FALSE(e.expected());
    EXPECT_EQ(e.message(), "3 bytes read on a total of undefined expected bytes");
    EXPECT_TRUE(e.is_a("EOFError"));
  }
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderReads, ReadexactlyWaitsForEveryByte) {
  feed("ab");
  auto f = reader.readexactly(3);
  one_pass();
  EXPECT_FALSE(f.done());
  feed("cde");
  EXPECT_EQ(settle(f).result(), "abc");
  EXPECT_EQ(settle(reader.readexactly(0)).result(), "");
  EXPECT_EQ(settle(reader.readexactly(2)).result(), "de");
}

TEST_F(StreamReaderReads, ReadexactlyAtAnEarlyEofRaisesWithThePartialBytes) {
  feed("ab");
  auto f = reader.readexactly(5);
  reader.feed_eof();
  try {
    settle(f).result();
    FAIL() << "no IncompleteReadError";
  } catch (const IncompleteReadError& e) {
    EXPECT_EQ(e.partial(), "ab");
    EXPECT_EQ(e.expected(), 5);
    EXPECT_EQ(e.message(), "2 bytes read on a total of 5 expected bytes");
    EXPECT_EQ(e.repr(), "IncompleteReadError('2 bytes read on a total of 5 expected bytes')");
  }
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderReads, ReadexactlyRefusesANegativeSize) {
  EXPECT_EQ(error_of(reader.readexactly(-1)), "ValueError: readexactly size can not be less than zero");
}

TEST_F(StreamReaderReads, ReadNReturnsWhatIsBufferedUpToN) {
  EXPECT_EQ(settle(reader.read(0)).result(), "");
  auto pending = reader.read(10);
  one_pass();
  EXPECT_FALSE(pending.done());
  feed("hello");
  EXPECT_EQ(settle(pending).result(), "hello");
  feed("world");
  EXPECT_EQ(settle(reader.read(3)).result(), "wor");
  auto last = reader.read(10);
  EXPECT_EQ(settle(last).result(), "ld");
  auto at_eof = reader.read(10);
  reader.feed_eof();
  EXPECT_EQ(settle(at_eof).result(), "");
}

TEST_F(StreamReaderReads, SetExceptionFailsTheWaitingReadAndEveryLaterOne) {
  auto line = reader.readline();
  reader.set_exception(std::make_exception_ptr(ConnectionResetError(OSError::Message{"gone"})));
  EXPECT_EQ(error_of(line), "ConnectionResetError: gone");
  feed("data\n");  // buffered data does not hide the exception
  EXPECT_EQ(error_of(reader.readline()), "ConnectionResetError: gone");
  EXPECT_EQ(error_of(reader.read(1)), "ConnectionResetError: gone");
  EXPECT_EQ(error_of(reader.read(-1)), "ConnectionResetError: gone");
  EXPECT_EQ(error_of(reader.readexactly(1)), "ConnectionResetError: gone");
  EXPECT_EQ(error_of(reader.readuntil("\n")), "ConnectionResetError: gone");
}

TEST_F(StreamReaderReads, ASecondWaitingReadRaisesRuntimeError) {
  auto first = reader.readline();
  EXPECT_EQ(error_of(reader.read(1)),
            "RuntimeError: read() called while another coroutine is already waiting for incoming data");
  EXPECT_EQ(error_of(reader.readexactly(1)),
            "RuntimeError: readexactly() called while another coroutine is already waiting for incoming data");
  feed("x\n");
  EXPECT_EQ(settle(first).result(), "x\n");
}

TEST_F(StreamReaderReads, ACancelledReadReleasesItsWaiter) {
  auto first = reader.readline();
  first.cancel();
  one_pass();
  one_pass();
  auto second = reader.read(1);
  feed("y");
  EXPECT_EQ(settle(second).result(), "y");
}

TEST_F(StreamReaderReads, AnextYieldsEveryLineThenStops) {
  feed("a\nb");
  reader.feed_eof();
  EXPECT_EQ(settle(reader.anext()).result(), "a\n");
  EXPECT_EQ(settle(reader.anext()).result(), "b");
  EXPECT_EQ(settle(reader.anext()).result(), std::nullopt);
}

TEST_F(StreamReaderReads, AtEofNeedsEofAndAnEmptyBuffer) {
  feed("z");
  EXPECT_FALSE(reader.at_eof());
  reader.feed_eof();
  EXPECT_FALSE(reader.at_eof());
  settle(reader.read(1));
  EXPECT_TRUE(reader.at_eof());
}

TEST_F(StreamReaderReads, ReadsResumeATransportPausedAboveTwiceTheLimit) {
  auto t = std::make_shared<CountingTransport>();
  reader.set_transport(t);
  feed("123456789");  // 9 > 2 * 4
  EXPECT_EQ(t->pauses, 1);
  EXPECT_EQ(settle(reader.readexactly(4)).result(), "1234");
  EXPECT_EQ(t->resumes, 0);  // 5 bytes left > limit
  auto more = reader.readexactly(7);  // must wait: waiting resumes the transport
  EXPECT_EQ(t->resumes, 1);
  feed("ab");
  EXPECT_EQ(settle(more).result(), "56789ab");
}

TEST_F(StreamReaderReads, ATransportThatCannotPauseIsForgotten) {
  auto t = std::make_shared<CountingTransport>();
  t->can_pause = false;
  reader.set_transport(t);
  feed("123456789");
  feed("more");  // no second attempt
  EXPECT_EQ(t->pauses, 0);
  EXPECT_EQ(settle(reader.readexactly(13)).result(), "123456789more");
}

}  // namespace
}  // namespace loopcheck
