// A handle stores its callable in its own pool block: every block class, the heap fallback,
// Callbacks handed over, and destruction of what the callable owns.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/handle.hpp"
#include "loopcheck/pyrepr.hpp"

using namespace loopcheck;

namespace {

// A callable of exactly `bytes` bytes (a multiple of 8) that owns a shared token and
// records what it carried when it ran.
template <std::size_t bytes>
struct Sized {
  std::shared_ptr<int> token;
  std::array<char, bytes - sizeof(std::shared_ptr<int>)> fill;
  char* seen;
  void operator()() const { *seen = fill[fill.size() - 1]; }
};

template <std::size_t bytes>
void check_runs_and_frees(EventLoop& loop) {
  SCOPED_TRACE(bytes);
  auto token = std::make_shared<int>(0);
  char seen = 0;
  Sized<bytes + sizeof(char*)> f{token, {}, &seen};
  f.fill[f.fill.size() - 1] = 'z';
  loop.call_soon(f);
  loop.call_later(0, f);
  EXPECT_EQ(token.use_count(), 4);  // f and two handles
  loop.call_soon([&loop] { loop.call_soon([&loop] { loop.stop(); }); });
  loop.run_forever();
  EXPECT_EQ(seen, 'z');
  EXPECT_EQ(token.use_count(), 2) << "both handles ran and dropped their callables";
}

}  // namespace

TEST(HandleBlocks, CallablesOfEverySizeRunAndAreDestroyed) {
  EventLoop loop;
  check_runs_and_frees<16>(loop);   // 32-byte block
  check_runs_and_frees<32>(loop);   // 48
  check_runs_and_frees<40>(loop);   // 64 (Handle), 80 (TimerHandle)
  check_runs_and_frees<48>(loop);   // biggest in place is 40: on the heap
  check_runs_and_frees<200>(loop);  // heap
}

TEST(HandleBlocks, CallbackHandsItsCallableToTheHandle) {
  EventLoop loop;
  auto token = std::make_shared<int>(0);
  int calls = 0;
  Callback small([token, &calls] { ++calls; });
  std::array<char, 100> big{};
  Callback large([token, big, &calls] { calls += big[0] + 1; });
  HandleRef a = loop.call_soon(std::move(small));
  HandleRef b = loop.call_soon(std::move(large));
  EXPECT_FALSE(small);  // NOLINT: moved-from is empty
  EXPECT_FALSE(large);  // NOLINT
  EXPECT_EQ(token.use_count(), 3);
  loop.call_soon([&loop] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(calls, 2);
  a.reset();
  b.reset();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(HandleBlocks, CancelDropsTheCallableInPlaceAndOnTheHeap) {
  EventLoop loop;
  auto token = std::make_shared<int>(0);
  std::array<char, 100> big{};
  HandleRef small = loop.call_soon([token] {});
  TimerHandleRef large = loop.call_later(10, [token, big] {});
  EXPECT_EQ(token.use_count(), 3);
  small->cancel();
  large->cancel();
  EXPECT_EQ(token.use_count(), 1) << "cancel() drops the callable at once, as CPython does";
  EXPECT_EQ(large->repr(), "<TimerHandle cancelled when=" + py_repr(large->when()) + ">");
}

TEST(HandleBlocks, OwnedLabelsAndDebugHandlesAreFreedWithTheBlock) {
  EventLoop loop;
  loop.set_debug(true);
  HandleRef h = loop.call_soon([] {}, std::string("dynamic(1)"));
  EXPECT_NE(h->repr().find("<Handle dynamic(1) created at "), std::string::npos) << h->repr();
  loop.call_soon([&loop] { loop.stop(); });
  loop.run_forever();
  h.reset();  // ASan (asan preset) checks that the label and the origin record are freed
  HandleRef next = loop.call_soon([] {});
  EXPECT_NE(next->repr().find("created at "), std::string::npos) << "a reused block gets its own origin";
}
