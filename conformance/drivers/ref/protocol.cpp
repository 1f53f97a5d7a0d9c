#include "protocol.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <string>

namespace loopcheck::ref {

Channel::Channel() {
  int fd = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
  ::dup2(2, 1);
  out_ = ::fdopen(fd, "w");
}

Channel::~Channel() {
  if (out_) std::fclose(out_);
}

void Channel::send(nlohmann::json message) {
  std::lock_guard<std::mutex> lock(mu_);
  message["msg_id"] = next_id_++;
  // Invalid UTF-8 (raw bytes in a message) must not throw: replace it.
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

std::optional<nlohmann::json> Channel::receive() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded()) return std::nullopt;
    return message;
  }
  return std::nullopt;
}

}  // namespace loopcheck::ref
