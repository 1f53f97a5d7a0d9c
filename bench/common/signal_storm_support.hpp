// Shared by the signal_storm workloads: a forked sender that sends N SIGUSR1 to this
// process, a pidfd to see it exit, and the probe-delay statistics every family reports.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <vector>

#include <benchmark/benchmark.h>

namespace loopcheck::bench {

// A child that sends `count` SIGUSR1 to the parent as fast as it can, then exits.
class StormSender {
 public:
  explicit StormSender(long count) {
    pid_ = ::fork();
    if (pid_ == 0) {
      pid_t parent = ::getppid();
      for (long i = 0; i < count; ++i) ::kill(parent, SIGUSR1);
      ::_exit(0);
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  }
  ~StormSender() {
    if (pidfd_ >= 0) ::close(pidfd_);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  StormSender(const StormSender&) = delete;
  StormSender& operator=(const StormSender&) = delete;
  int pidfd() const noexcept { return pidfd_; }

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
};

inline double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Probe delays (scheduled -> ran, microseconds) and handler runs of one storm.
struct StormStats {
  std::vector<double> delays;
  long handler_runs = 0;
  long lost_final_wakeups = 0;

  void report(benchmark::State& state, const char* impl) {
    std::sort(delays.begin(), delays.end());
    double p99 = delays.empty() ? 0 : delays[std::min(delays.size() - 1, delays.size() * 99 / 100)];
    double worst = delays.empty() ? 0 : delays.back();
    state.counters["handler_runs"] = static_cast<double>(handler_runs);
    state.counters["probe_p99_us"] = p99;
    state.counters["probe_worst_us"] = worst;
    state.counters["lost_final_wakeups"] = static_cast<double>(lost_final_wakeups);
    std::fprintf(stderr, "signal_storm %s: handler runs %ld, probes %zu, probe delay p99 %.1f us, worst %.1f us, lost final wakeups %ld\n",
                 impl, handler_runs, delays.size(), p99, worst, lost_final_wakeups);
    delays.clear();
    handler_runs = 0;
    lost_final_wakeups = 0;
  }
};

}  // namespace loopcheck::bench
