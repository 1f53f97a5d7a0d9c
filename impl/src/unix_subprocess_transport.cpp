// unix_events._UnixSubprocessTransport: the Unix way to start the child (a Popen; stdin is a
// pipe like the others, as from 3.10 -- 3.9 used a socketpair).
#include "loopcheck/subprocess_transport.hpp"

namespace loopcheck {

std::shared_ptr<UnixSubprocessTransport> UnixSubprocessTransport::create(EventLoop& loop,
                                                                         std::shared_ptr<SubprocessProtocol> protocol,
                                                                         const SubprocessSpec& spec,
                                                                         std::optional<Future<void>> waiter) {
  std::shared_ptr<UnixSubprocessTransport> transport(new UnixSubprocessTransport(loop, std::move(protocol), spec));
  transport->init(spec, std::move(waiter));
  return transport;
}

void UnixSubprocessTransport::start(const SubprocessSpec& spec) {
  proc_ = Popen::spawn(spec.args, spec.shell, spec.stdin_, spec.stdout_, spec.stderr_, spec.popen);
}

}  // namespace loopcheck
