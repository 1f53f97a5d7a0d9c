// The ref driver's side of the JSON-lines protocol (conformance/INTERPRETING.md, section 2).
//
// stdout carries protocol messages only: the real fd 1 is moved aside at start-up and fd 1
// is pointed at stderr, so a child that inherits stdout can never corrupt the channel.
#pragma once

#include <cstdio>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

namespace loopcheck::ref {

inline constexpr int kProtocolVersion = 1;

class Channel {
 public:
  Channel();
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends one message, adding its msg_id. Safe from any thread.
  void send(nlohmann::json message);
  // The next message on stdin, or nullopt at EOF or on a line that is not JSON.
  std::optional<nlohmann::json> receive();

 private:
  std::FILE* out_ = nullptr;
  std::mutex mu_;
  long next_id_ = 1;
};

}  // namespace loopcheck::ref
