// The delays of the timers_random workload: uniform in [1 ms, 5 ms] from a fixed seed, so
// every C++ family schedules the same sequence (the Python bench uses its own fixed seed).
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace loopcheck::bench {

inline constexpr double kMinDelay = 0.001;  // seconds
inline constexpr double kMaxDelay = 0.005;

inline std::vector<double> random_delays(std::size_t n) {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> dist(kMinDelay, kMaxDelay);
  std::vector<double> delays(n);
  for (double& d : delays) d = dist(rng);
  return delays;
}

}  // namespace loopcheck::bench
