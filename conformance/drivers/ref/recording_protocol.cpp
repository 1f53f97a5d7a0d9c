#include "recording_protocol.hpp"

#include <cstdio>
#include <utility>

#include "data.hpp"
#include "loopcheck/errors.hpp"

namespace loopcheck::ref {

nlohmann::json exception_args(const std::exception_ptr& exc) {
  if (!exc) return {"None"};
  return {exception_type_name(exc), exception_message(exc)};
}

RecordingProtocol::RecordingProtocol(std::string name, Events events, Options options)
    : name_(std::move(name)), events_(std::move(events)), options_(std::move(options)) {}

void RecordingProtocol::flush() {
  if (pending_.empty()) return;
  std::string data = std::exchange(pending_, {});
  events_.fire(name_ + ".data_received", data_args(data));
}

void RecordingProtocol::event(const std::string& kind, nlohmann::json args) {
  flush();
  events_.fire(name_ + "." + kind, std::move(args));
}

void RecordingProtocol::connection_made(BaseTransport& transport) {
  if (options_.on_connection_made) options_.on_connection_made(transport);
  event("connection_made");
}

void RecordingProtocol::connection_lost(std::exception_ptr exc) { event("connection_lost", exception_args(exc)); }

void RecordingProtocol::pause_writing() { event("pause_writing"); }

void RecordingProtocol::resume_writing() { event("resume_writing"); }

void RecordingProtocol::data_received(std::span<const std::byte> data) {
  const char* bytes = reinterpret_cast<const char*>(data.data());
  pending_.append(bytes, data.size());
  total_.append(bytes, data.size());
  if (options_.chunk_when_watched && events_.has_actions && events_.has_actions(name_ + ".data_received")) flush();
}

bool RecordingProtocol::eof_received() {
  event("eof_received");
  return options_.eof_result;
}

std::string RecordingProtocol::repr() const {
  char address[32];
  std::snprintf(address, sizeof address, "%p", static_cast<const void*>(this));
  return std::string("<protocols.RecordingProtocol object at ") + address + ">";
}

}  // namespace loopcheck::ref
