// Stateful property: random sequences of write / writelines / set_write_buffer_limits /
// slow reads / loop passes / injected short writes, EAGAIN and EINTR / write_eof / close /
// abort on a UnixWritePipeTransport whose pipe holds 4096 bytes, so writes go partial on
// their own. The transport, the pipe and the checks made after every step and at the end
// are in sut/write_pipe_sut.hpp (shared with fuzz/write_pipe_fuzzer.cpp); this file only
// generates the programs.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "sut/write_pipe_sut.hpp"

namespace {

using loopcheck::sut::InjectedWrites;
using loopcheck::sut::open_fds;
using Sut = loopcheck::sut::WritePipeSut;

// The rapidcheck model: only what is known without the kernel.
struct Model {
  bool aborted = false;
};

enum class Kind { Write, Writelines, Limits, Read, Pass, Inject, WriteEof, Close, Abort };

struct PipeCommand : rc::state::Command<Model, Sut> {
  Kind kind;
  std::size_t n = 0, pieces = 1;
  std::optional<std::size_t> high, low;
  InjectedWrites::Step step = InjectedWrites::Step::Short;

  void checkPreconditions(const Model& m) const override {
    if (kind == Kind::Abort) RC_PRE(!m.aborted);
  }
  void apply(Model& m) const override {
    if (kind == Kind::Abort) m.aborted = true;
  }
  void run(const Model&, Sut& sut) const override {
    std::string err;
    switch (kind) {
      case Kind::Write: err = sut.write(n, false, 1); break;
      case Kind::Writelines: err = sut.write(n, true, pieces); break;
      case Kind::Limits: err = sut.limits(high, low); break;
      case Kind::Read: err = sut.read(n); break;
      case Kind::Pass: err = sut.run_pass(); break;
      case Kind::Inject: sut.sys.script.push_back({step, n}); break;
      case Kind::WriteEof: err = sut.write_eof(false); break;
      case Kind::Close: err = sut.write_eof(true); break;
      case Kind::Abort: err = sut.abort(); break;
    }
    RC_ASSERT(err == "");
  }
  void show(std::ostream& os) const override {
    switch (kind) {
      case Kind::Write: os << "write " << n; break;
      case Kind::Writelines: os << "writelines " << n << " in " << pieces; break;
      case Kind::Limits:
        os << "set_write_buffer_limits " << (high ? std::to_string(*high) : "None") << " "
           << (low ? std::to_string(*low) : "None");
        break;
      case Kind::Read: os << "read " << n; break;
      case Kind::Pass: os << "pass"; break;
      case Kind::Inject:
        os << "inject " << loopcheck::sut::show(step);
        if (step == InjectedWrites::Step::Short) os << " " << n;
        break;
      case Kind::WriteEof: os << "write_eof"; break;
      case Kind::Close: os << "close"; break;
      case Kind::Abort: os << "abort"; break;
    }
  }
};

rc::Gen<std::size_t> size_gen() {
  return rc::gen::weightedOneOf<std::size_t>({{1, rc::gen::just<std::size_t>(0)},
                                              {4, rc::gen::inRange<std::size_t>(1, 600)},
                                              {3, rc::gen::inRange<std::size_t>(600, 5000)},
                                              {1, rc::gen::inRange<std::size_t>(5000, 20000)}});
}
rc::Gen<std::optional<std::size_t>> mark_gen() {
  return rc::gen::weightedOneOf<std::optional<std::size_t>>(
      {{1, rc::gen::just<std::optional<std::size_t>>(std::nullopt)},
       {4, rc::gen::map(rc::gen::inRange<std::size_t>(0, 12000), [](std::size_t v) { return std::optional(v); })}});
}

struct Write : PipeCommand {
  Write() { kind = Kind::Write, n = *size_gen(); }
};
struct Writelines : PipeCommand {
  Writelines() { kind = Kind::Writelines, n = *size_gen(), pieces = *rc::gen::inRange<std::size_t>(0, 4); }
};
struct Limits : PipeCommand {
  Limits() { kind = Kind::Limits, high = *mark_gen(), low = *mark_gen(); }
};
struct Read : PipeCommand {
  Read() { kind = Kind::Read, n = *rc::gen::inRange<std::size_t>(1, 6000); }
};
struct Pass : PipeCommand {
  Pass() { kind = Kind::Pass; }
};
struct Inject : PipeCommand {
  Inject() {
    kind = Kind::Inject;
    step = *rc::gen::element(InjectedWrites::Step::Short, InjectedWrites::Step::Eagain, InjectedWrites::Step::Eintr);
    n = *rc::gen::inRange<std::size_t>(0, 3000);
  }
};
struct WriteEof : PipeCommand {
  WriteEof() { kind = Kind::WriteEof; }
};
struct Close : PipeCommand {
  Close() { kind = Kind::Close; }
};
struct Abort : PipeCommand {
  Abort() { kind = Kind::Abort; }
};

RC_GTEST_PROP(WritePipe, PartialWritesKeepOrderBufferAndFlowControl, ()) {
  const Model initial;
  // write_eof/close/abort are rare: after them every write is dropped.
  auto commands = *rc::state::gen::commands(initial, [](const Model& m) {
    namespace sg = rc::state::gen;
    return rc::gen::weightedOneOf<std::shared_ptr<const rc::state::Command<Model, Sut>>>(
        {{6, sg::execOneOfWithArgs<Write>()(m)},
         {2, sg::execOneOfWithArgs<Writelines>()(m)},
         {2, sg::execOneOfWithArgs<Limits>()(m)},
         {5, sg::execOneOfWithArgs<Read>()(m)},
         {5, sg::execOneOfWithArgs<Pass>()(m)},
         {2, sg::execOneOfWithArgs<Inject>()(m)},
         {1, sg::execOneOfWithArgs<WriteEof, Close, Abort>()(m)}});
  });
  const std::size_t fds_before = open_fds();
  {
    Sut sut;
    rc::state::runAll(commands, initial, sut);
    std::string err = sut.finish();
    RC_ASSERT(err == "");
    RC_CLASSIFY(sut.buffered, "buffered");
    RC_CLASSIFY(std::count(sut.proto->events.begin(), sut.proto->events.end(), std::string("resume_writing")) > 0,
                "resumed");
    RC_CLASSIFY(sut.aborted, "aborted");
    RC_CLASSIFY(sut.expected.size() > 20000, "over 20000 bytes through");
    RC_CLASSIFY(sut.lost_calls > 1, "second _call_connection_lost");
  }
  RC_ASSERT(open_fds() == fds_before);  // both pipe ends, the loop's own fds
}

}  // namespace
