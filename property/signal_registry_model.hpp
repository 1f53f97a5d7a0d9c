// A model of the loop's signal handler table and of the signal bytes in flight, and a
// driver that applies the same operation to the model and to a real EventLoop and compares
// them. Shared by the rapidcheck property (signal_registry_property.cpp) and the fuzzer
// (fuzz/signal_storm_fuzzer.cpp).
//
// Signals are raised with kill(getpid()) from the loop thread, so each one runs the C-level
// handler before kill returns and writes exactly one byte: the model can be exact. What it
// encodes (CPython's _handle_signal and remove_signal_handler):
// - a byte read while its signal has a live handler queues that handler's handle, which
//   runs in the next pass unless cancelled meanwhile (removal does not cancel it);
// - a byte whose handler was removed, or never added, does nothing;
// - a byte whose stored handle is cancelled removes the handler (SIG_DFL again);
// - the wakeup fd is the loop's self-pipe while any handler is registered, else off.
//
// Only signals libFuzzer leaves alone are used: SIGHUP, SIGWINCH, SIGURG and three
// real-time signals. SIGWINCH and SIGURG are ignored by default, so they may also be raised
// while no handler is installed.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "loopcheck/event_loop.hpp"
#include "loopcheck/signals.hpp"

namespace loopcheck::sigmodel {

inline std::vector<int> signals() { return {SIGHUP, SIGWINCH, SIGURG, SIGRTMIN + 2, SIGRTMIN + 5, SIGRTMAX - 1}; }
inline bool ignored_by_default(int sig) { return sig == SIGWINCH || sig == SIGURG; }

// Bytes allowed in the self-pipe between two passes: far below what the socket holds, so
// no byte is ever dropped and the model stays exact.
constexpr std::size_t kMaxPendingBytes = 96;

enum class Kind { Add, Remove, Cancel, Raise, Iterate };

struct Op {
  Kind kind;
  int sig = 0;
  int count = 1;
};

inline std::string show(const Op& op) {
  switch (op.kind) {
    case Kind::Add: return "add_signal_handler " + std::to_string(op.sig);
    case Kind::Remove: return "remove_signal_handler " + std::to_string(op.sig);
    case Kind::Cancel: return "cancel_signal_handle " + std::to_string(op.sig);
    case Kind::Raise: return "kill self " + std::to_string(op.sig) + " count=" + std::to_string(op.count);
    case Kind::Iterate: return "run_once " + std::to_string(op.count);
  }
  return "?";
}

struct Model {
  struct Entry {
    int gen;  // which add_signal_handler call made the handle
    bool cancelled;
  };
  std::map<int, Entry> table;
  std::vector<int> pending;       // signal bytes in the self-pipe, in write order
  std::vector<int> queued;        // handles (by gen) in the ready queue for the next pass
  std::set<int> cancelled_gens;
  int next_gen = 1;
  bool wakeup_on = false;

  // Whether `op` may be applied (raising a signal with SIG_DFL would end the process).
  bool allows(const Op& op) const {
    switch (op.kind) {
      case Kind::Cancel: return table.count(op.sig) != 0;
      case Kind::Raise:
        return (table.count(op.sig) != 0 || ignored_by_default(op.sig)) &&
               pending.size() + static_cast<std::size_t>(op.count) <= kMaxPendingBytes;
      default: return true;
    }
  }

  void erase(int sig) {
    table.erase(sig);
    if (table.empty()) wakeup_on = false;
  }

  // Applies `op`; returns the gens of handler runs it causes (Iterate), or {1}/{0} for the
  // result of Remove.
  std::vector<int> apply(const Op& op) {
    switch (op.kind) {
      case Kind::Add:
        table[op.sig] = Entry{next_gen++, false};
        wakeup_on = true;
        return {};
      case Kind::Remove: {
        bool had = table.count(op.sig) != 0;
        if (had) erase(op.sig);
        return {had ? 1 : 0};
      }
      case Kind::Cancel: {
        Entry& e = table.at(op.sig);
        e.cancelled = true;
        cancelled_gens.insert(e.gen);
        return {};
      }
      case Kind::Raise:
        if (table.count(op.sig) && wakeup_on) pending.insert(pending.end(), static_cast<std::size_t>(op.count), op.sig);
        return {};
      case Kind::Iterate: {
        std::vector<int> runs;
        for (int i = 0; i < op.count; ++i) pass(runs);
        return runs;
      }
    }
    return {};
  }

  // One loop pass: the handles queued by the previous pass run, then the self-pipe reader
  // dispatches the bytes.
  void pass(std::vector<int>& runs) {
    for (int gen : queued)
      if (!cancelled_gens.count(gen)) runs.push_back(gen);
    queued.clear();
    for (int sig : pending) {
      auto it = table.find(sig);
      if (it == table.end()) continue;
      if (it->second.cancelled)
        erase(sig);
      else
        queued.push_back(it->second.gen);
    }
    pending.clear();
  }
};

// The real loop plus what its handlers did.
class Sut {
 public:
  // Every signal starts at SIG_DFL (a parent such as nohup may have left SIGHUP ignored).
  Sut() {
    for (int sig : signals()) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(sig, &dfl, nullptr);
    }
  }
  ~Sut() {
    if (!loop.is_closed()) loop.close();
  }

  // Applies `op` to the loop; returns what the model's apply() returns for it.
  std::vector<int> apply(const Op& op, int gen_if_add) {
    switch (op.kind) {
      case Kind::Add:
        loop.add_signal_handler(op.sig, [this, gen_if_add] { runs.push_back(gen_if_add); });
        return {};
      case Kind::Remove: return {loop.remove_signal_handler(op.sig) ? 1 : 0};
      case Kind::Cancel: loop.signal_handler(op.sig)->cancel(); return {};
      case Kind::Raise:
        for (int i = 0; i < op.count; ++i) ::kill(::getpid(), op.sig);
        return {};
      case Kind::Iterate:
        runs.clear();
        for (int i = 0; i < op.count; ++i) {
          loop.stop();  // exactly one pass, polling with timeout 0
          loop.run_forever();
        }
        return std::move(runs);
    }
    return {};
  }

  EventLoop loop;
  std::vector<int> runs;
};

inline std::string show_runs(const std::vector<int>& v) {
  std::string s = "[";
  for (int g : v) s += (s.size() > 1 ? " " : "") + std::to_string(g);
  return s + "]";
}

// What the loop's process-wide state must be for `model`; "" when it is.
inline std::string check_state(const Model& model, Sut& sut) {
  int want_fd = model.wakeup_on ? sut.loop.self_pipe_write_fd() : -1;
  if (signal_wakeup_fd() != want_fd)
    return "wakeup fd is " + std::to_string(signal_wakeup_fd()) + ", expected " + std::to_string(want_fd);
  std::vector<int> registered = sut.loop.signal_handler_signals();
  std::sort(registered.begin(), registered.end());
  std::vector<int> expected;
  for (const auto& [sig, entry] : model.table) expected.push_back(sig);
  if (registered != expected) return "registered signals " + show_runs(registered) + ", expected " + show_runs(expected);
  for (int sig : signals()) {
    std::string want = model.table.count(sig) ? "python-handler" : "SIG_DFL";
    if (signal_disposition(sig) != want)
      return "disposition of " + std::to_string(sig) + " is " + std::string(signal_disposition(sig)) + ", expected " + want;
  }
  return "";
}

// Applies `op` to both; "" when they agree, else what differs.
inline std::string step(Model& model, Sut& sut, const Op& op) {
  int gen = model.next_gen;
  std::vector<int> want = model.apply(op);
  std::vector<int> got = sut.apply(op, gen);
  if (got != want) return show(op) + ": got " + show_runs(got) + ", expected " + show_runs(want);
  std::string state = check_state(model, sut);
  return state.empty() ? "" : show(op) + ": " + state;
}

// End of a program: drain what is in flight, then check that a signal raised while the loop
// is blocked in its poll (no timer due for 5 s) still reaches every live handler — no lost
// wakeup — and that close() restores every disposition and turns the wakeup fd off.
inline std::string finish(Model& model, Sut& sut) {
  std::string err = step(model, sut, Op{Kind::Iterate, 0, 2});
  if (!err.empty()) return "drain: " + err;
  for (const auto& [sig, entry] : std::map<int, Model::Entry>(model.table)) {
    ::kill(::getpid(), sig);
    bool ran = false;
    sut.runs.clear();
    TimerHandleRef guard = sut.loop.call_later(5.0, [] {});
    // A live handle: one pass reads the byte, the next runs it. A cancelled one: one pass.
    for (int pass = 0; pass < (entry.cancelled ? 1 : 2) && !ran; ++pass) {
      sut.loop.run_once();  // blocks in epoll until the wakeup byte (or the guard timer)
      ran = std::count(sut.runs.begin(), sut.runs.end(), entry.gen) > 0;
    }
    guard->cancel();
    if (entry.cancelled) {
      if (ran) return "cancelled handler of " + std::to_string(sig) + " ran";
      model.erase(sig);
    } else if (!ran) {
      return "lost wakeup: the handler of " + std::to_string(sig) + " did not run after the last delivery";
    }
    if (sut.runs.size() != (ran ? 1u : 0u)) return "unexpected runs " + show_runs(sut.runs);
  }
  sut.loop.close();
  if (signal_wakeup_fd() != -1) return "wakeup fd still set after close()";
  for (int sig : signals())
    if (signal_disposition(sig) != "SIG_DFL")
      return "disposition of " + std::to_string(sig) + " leaked after close(): " + std::string(signal_disposition(sig));
  return "";
}

}  // namespace loopcheck::sigmodel
