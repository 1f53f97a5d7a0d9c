// call_soon_threadsafe and the self-pipe (B-LOOP-7).
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "loopcheck/event_loop.hpp"
#include "test_support.hpp"

using namespace loopcheck;
using loopcheck::test::deadline_ms;
using loopcheck::test::run_until;
using loopcheck::test::Trace;

TEST(CallSoonThreadsafe, KeepsOrderWithCallSoonFromSameThread) {
  EventLoop loop;
  Trace t;
  loop.call_soon_threadsafe(t.add("a"));
  loop.call_soon(t.add("b"));
  loop.call_soon_threadsafe(t.add("c"));
  loop.call_soon(t.add("d"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(CallSoonThreadsafe, OnlyThreadsafeCallbacksRunInOnePass) {
  EventLoop loop;
  Trace t;
  loop.call_soon_threadsafe(t.add("a"));
  loop.call_soon_threadsafe(t.add("b"));
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "b"}));
}

TEST(CallSoonThreadsafe, WritesOneNulBytePerCall) {
  EventLoop loop;
  loop.call_soon_threadsafe([] {});
  loop.call_soon_threadsafe([] {});
  char buf[8];
  ssize_t n = recv(loop.self_pipe_read_fd(), buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK);
  ASSERT_EQ(n, 2);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(buf[1], '\0');
}

TEST(CallSoonThreadsafe, ClosedLoopRaises) {
  EventLoop loop;
  loop.close();
  try {
    loop.call_soon_threadsafe([] {});
    FAIL();
  } catch (const RuntimeError& e) {
    EXPECT_EQ(e.message(), "Event loop is closed");
  }
}

TEST(CallSoonThreadsafe, WakesABlockedSelectFromAnotherThread) {
  // EV:test_call_soon_threadsafe. The loop has nothing to do, so its pass blocks in
  // select until the other thread's byte arrives; the deadline timer bounds the wait.
  EventLoop loop;
  std::atomic<bool> ran{false};
  std::atomic<bool> started{false};
  bool timed_out = false;
  loop.call_later(deadline_ms(5000).count() / 1000.0, [&] {
    timed_out = true;
    loop.stop();
  });
  std::thread th;
  loop.call_soon([&] {
    th = std::thread([&] {
      loop.call_soon_threadsafe([&] {
        ran = true;
        loop.stop();
      });
    });
    started = true;
  });
  loop.run_forever();
  th.join();
  EXPECT_TRUE(started);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(timed_out);
}

TEST(CallSoonThreadsafe, ManyThreadsEveryCallbackRunsOnce) {
  EventLoop loop;
  constexpr int kThreads = 4, kPerThread = 500;
  int count = 0;
  std::vector<int> last_seen(kThreads, -1);
  bool in_order = true;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.call_soon_threadsafe([&, t, i] {
          ++count;
          if (last_seen[t] != i - 1) in_order = false;  // FIFO per producing thread
          last_seen[t] = i;
        });
      }
    });
  }
  bool ok = run_until(loop, [&] { return count == kThreads * kPerThread; }, 10000);
  for (auto& th : threads) th.join();
  EXPECT_TRUE(ok) << count;
  EXPECT_TRUE(in_order);
}

TEST(CallSoonThreadsafe, CancelFromAnotherThreadPreventsRun) {
  EventLoop loop;
  bool ran = false;
  HandleRef h = loop.call_soon_threadsafe([&] { ran = true; });
  std::thread th([h] { h->cancel(); });
  th.join();
  EXPECT_TRUE(h->cancelled());
  loop.run_once();
  EXPECT_FALSE(ran);
}

TEST(CallSoonThreadsafe, HandleReleasedOnOtherThread) {
  // The loop runs and drops its reference while another thread still holds one.
  EventLoop loop;
  std::atomic<bool> done{false};
  HandleRef h = loop.call_soon_threadsafe([&] { done = true; });
  loop.run_once();
  std::thread th([h = std::move(h)]() mutable { h.reset(); });
  th.join();
  EXPECT_TRUE(done);
}

TEST(SelfPipe, NulBytesIgnoredOtherBytesGoToTheByteHandler) {
  EventLoop loop;
  std::vector<int> bytes;
  loop.set_self_pipe_byte_handler([&](unsigned char b) { bytes.push_back(b); });
  const unsigned char data[] = {0, 10, 0, 0, 17, 2};
  loop.process_self_data(data, sizeof data);
  EXPECT_EQ(bytes, (std::vector<int>{10, 17, 2}));
}

TEST(SelfPipe, BytesWrittenToTheWriteEndReachTheHandler) {
  EventLoop loop;
  std::vector<int> bytes;
  loop.set_self_pipe_byte_handler([&](unsigned char b) { bytes.push_back(b); });
  const unsigned char data[] = {0, 15, 0, 1};
  ASSERT_EQ(send(loop.self_pipe_write_fd(), data, sizeof data, 0), 4);
  ASSERT_TRUE(run_until(loop, [&] { return bytes.size() == 2; }));
  EXPECT_EQ(bytes, (std::vector<int>{15, 1}));
}

TEST(SelfPipe, ReaderDrainsMoreThanOneChunk) {
  EventLoop loop;
  std::size_t n = 0;
  loop.set_self_pipe_byte_handler([&](unsigned char) { ++n; });
  std::vector<unsigned char> data(10000, 7);
  ASSERT_EQ(send(loop.self_pipe_write_fd(), data.data(), data.size(), 0), 10000);
  loop.run_once();  // data is ready: the pass does not block
  EXPECT_EQ(n, 10000u);
}

TEST(SelfPipe, AddCallbackQueuesAnExistingHandleAgain) {
  // The path a signal takes: one handle, queued once per received signal byte.
  EventLoop loop;
  int runs = 0;
  HandleRef h = Handle::make([&] { ++runs; }, "_sig_handler()", &loop);
  loop.set_self_pipe_byte_handler([&](unsigned char) { loop.add_callback_signalsafe(h); });
  const unsigned char data[] = {10, 10};
  ASSERT_EQ(send(loop.self_pipe_write_fd(), data, sizeof data, 0), 2);
  ASSERT_TRUE(run_until(loop, [&] { return runs == 2; }));
  h->cancel();
  loop.add_callback(h);
  EXPECT_EQ(loop.ready_count(), 0u) << "a cancelled handle is not queued";
}

TEST(CallSoonThreadsafe, RacingCloseEitherQueuesOrRaisesClosed) {
  // A producer keeps posting while the loop runs a little and closes: every call either
  // queues (and is dropped by close) or raises 'Event loop is closed'; nothing leaks.
  auto loop = std::make_unique<EventLoop>();
  std::atomic<bool> saw_closed{false};
  std::atomic<int> posted{0};
  std::thread producer([&] {
    for (int i = 0; i < 100000 && !saw_closed; ++i) {
      try {
        loop->call_soon_threadsafe([] {});
        ++posted;
      } catch (const RuntimeError& e) {
        if (e.message() == "Event loop is closed") saw_closed = true;
      }
    }
  });
  run_until(*loop, [&] { return posted.load() > 100; });
  loop->close();
  producer.join();
  EXPECT_TRUE(saw_closed || posted.load() == 100000);
}

TEST(CallSoonThreadsafe, KeepsOrderWithAddCallback) {
  EventLoop loop;
  Trace t;
  HandleRef h = Handle::make(t.add("h"), {}, &loop);
  loop.call_soon_threadsafe(t.add("a"));
  loop.add_callback(h);
  loop.run_once();
  EXPECT_EQ(t.events, (std::vector<std::string>{"a", "h"}));
}
