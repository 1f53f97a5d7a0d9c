// write_pipe_fuzzer's program: the steps a fuzz input decodes into, and how they read.
//
// FuzzedDataProvider takes integers from the END of the input, so a step is its bytes
// backwards: the last byte picks the kind (byte % kKinds), the bytes before it give the
// arguments in the order decode_step() asks for them. A size is a class byte (% 4: none,
// 1-600, 600-5000, 5000-20000) then two bytes for the value within the class.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sut/injected_writes.hpp"

namespace loopcheck::fuzz {

struct Step {
  enum class Kind : std::uint8_t {
    Write,         // transport.write(n bytes)
    Writelines,    // transport.writelines(the n bytes in `pieces` pieces)
    Passes,        // n loop passes, each checked
    Read,          // the test reads up to n bytes from the pipe itself
    Inject,        // the next write(2) gets `injection`
    Limits,        // set_write_buffer_limits(high, low)
    PauseReading,  // the read-pipe transport on the read end stops reading
    ResumeReading, // ... starts or resumes reading (made on first use)
    WriteEof,
    Close,
    Abort,
    Check,         // get_write_buffer_size() and the rest, with no action
  };
  static constexpr int kKinds = static_cast<int>(Kind::Check) + 1;

  Kind kind = Kind::Check;
  std::size_t n = 0;
  std::size_t pieces = 1;
  sut::InjectedWrites::Step injection = sut::InjectedWrites::Step::Short;
  std::optional<std::size_t> high, low;
};

inline std::size_t decode_size(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return 0;
    case 1: return in.ConsumeIntegralInRange<std::size_t>(1, 600);
    case 2: return in.ConsumeIntegralInRange<std::size_t>(600, 5000);
    default: return in.ConsumeIntegralInRange<std::size_t>(5000, 20000);
  }
}

// None or a mark in 0..12000 (a low above the high mark is a ValueError to check too).
inline std::optional<std::size_t> decode_mark(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return std::nullopt;
  return in.ConsumeIntegralInRange<std::size_t>(0, 12000);
}

inline Step decode_step(FuzzedDataProvider& in) {
  Step s;
  s.kind = static_cast<Step::Kind>(in.ConsumeIntegralInRange<int>(0, Step::kKinds - 1));
  switch (s.kind) {
    case Step::Kind::Write: s.n = decode_size(in); break;
    case Step::Kind::Writelines:
      s.pieces = in.ConsumeIntegralInRange<std::size_t>(0, 3);
      s.n = decode_size(in);
      break;
    case Step::Kind::Passes: s.n = in.ConsumeIntegralInRange<std::size_t>(1, 4); break;
    case Step::Kind::Read: s.n = in.ConsumeIntegralInRange<std::size_t>(1, 6000); break;
    case Step::Kind::Inject:
      s.injection = static_cast<sut::InjectedWrites::Step>(in.ConsumeIntegralInRange<int>(0, 3));
      if (s.injection == sut::InjectedWrites::Step::Short) s.n = in.ConsumeIntegralInRange<std::size_t>(0, 3000);
      break;
    case Step::Kind::Limits:
      s.high = decode_mark(in);
      s.low = decode_mark(in);
      break;
    default: break;
  }
  return s;
}

// Steps until the input runs out or there are max_steps.
inline std::vector<Step> decode_program(FuzzedDataProvider& in, std::size_t max_steps) {
  std::vector<Step> program;
  while (in.remaining_bytes() > 0 && program.size() < max_steps) program.push_back(decode_step(in));
  return program;
}

inline std::string show_mark(const std::optional<std::size_t>& mark) {
  return mark ? std::to_string(*mark) : "None";
}

inline std::string show_step(const Step& s) {
  switch (s.kind) {
    case Step::Kind::Write: return "write " + std::to_string(s.n);
    case Step::Kind::Writelines: return "writelines " + std::to_string(s.n) + " in " + std::to_string(s.pieces);
    case Step::Kind::Passes: return "passes " + std::to_string(s.n);
    case Step::Kind::Read: return "read " + std::to_string(s.n);
    case Step::Kind::Inject: {
      std::string shown = std::string("inject ") + sut::show(s.injection);
      if (s.injection == sut::InjectedWrites::Step::Short) shown += " " + std::to_string(s.n);
      return shown;
    }
    case Step::Kind::Limits: return "set_write_buffer_limits " + show_mark(s.high) + " " + show_mark(s.low);
    case Step::Kind::PauseReading: return "pause_reading";
    case Step::Kind::ResumeReading: return "resume_reading";
    case Step::Kind::WriteEof: return "write_eof";
    case Step::Kind::Close: return "close";
    case Step::Kind::Abort: return "abort";
    case Step::Kind::Check: return "check";
  }
  return "?";
}

}  // namespace loopcheck::fuzz
