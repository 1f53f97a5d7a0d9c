// Fuzz target: partial pipe writes on the reference loop's UnixWritePipeTransport. The input
// decodes into a program (write_pipe_program.hpp): write / writelines of n bytes, loop
// passes, reads of k bytes from the pipe, a short write / EAGAIN / EINTR / EPIPE injected
// into the next write(2) through the syscall seam, set_write_buffer_limits, pause/resume of
// a read-pipe transport on the read end, write_eof, close, abort and plain checks. The pipe
// holds 4096 bytes, so writes also go partial on their own.
//
// It runs on property/sut/write_pipe_sut.hpp, the harness of the rapidcheck property, which
// checks after every step: buffer size == accepted - taken by the kernel, pause_writing and
// resume_writing once per crossing of the marks (as CPython's _UnixWritePipeTransport),
// connection_lost once and only after close/abort/an error, the _conn_lost count and its
// warnings; at the end: every accepted byte read back in order (up to what the kernel held
// at an abort or error), no handle, watch or reference left in the loop. Here also: no fd
// left open (/proc/self/fd before and after).
//
// A failure prints the program and what went wrong, then aborts. Loop passes never block
// (a ready callback makes the poll's timeout zero) and the pipe is nonblocking, so every
// input ends. With LOOPCHECK_FUZZ_SHOW=1 in the environment every input's program is
// printed (to read a corpus file or a crash input).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "loopcheck/errors.hpp"
#include "sut/write_pipe_sut.hpp"
#include "write_pipe_program.hpp"

namespace {

using loopcheck::fuzz::Step;
using loopcheck::sut::WritePipeSut;

constexpr std::size_t kMaxSteps = 128;

std::string show_program(const std::vector<Step>& program) {
  std::string shown;
  for (const Step& s : program) shown += "  " + loopcheck::fuzz::show_step(s) + "\n";
  return shown;
}

[[noreturn]] void fail(const std::vector<Step>& program, const std::string& where, const std::string& what) {
  std::fprintf(stderr, "write_pipe_fuzzer: %s: %s\nprogram:\n%s", where.c_str(), what.c_str(),
               show_program(program).c_str());
  std::abort();
}

std::string apply(WritePipeSut& sut, const Step& s) {
  switch (s.kind) {
    case Step::Kind::Write: return sut.write(s.n, false, 1);
    case Step::Kind::Writelines: return sut.write(s.n, true, s.pieces);
    case Step::Kind::Passes:
      for (std::size_t i = 0; i < s.n; ++i) {
        std::string err = sut.run_pass();
        if (!err.empty()) return err;
      }
      return "";
    case Step::Kind::Read: return sut.read(s.n);
    case Step::Kind::Inject: sut.sys.script.push_back({s.injection, s.n}); return "";
    case Step::Kind::Limits: return sut.limits(s.high, s.low);
    case Step::Kind::PauseReading: return sut.pause_reading();
    case Step::Kind::ResumeReading: return sut.resume_reading();
    case Step::Kind::WriteEof: return sut.write_eof(false);
    case Step::Kind::Close: return sut.write_eof(true);
    case Step::Kind::Abort: return sut.abort();
    case Step::Kind::Check: return sut.check({}, "check");
  }
  return "unknown step";
}

// What an unexpected exception says (the transport raising where CPython would not).
std::string describe(std::exception_ptr exc) {
  return "raised " + loopcheck::format_exception_only(exc);
}

// What a program did, for LOOPCHECK_FUZZ_SHOW: bytes through and the protocol's events.
std::string summary(const WritePipeSut& sut) {
  std::string events;
  for (const std::string& e : sut.proto->events) events += (events.empty() ? "" : " ") + e;
  return "(" + std::to_string(sut.expected.size()) + " bytes through; " + events + ")\n";
}

void run(const std::vector<Step>& program, bool show) {
  WritePipeSut sut;
  for (std::size_t i = 0; i < program.size(); ++i) {
    const std::string where = "step " + std::to_string(i + 1) + " `" + loopcheck::fuzz::show_step(program[i]) + "`";
    std::string err;
    try {
      err = apply(sut, program[i]);
    } catch (...) {
      err = describe(std::current_exception());
    }
    if (!err.empty()) fail(program, where, err);
  }
  std::string err;
  try {
    err = sut.finish();
  } catch (...) {
    err = describe(std::current_exception());
  }
  if (!err.empty()) fail(program, "at the end", err);
  if (show) std::fprintf(stderr, "%s", summary(sut).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool show = std::getenv("LOOPCHECK_FUZZ_SHOW") != nullptr;
  FuzzedDataProvider input(data, size);
  const std::vector<Step> program = loopcheck::fuzz::decode_program(input, kMaxSteps);
  if (show) std::fprintf(stderr, "program (%zu steps):\n%s", program.size(), show_program(program).c_str());
  const std::size_t fds_before = loopcheck::sut::open_fds();
  run(program, show);
  const std::size_t fds_after = loopcheck::sut::open_fds();
  if (fds_after != fds_before)
    fail(program, "after the program", std::to_string(fds_before) + " fds open before, " + std::to_string(fds_after) + " after");
  return 0;
}
