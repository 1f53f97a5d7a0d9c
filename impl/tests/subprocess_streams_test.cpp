// asyncio.subprocess in the reference (subprocess_streams.hpp, streams.hpp): Process,
// communicate, drain, and the StreamReader pieces it relies on.
#include <gtest/gtest.h>

#include <string>

#include "loopcheck/subprocess_streams.hpp"
#include "test_support.hpp"

namespace loopcheck {
namespace {


template <class T>
T await_result(EventLoop& loop, Future<T> f) {
  EXPECT_TRUE(test::run_running_until(loop, [&] { return f.done(); }));
  return f.result();
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct ProcessTest : testing::Test {
  EventLoop loop;
  std::shared_ptr<Process> spawn(std::vector<std::string> args, Stdio in, Stdio out, long limit = 65536) {
    SubprocessOptions o = inherited_streams();
    o.stdin_ = in;
    o.stdout_ = out;
    return await_result(loop, create_subprocess_exec(loop, std::move(args), o, limit).result);
  }
};

TEST_F(ProcessTest, CommunicateEchoesTheInputThroughTheChild) {
  auto p = spawn({"/bin/cat"}, Stdio::pipe(), Stdio::pipe());
  ASSERT_TRUE(p->stdin_ && p->stdout_);
  EXPECT_FALSE(p->stderr_);
  auto [out, err] = await_result(loop, p->communicate(std::string("hello, child")));
  EXPECT_EQ(out, "hello, child");
  EXPECT_FALSE(err.has_value());
  EXPECT_EQ(p->returncode(), 0);
}

TEST_F(ProcessTest, CommunicateWithoutInputClosesStdin) {
  auto p = spawn({"/bin/cat"}, Stdio::pipe(), Stdio::pipe());
  auto [out, err] = await_result(loop, p->communicate());
  EXPECT_EQ(out, "");
  EXPECT_EQ(p->returncode(), 0);
}

TEST_F(ProcessTest, ASmallLimitPausesTheReaderWithoutLosingData) {
  auto p = spawn({"/bin/sh", "-c", "head -c 300000 /dev/zero"}, Stdio::inherit(), Stdio::pipe(), 1000);
  auto [out, err] = await_result(loop, p->communicate());
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->size(), 300000u);
  EXPECT_EQ(p->returncode(), 0);
}

TEST_F(ProcessTest, DrainAfterTheChildExitedRaisesConnectionResetError) {
  auto p = spawn({"/bin/true"}, Stdio::pipe(), Stdio::inherit());
  EXPECT_EQ(await_result(loop, p->wait()), 0);
  p->stdin_->write(bytes_of(std::string(100000, 'x')));
  auto drained = p->stdin_->drain();
  ASSERT_TRUE(test::run_running_until(loop, [&] { return drained.done(); }));
  try {
    drained.result();
    FAIL() << "drain() did not raise";
  } catch (const ConnectionResetError& e) {
    EXPECT_EQ(e.message(), "Connection lost");
  }
}

TEST_F(ProcessTest, InheritedStreamsLeaveNoStreamObjects) {
  auto p = spawn({"/bin/sh", "-c", "exit 3"}, Stdio::inherit(), Stdio::inherit());
  EXPECT_FALSE(p->stdin_ || p->stdout_ || p->stderr_);
  EXPECT_EQ(p->repr(), "<Process " + std::to_string(p->pid()) + ">");
  EXPECT_EQ(await_result(loop, p->wait()), 3);
  EXPECT_EQ(p->returncode(), 3);
}

TEST_F(ProcessTest, TextModeIsRefused) {
  SubprocessOptions o = inherited_streams();
  o.text = true;
  auto f = create_subprocess_exec(loop, {"/bin/true"}, o).result;
  ASSERT_TRUE(test::run_running_until(loop, [&] { return f.done(); }));
  EXPECT_THROW(f.result(), ValueError);
}

TEST(StreamReaderTest, ChecksAndBufferedReads) {
  EventLoop loop;
  EXPECT_THROW(StreamReader(loop, 0), ValueError);
  StreamReader reader(loop, 4);
  reader.feed_data(bytes_of("hello world"));
  reader.feed_eof();
  EXPECT_THROW(reader.feed_data(bytes_of("x")), AssertionError);
  auto all = reader.read_all();
  ASSERT_TRUE(all.done());  // everything was buffered: no suspension
  EXPECT_EQ(all.result(), "hello world");
  EXPECT_TRUE(reader.at_eof());
}

}  // namespace
}  // namespace loopcheck
