// Callback (inline or heap storage, move-only) and Label.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "loopcheck/callback.hpp"
#include "loopcheck/handle.hpp"

using namespace loopcheck;

TEST(Callback, SmallCallableRunsAndIsDestroyedOnReset) {
  auto token = std::make_shared<int>(0);
  int calls = 0;
  Callback cb([token, &calls] { ++calls; });
  EXPECT_TRUE(cb);
  EXPECT_EQ(token.use_count(), 2);
  cb();
  cb();
  EXPECT_EQ(calls, 2);
  cb.reset();
  EXPECT_FALSE(cb);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Callback, LargeCallableGoesToHeapAndMoves) {
  auto token = std::make_shared<int>(0);
  std::array<char, 200> big{};
  big[0] = 'x';
  char seen = 0;
  Callback a([big, token, &seen] { seen = big[0]; });
  Callback b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT: moved-from state is defined (empty)
  b();
  EXPECT_EQ(seen, 'x');
  EXPECT_EQ(token.use_count(), 2);
  Callback c;
  c = std::move(b);
  EXPECT_EQ(token.use_count(), 2);
  c = Callback();
  EXPECT_EQ(token.use_count(), 1);
}

TEST(Callback, MoveOnlyCaptures) {
  auto p = std::make_unique<int>(7);
  int got = 0;
  Callback cb([p = std::move(p), &got] { got = *p; });
  Callback moved = std::move(cb);
  moved();
  EXPECT_EQ(got, 7);
}

TEST(Label, LiteralOwnedAndDefault) {
  Label none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.view(), "<callback>");
  Label lit("f()");
  EXPECT_EQ(lit.view(), "f()");
  std::string dynamic = "g(1)";
  Label owned(dynamic);
  dynamic = "changed";
  EXPECT_EQ(owned.view(), "g(1)");
  Label copy = owned;
  EXPECT_EQ(copy.view(), "g(1)");
  Label empty_owned(std::string{});
  EXPECT_EQ(empty_owned.view(), "<callback>");
}

TEST(Handle, UnboundHandleCancelAndRepr) {
  auto token = std::make_shared<int>(0);
  HandleRef h = Handle::make([token] {}, "cb()", nullptr);
  EXPECT_EQ(h->repr(), "<Handle cb()>");
  EXPECT_EQ(token.use_count(), 2);
  h->cancel();
  EXPECT_TRUE(h->cancelled());
  EXPECT_EQ(token.use_count(), 1) << "cancel drops the callback, as CPython does";
  EXPECT_EQ(h->repr(), "<Handle cancelled>");
  h->invoke();  // a cancelled handle does nothing
}

TEST(Handle, RefCounting) {
  auto token = std::make_shared<int>(0);
  HandleRef a = Handle::make([token] {}, {}, nullptr);
  {
    HandleRef b = a;
    HandleRef c = std::move(b);
    EXPECT_FALSE(b);  // NOLINT
    EXPECT_EQ(c, a);
  }
  EXPECT_EQ(token.use_count(), 2);
  a.reset();
  EXPECT_EQ(token.use_count(), 1);
}
