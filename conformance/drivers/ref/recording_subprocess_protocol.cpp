#include "recording_subprocess_protocol.hpp"

#include "data.hpp"

namespace loopcheck::ref {

void RecordingSubprocessProtocol::fire(const std::string& kind, nlohmann::json args) {
  events_.fire(name_ + "." + kind, std::move(args));
}

void RecordingSubprocessProtocol::flush_fd(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  std::string data = std::move(it->second);
  pending_.erase(it);
  if (data.empty()) return;
  nlohmann::json args = {fd};
  for (auto& a : data_args(data)) args.push_back(a);
  fire("pipe_data_received", std::move(args));
}

void RecordingSubprocessProtocol::flush() {
  while (!pending_.empty()) flush_fd(pending_.begin()->first);
}

void RecordingSubprocessProtocol::connection_made(BaseTransport&) { fire("connection_made"); }

void RecordingSubprocessProtocol::pipe_data_received(int fd, std::span<const std::byte> data) {
  pending_[fd].append(reinterpret_cast<const char*>(data.data()), data.size());
}

void RecordingSubprocessProtocol::pipe_connection_lost(int fd, std::exception_ptr exc) {
  flush_fd(fd);
  nlohmann::json args = {fd};
  for (auto& a : exception_args(exc)) args.push_back(a);
  fire("pipe_connection_lost", std::move(args));
}

void RecordingSubprocessProtocol::process_exited() { fire("process_exited"); }

void RecordingSubprocessProtocol::connection_lost(std::exception_ptr exc) {
  flush();
  fire("connection_lost", exception_args(exc));
}

void RecordingSubprocessProtocol::pause_writing() { fire("pause_writing"); }

void RecordingSubprocessProtocol::resume_writing() { fire("resume_writing"); }

}  // namespace loopcheck::ref
