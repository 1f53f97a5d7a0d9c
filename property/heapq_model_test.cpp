// Checks the model's heapq against Python's heapq: fixed sequences whose results were
// recorded from CPython, and (when python3 is on PATH) random sequences replayed live.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "model/heapq.hpp"

namespace loopcheck::model {
namespace {

// An entry compared on `when` only, like asyncio's TimerHandle.__lt__.
struct Entry {
  double when;
  int id;
};
const auto by_when = [](const Entry& a, const Entry& b) { return a.when < b.when; };

std::vector<int> pop_all(std::vector<Entry>& heap, std::size_t n) {
  std::vector<int> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back(heappop(heap, by_when).id);
  return ids;
}

std::vector<int> ids_of(const std::vector<Entry>& heap) {
  std::vector<int> ids;
  for (const Entry& e : heap) ids.push_back(e.id);
  return ids;
}

// The expected lists below were recorded with CPython 3.11's heapq, pushing objects whose
// __lt__ compares `when` only:
//   h = []; [heapq.heappush(h, T(5.0, i)) for i in range(12)]; heapq.heappush(h, T(5.1, 12))
//   [heapq.heappop(h).i for _ in range(12)]
TEST(HeapqModel, TwelveEqualDeadlinesPlusOneLaterRunInHeapOrder) {
  std::vector<Entry> heap;
  for (int i = 0; i < 12; ++i) heappush(heap, Entry{5.0, i}, by_when);
  heappush(heap, Entry{5.1, 12}, by_when);
  EXPECT_EQ(pop_all(heap, 12), (std::vector<int>{0, 2, 6, 5, 11, 10, 9, 8, 7, 1, 3, 4}));
  EXPECT_EQ(ids_of(heap), (std::vector<int>{12}));
}

// Same as above without the 13th push.
TEST(HeapqModel, TwelveEqualDeadlinesRunInHeapOrder) {
  std::vector<Entry> heap;
  for (int i = 0; i < 12; ++i) heappush(heap, Entry{5.0, i}, by_when);
  EXPECT_EQ(pop_all(heap, 12), (std::vector<int>{0, 2, 6, 11, 10, 9, 8, 5, 7, 4, 1, 3}));
  EXPECT_TRUE(heap.empty());
}

// Recorded with CPython 3.11:
//   push T((i*7)%3, i) for i in 0..19; pop 5; push T(i%2, 20+i) for i in 0..9;
//   drop ids {1,4,7,22,25,28} and heapify (the loop's cancelled-timer rebuild); pop 9.
TEST(HeapqModel, PushPopRebuildMatchesPython) {
  std::vector<Entry> heap;
  for (int i = 0; i < 20; ++i) heappush(heap, Entry{static_cast<double>((i * 7) % 3), i}, by_when);
  std::vector<int> popped = pop_all(heap, 5);
  for (int i = 0; i < 10; ++i) heappush(heap, Entry{static_cast<double>(i % 2), 20 + i}, by_when);
  std::vector<Entry> kept;
  for (const Entry& e : heap)
    if (e.id != 1 && e.id != 4 && e.id != 7 && e.id != 22 && e.id != 25 && e.id != 28) kept.push_back(e);
  heapify(kept, by_when);
  for (int id : pop_all(kept, 9)) popped.push_back(id);
  EXPECT_EQ(popped, (std::vector<int>{0, 6, 12, 3, 9, 20, 15, 26, 24, 18, 23, 16, 21, 29}));
  EXPECT_EQ(ids_of(kept), (std::vector<int>{19, 13, 14, 27, 17, 8, 2, 10, 11, 5}));
}

// ---- live cross-check ----------------------------------------------------------------

// A random sequence of push (when from a tiny set, so ties abound), pop and heapify, as a
// Python program that prints each popped id and finally the heap array, one per line.
struct Program {
  std::string python;
  std::vector<int> expected_by_model;
};

Program random_program(std::mt19937& rng) {
  std::ostringstream py;
  py << "import heapq\n"
        "class T:\n"
        "    def __init__(s, w, i): s.w, s.i = w, i\n"
        "    def __lt__(s, o): return s.w < o.w\n"
        "h = []\n";
  std::vector<Entry> heap;
  std::vector<int> out;
  int next = 0;
  std::uniform_int_distribution<int> op(0, 9), when(0, 3);
  for (int step = 0; step < 200; ++step) {
    int o = op(rng);
    if (o < 6 || heap.empty()) {
      int w = when(rng);
      heappush(heap, Entry{static_cast<double>(w), next}, by_when);
      py << "heapq.heappush(h, T(" << w << ", " << next++ << "))\n";
    } else if (o < 9) {
      out.push_back(heappop(heap, by_when).id);
      py << "print(heapq.heappop(h).i)\n";
    } else {
      heapify(heap, by_when);
      py << "heapq.heapify(h)\n";
    }
  }
  for (int id : ids_of(heap)) out.push_back(id);
  py << "for t in h: print(t.i)\n";
  return {py.str(), out};
}

bool python3_available() { return std::system("python3 -c 'import heapq' >/dev/null 2>&1") == 0; }

std::vector<int> run_python(const std::string& source) {
  auto path = std::filesystem::temp_directory_path() / ("loopcheck_heapq_" + std::to_string(::getpid()) + ".py");
  std::ofstream(path) << source;
  std::vector<int> ids;
  if (FILE* p = ::popen(("python3 " + path.string()).c_str(), "r")) {
    int id;
    while (std::fscanf(p, "%d", &id) == 1) ids.push_back(id);
    ::pclose(p);
  }
  std::filesystem::remove(path);
  return ids;
}

TEST(HeapqModel, RandomSequencesMatchLivePython) {
  if (!python3_available()) GTEST_SKIP() << "python3 not on PATH";
  std::mt19937 rng(20251123);
  for (int round = 0; round < 20; ++round) {
    Program program = random_program(rng);
    ASSERT_EQ(run_python(program.python), program.expected_by_model) << "round " << round << "\n" << program.python;
  }
}

}  // namespace
}  // namespace loopcheck::model
