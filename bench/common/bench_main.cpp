// main() of every bench binary: selects workloads, runs them under Google Benchmark and
// prints a JSON list of {"workload", "impl", "value", "unit"} on stdout (value: a
// higher-is-better rate). Diagnostics go to stderr; the exit status is non-zero when a
// workload fails or an argument is wrong.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rate_reporter.hpp"
#include "workload.hpp"

namespace {

using loopcheck::bench::impl_name;
using loopcheck::bench::workloads;

struct Options {
  std::set<std::string> selected;  // empty: every workload
  std::size_t n = 1'000'000;
  bool list = false;
  std::vector<char*> passthrough;  // --benchmark_* flags for Google Benchmark
};

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--workload NAME]... [--n N] [--list] [--benchmark_* flags]\n"
               "Runs the '%s' implementation of each selected workload (default: all) once\n"
               "untimed, then timed, with N callbacks (default 1000000), and prints a JSON list\n"
               "of {\"workload\", \"impl\", \"value\", \"unit\"} rates on stdout.\n",
               argv0, impl_name());
}

// Returns false (after printing why) on a bad argument.
bool parse(int argc, char** argv, Options& opt) {
  opt.passthrough.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--workload") {
      const char* v = value();
      if (!v) return std::fprintf(stderr, "--workload needs a name\n"), false;
      opt.selected.insert(v);
    } else if (a == "--n") {
      const char* v = value();
      char* end = nullptr;
      unsigned long long n = v ? std::strtoull(v, &end, 10) : 0;
      if (!v || *end != '\0' || n == 0) return std::fprintf(stderr, "--n needs a positive integer\n"), false;
      opt.n = n;
    } else if (a == "--list") {
      opt.list = true;
    } else if (a == "-h" || a == "--help") {
      usage(argv[0]);
      std::exit(0);
    } else if (a.starts_with("--benchmark_")) {
      opt.passthrough.push_back(argv[i]);
    } else {
      return std::fprintf(stderr, "unknown argument '%s' (see --help)\n", argv[i]), false;
    }
  }
  for (const std::string& name : opt.selected) {
    bool known = false;
    for (const auto& w : workloads()) known = known || w.name == name;
    if (!known) return std::fprintf(stderr, "no workload '%s' in the %s benchmarks\n", name.c_str(), impl_name()), false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) return 2;
  if (opt.list) {
    for (const auto& w : workloads()) std::printf("%s\n", w.name.c_str());
    return 0;
  }

  int bargc = static_cast<int>(opt.passthrough.size());
  benchmark::Initialize(&bargc, opt.passthrough.data());
  if (benchmark::ReportUnrecognizedArguments(bargc, opt.passthrough.data())) return 2;

  std::vector<const loopcheck::bench::Workload*> chosen;
  for (const auto& w : workloads()) {
    if (!opt.selected.empty() && !opt.selected.count(w.name)) continue;
    chosen.push_back(&w);
    const std::size_t n = opt.n;
    auto run = w.run;
    // One timed iteration of N callbacks per repetition; Google Benchmark's adaptive
    // iteration count would multiply the run time of the slow workloads.
    benchmark::RegisterBenchmark(w.name.c_str(), [run, n](benchmark::State& s) { run(s, n); })
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }

  loopcheck::bench::RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int status = 0;
  for (const auto* w : chosen) {
    auto it = reporter.results().find(w->name);
    if (it == reporter.results().end() || !it->second.error.empty()) {
      std::fprintf(stderr, "%s/%s failed: %s\n", w->name.c_str(), impl_name(),
                   it == reporter.results().end() ? "did not run" : it->second.error.c_str());
      status = 1;
      continue;
    }
    out.push_back({{"workload", w->name}, {"impl", impl_name()}, {"value", it->second.rate}, {"unit", w->unit}});
  }
  std::cout << out.dump(1) << std::endl;
  return status;
}
