// signal_round_trip on libuv: a uv_signal_t watcher whose callback sends the next SIGUSR1
// (libuv's own signal pipe carries it to the loop).
#include <signal.h>
#include <unistd.h>

#include "../common/workload.hpp"
#include "uv_loop.hpp"

namespace loopcheck::bench::libuv {
namespace {

struct Trip {
  uv_signal_t sig;
  std::size_t count = 0;
  std::size_t n = 0;
};

void on_signal(uv_signal_t* handle, int) {
  auto* trip = static_cast<Trip*>(handle->data);
  if (++trip->count < trip->n)
    ::kill(::getpid(), SIGUSR1);
  else
    uv_signal_stop(handle);  // no active handle left: uv_run returns
}

void signal_round_trip(benchmark::State& state, std::size_t n) {
  UvLoop loop;
  Trip trip;
  trip.n = n;
  uv_signal_init(loop.get(), &trip.sig);
  trip.sig.data = &trip;
  measure(state, n, [&] {
    trip.count = 0;
    uv_signal_start(&trip.sig, on_signal, SIGUSR1);
    ::kill(::getpid(), SIGUSR1);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    return trip.count;
  });
  loop.close_handles();
}

}  // namespace
}  // namespace loopcheck::bench::libuv

LOOPCHECK_BENCH_WORKLOAD("signal_round_trip", "callbacks/s", loopcheck::bench::libuv::signal_round_trip);
