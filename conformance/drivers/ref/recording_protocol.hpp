// RecordingProtocol: the driver's protocol for every transport kind (read and write pipes,
// sockets). Each protocol call becomes the trace event `NAME.method ARGS`, exactly as the
// Python driver's protocols.RecordingProtocol reports it:
//
//   NAME.connection_made
//   NAME.data_received COUNT DATA        (merged, see below)
//   NAME.eof_received
//   NAME.connection_lost None | TYPE MESSAGE
//   NAME.pause_writing / NAME.resume_writing
//
// Data is merged: received bytes are held and reported as one event just before the
// protocol's next other event, or when flush() is called (the runner flushes every protocol
// at the end of the scenario), so chunking never shows in a trace.
//
// Each event goes through Events::fire, which records it and runs the `on NAME.method`
// actions right after it, inside the protocol call: an action's `raise` propagates out of
// the protocol method into the transport, as a Python exception would.
#pragma once

#include <exception>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "loopcheck/protocols.hpp"
#include "loopcheck/transports.hpp"

namespace loopcheck::ref {

class RecordingProtocol : public Protocol {
 public:
  struct Events {
    // Records `TARGET ARGS` (TARGET is `NAME.method`) and runs the `on TARGET` actions.
    std::function<void(const std::string& target, nlohmann::json args)> fire;
    // Whether `on TARGET` actions exist (may be empty: none do).
    std::function<bool(const std::string& target)> has_actions;
  };
  struct Options {
    // What eof_received returns (CPython's default protocol returns None: false).
    bool eof_result = false;
    // Report each chunk at once when `on NAME.data_received` actions exist, so the actions
    // run inside data_received (the read pipe steps use this).
    bool chunk_when_watched = false;
    // Runs first in connection_made, e.g. to bind NAME to the transport so that
    // `on NAME.connection_made` actions can call its methods.
    std::function<void(BaseTransport&)> on_connection_made;
  };

  RecordingProtocol(std::string name, Events events, Options options);
  RecordingProtocol(std::string name, Events events) : RecordingProtocol(std::move(name), std::move(events), Options{}) {}

  const std::string& name() const noexcept { return name_; }
  // Every byte received so far (the `received NAME` step).
  const std::string& total() const noexcept { return total_; }
  // Reports the held bytes, if any, as one `NAME.data_received` event.
  void flush();

  void connection_made(BaseTransport& transport) override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;
  void data_received(std::span<const std::byte> data) override;
  bool eof_received() override;
  // The Python driver's protocol repr: `<protocols.RecordingProtocol object at 0x...>`.
  std::string repr() const override;

 private:
  // Flushes held data, then fires `NAME.kind ARGS`.
  void event(const std::string& kind, nlohmann::json args = nlohmann::json::array());

  std::string name_;
  Events events_;
  Options options_;
  std::string pending_;
  std::string total_;
};

// The EXC tokens of a protocol call: `None`, or the exception's type name and str().
nlohmann::json exception_args(const std::exception_ptr& exc);

}  // namespace loopcheck::ref
