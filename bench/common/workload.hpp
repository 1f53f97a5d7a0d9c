// Workload registry of a bench binary.
//
// Each implementation family (ref, raw, libuv) is one executable; every workload it knows
// is one small .cpp file that registers itself with LOOPCHECK_BENCH_WORKLOAD. bench_main
// turns the registered workloads into Google Benchmark runs and prints their rates.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <string>
#include <vector>

namespace loopcheck::bench {

// Runs workload `n` times (callbacks, timers, ...) inside the benchmark's timed loop.
using WorkloadFn = void (*)(benchmark::State& state, std::size_t n);

struct Workload {
  std::string name;  // e.g. "call_soon_chained"; the same name in every family
  std::string unit;  // unit of the rate, e.g. "callbacks/s"
  WorkloadFn run;
};

// Every workload registered in this binary, in registration order.
std::vector<Workload>& workloads();

// Called by LOOPCHECK_BENCH_WORKLOAD at static-initialisation time.
int register_workload(const char* name, const char* unit, WorkloadFn run);

// The family name compiled into this binary ("ref", "raw", "libuv").
const char* impl_name();

// Runs `once()` untimed as a warm-up (page faults, free lists, grown buffers), then timed
// in Google Benchmark's loop. `once()` returns how many callbacks ran; anything but `n`
// marks the run as failed, so a broken workload never reports a rate.
template <class Once>
void measure(benchmark::State& state, std::size_t n, Once&& once) {
  if (once() != n) {
    state.SkipWithError("warm-up run did not complete every callback");
    return;
  }
  for (auto _ : state) {
    if (once() != n) {
      state.SkipWithError("timed run did not complete every callback");
      break;
    }
  }
  state.counters["items"] = benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()));
}

}  // namespace loopcheck::bench

#define LOOPCHECK_BENCH_CONCAT_(a, b) a##b
#define LOOPCHECK_BENCH_CONCAT(a, b) LOOPCHECK_BENCH_CONCAT_(a, b)
// One registry line per workload file: LOOPCHECK_BENCH_WORKLOAD("call_soon_chained", "callbacks/s", fn);
#define LOOPCHECK_BENCH_WORKLOAD(name, unit, fn)                                               \
  [[maybe_unused]] static const int LOOPCHECK_BENCH_CONCAT(loopcheck_bench_registered_, __LINE__) = \
      ::loopcheck::bench::register_workload(name, unit, fn)
