#include "workload.hpp"

namespace loopcheck::bench {

std::vector<Workload>& workloads() {
  // Function-local so registration from any translation unit's static initialiser is safe.
  static std::vector<Workload> registry;
  return registry;
}

int register_workload(const char* name, const char* unit, WorkloadFn run) {
  workloads().push_back(Workload{name, unit, run});
  return 0;
}

const char* impl_name() { return LOOPCHECK_BENCH_IMPL; }

}  // namespace loopcheck::bench
