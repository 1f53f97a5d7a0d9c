// Fuzz target: signal storms against the reference loop's signal machinery. The input is a
// program of two-byte operations: add/remove/cancel a handler, raise a signal N times at
// the process (kill(getpid())), run N loop passes. Each operation is applied to the real
// EventLoop and to the model in property/signal_registry_model.hpp, and they must agree
// after every step: which handlers ran, in which order, the registered signals, each
// signal's disposition and the process-wide wakeup fd. At the end, a signal raised while
// the loop is blocked in epoll must reach every live handler (no lost wakeup), and after
// close() every disposition is SIG_DFL again and the wakeup fd is off.
//
// Signals used: SIGHUP, SIGWINCH, SIGURG, SIGRTMIN+2, SIGRTMIN+5, SIGRTMAX-1 — none of them
// is touched by libFuzzer (which owns SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM and the
// crash signals). A disagreement prints the program and aborts.
//
// Byte layout of one operation: b0 % 5 = kind (add, remove, cancel, raise, run passes),
// (b0 / 5) % 6 = which signal; b1 = count (raise: 1 + b1 % 32, passes: 1 + b1 % 3).
// Operations the model forbids (raising a signal whose default action would end the
// process, cancelling a handler that does not exist, overfilling the self-pipe) are
// skipped. With LOOPCHECK_FUZZ_SHOW=1 every input's program is printed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "signal_registry_model.hpp"

namespace {

using loopcheck::sigmodel::Kind;
using loopcheck::sigmodel::Op;

constexpr std::size_t kMaxOps = 256;

std::vector<Op> decode(const std::uint8_t* data, std::size_t size) {
  const std::vector<int> sigs = loopcheck::sigmodel::signals();
  std::vector<Op> ops;
  for (std::size_t i = 0; i + 1 < size && ops.size() < kMaxOps; i += 2) {
    Op op{static_cast<Kind>(data[i] % 5), sigs[(data[i] / 5) % sigs.size()], 1};
    if (op.kind == Kind::Raise) op.count = 1 + data[i + 1] % 32;
    if (op.kind == Kind::Iterate) op.count = 1 + data[i + 1] % 3;
    ops.push_back(op);
  }
  return ops;
}

[[noreturn]] void fail(const std::vector<Op>& done, const std::string& what) {
  std::fprintf(stderr, "signal_storm_fuzzer: the loop and the model disagree: %s\nprogram:\n", what.c_str());
  for (const Op& op : done) std::fprintf(stderr, "  %s\n", loopcheck::sigmodel::show(op).c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool show = std::getenv("LOOPCHECK_FUZZ_SHOW") != nullptr;
  loopcheck::sigmodel::Model model;
  loopcheck::sigmodel::Sut sut;
  std::vector<Op> done;
  for (const Op& op : decode(data, size)) {
    if (!model.allows(op)) continue;
    done.push_back(op);
    if (show) std::fprintf(stderr, "%s\n", loopcheck::sigmodel::show(op).c_str());
    std::string err = loopcheck::sigmodel::step(model, sut, op);
    if (!err.empty()) fail(done, err);
  }
  std::string err = loopcheck::sigmodel::finish(model, sut);
  if (!err.empty()) fail(done, err);
  return 0;
}
