// signal_round_trip, raw floor: a sigaction handler (SA_RESTART) writes the signal number
// to a non-blocking socketpair; the loop is epoll_wait on its read end, one recv, then the
// callback for each byte, which sends the next SIGUSR1.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "../common/workload.hpp"

namespace loopcheck::bench::raw {
namespace {

int g_wake_fd = -1;

void on_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  (void)::send(g_wake_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  errno = saved;
}

void signal_round_trip(benchmark::State& state, std::size_t n) {
  int sv[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
  g_wake_fd = sv[1];
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = sv[0];
  ::epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &sa, nullptr);
  std::size_t count = 0;
  measure(state, n, [&] {
    count = 0;
    ::kill(::getpid(), SIGUSR1);
    while (count < n) {
      epoll_event events[8];
      if (::epoll_wait(ep, events, 8, -1) <= 0) continue;
      unsigned char buf[256];
      ssize_t got = ::recv(sv[0], buf, sizeof buf, 0);
      for (ssize_t i = 0; i < got; ++i)
        if (++count < n) ::kill(::getpid(), SIGUSR1);
    }
    return count;
  });
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGUSR1, &dfl, nullptr);
  ::close(ep);
  ::close(sv[0]);
  ::close(sv[1]);
  g_wake_fd = -1;
}

}  // namespace
}  // namespace loopcheck::bench::raw

LOOPCHECK_BENCH_WORKLOAD("signal_round_trip", "callbacks/s", loopcheck::bench::raw::signal_round_trip);
