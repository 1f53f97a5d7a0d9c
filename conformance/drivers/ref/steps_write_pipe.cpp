// Write pipe steps (conformance/drivers/python/steps_transports.py): connect_write_pipe. The
// transport's methods (T.write, T.write_eof, T.abort, flow control ...) go through the shared
// NAME.METHOD transport dispatch in steps_read_pipe.cpp.
#include "await_step.hpp"
#include "loopcheck/unix_write_pipe_transport.hpp"
#include "runner.hpp"

namespace loopcheck::ref {

// connect_write_pipe T FD: T names the transport and its recording protocol. As in the
// Python driver, T is bound when the connection completes (one pass after connection_made).
void Runner::connect_write_pipe(const Step& s) {
  std::string name = s.name(0, "a transport name");
  int f = fd(s, 1);
  auto protocol = make_protocol(name);
  await_step(s, loop_.connect_write_pipe([protocol] { return protocol; }, f),
             [this, name](auto& connected) { transports_[name] = connected.first; });
}

}  // namespace loopcheck::ref
