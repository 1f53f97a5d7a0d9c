// The raw floor's signal plumbing, shared by its signal workloads: a sigaction handler
// (SA_RESTART) writes each signal's number to a non-blocking socketpair whose read end
// sits in an epoll set. Restores the default disposition and closes everything at the end.
#pragma once

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace loopcheck::bench::raw {

class RawSignalPipe {
 public:
  explicit RawSignalPipe(int sig) : sig_(sig) {
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv_);
    wake_fd_ = sv_[1];
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = sv_[0];
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, sv_[0], &ev);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    ::sigaction(sig_, &sa, nullptr);
  }
  ~RawSignalPipe() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig_, &dfl, nullptr);
    ::close(ep_);
    ::close(sv_[0]);
    ::close(sv_[1]);
    wake_fd_ = -1;
  }
  RawSignalPipe(const RawSignalPipe&) = delete;
  RawSignalPipe& operator=(const RawSignalPipe&) = delete;

  int epoll_fd() const noexcept { return ep_; }
  int read_fd() const noexcept { return sv_[0]; }

 private:
  static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = static_cast<unsigned char>(sig);
    (void)::send(wake_fd_, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    errno = saved;
  }

  static inline int wake_fd_ = -1;  // what the handler writes to (one pipe at a time)
  int sig_;
  int ep_ = -1;
  int sv_[2] = {-1, -1};
};

}  // namespace loopcheck::bench::raw
