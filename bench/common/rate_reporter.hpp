// RateReporter: a Google Benchmark reporter that keeps one rate per workload.
//
// The rate is items / wall-clock seconds (real time, not CPU time: a loop waiting in
// epoll_wait for a timer is still busy with the workload). With repetitions, the best
// repetition is kept.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace loopcheck::bench {

class RateReporter : public benchmark::BenchmarkReporter {
 public:
  struct Result {
    double rate = 0;  // items per second
    std::string error;
  };

  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override;

  // Keyed by workload name (the benchmark's function name).
  const std::map<std::string, Result>& results() const noexcept { return results_; }

 private:
  std::map<std::string, Result> results_;
};

}  // namespace loopcheck::bench
