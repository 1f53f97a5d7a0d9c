#include "rate_reporter.hpp"

#include <algorithm>

namespace loopcheck::bench {

void RateReporter::ReportRuns(const std::vector<Run>& runs) {
  for (const Run& run : runs) {
    if (run.run_type != Run::RT_Iteration) continue;  // mean/stddev rows of repetitions
    Result& result = results_[run.run_name.function_name];
    if (run.error_occurred) {
      result.error = run.error_message;
      continue;
    }
    auto items = run.counters.find("items");
    if (items == run.counters.end() || run.real_accumulated_time <= 0) {
      result.error = "no item count or no elapsed time";
      continue;
    }
    result.rate = std::max(result.rate, items->second.value / run.real_accumulated_time);
  }
}

}  // namespace loopcheck::bench
