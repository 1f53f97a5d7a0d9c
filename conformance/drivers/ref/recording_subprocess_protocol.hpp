// RecordingSubprocessProtocol: the driver's subprocess protocol, reporting each call as
// `NAME.method ARGS` as the Python driver's protocols.RecordingSubprocessProtocol does.
// Received bytes are held per fd and reported as one `NAME.pipe_data_received FD COUNT DATA`
// just before that fd's pipe_connection_lost, else (every fd, in fd order) before
// connection_lost or when flush() is called at the end of the scenario.
#pragma once

#include <exception>
#include <map>
#include <string>

#include "loopcheck/protocols.hpp"
#include "recording_protocol.hpp"

namespace loopcheck::ref {

class RecordingSubprocessProtocol : public SubprocessProtocol {
 public:
  RecordingSubprocessProtocol(std::string name, RecordingProtocol::Events events)
      : name_(std::move(name)), events_(std::move(events)) {}

  void flush();
  void connection_made(BaseTransport& transport) override;
  void pipe_data_received(int fd, std::span<const std::byte> data) override;
  void pipe_connection_lost(int fd, std::exception_ptr exc) override;
  void process_exited() override;
  void connection_lost(std::exception_ptr exc) override;
  void pause_writing() override;
  void resume_writing() override;

 private:
  void flush_fd(int fd);
  void fire(const std::string& kind, nlohmann::json args = nlohmann::json::array());

  std::string name_;
  RecordingProtocol::Events events_;
  std::map<int, std::string> pending_;
};

}  // namespace loopcheck::ref
