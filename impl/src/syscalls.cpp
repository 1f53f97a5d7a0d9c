// The real syscall layer and the process-wide current instance.
#include "loopcheck/syscalls.hpp"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>


namespace loopcheck {

ssize_t RealSyscalls::read(int fd, void* buf, size_t count) { return ::read(fd, buf, count); }
ssize_t RealSyscalls::write(int fd, const void* buf, size_t count) { return ::write(fd, buf, count); }
int RealSyscalls::close(int fd) { return ::close(fd); }
int RealSyscalls::pipe2(int fds[2], int flags) { return ::pipe2(fds, flags); }
int RealSyscalls::fcntl(int fd, int cmd, int arg) { return ::fcntl(fd, cmd, arg); }
int RealSyscalls::fstat(int fd, struct stat* st) { return ::fstat(fd, st); }
int RealSyscalls::socketpair(int domain, int type, int protocol, int sv[2]) {
  return ::socketpair(domain, type, protocol, sv);
}
ssize_t RealSyscalls::send(int fd, const void* buf, size_t len, int flags) { return ::send(fd, buf, len, flags); }
ssize_t RealSyscalls::recv(int fd, void* buf, size_t len, int flags) { return ::recv(fd, buf, len, flags); }
ssize_t RealSyscalls::sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return ::sendfile(out_fd, in_fd, offset, count);
}
int RealSyscalls::epoll_create1(int flags) { return ::epoll_create1(flags); }
int RealSyscalls::epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  return ::epoll_ctl(epfd, op, fd, event);
}
int RealSyscalls::epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) {
  return ::epoll_wait(epfd, events, maxevents, timeout_ms);
}
pid_t RealSyscalls::waitpid(pid_t pid, int* status, int options) { return ::waitpid(pid, status, options); }
int RealSyscalls::waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) {
  return ::waitid(idtype, id, info, options);
}
int RealSyscalls::kill(pid_t pid, int sig) { return ::kill(pid, sig); }
// glibc's <sys/pidfd.h> has no extern "C" (its wrappers would link as C++ names).
int RealSyscalls::pidfd_open(pid_t pid, unsigned int flags) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}
int RealSyscalls::pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned int flags) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags));
}
int RealSyscalls::sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) {
  return ::sigaction(signum, act, oldact);
}
int RealSyscalls::clock_gettime(clockid_t clock, struct timespec* ts) { return ::clock_gettime(clock, ts); }
int RealSyscalls::clock_getres(clockid_t clock, struct timespec* res) { return ::clock_getres(clock, res); }

namespace detail {
// Constant-initialized: usable from any static constructor, no guard on each call.
constinit RealSyscalls g_real_syscalls;
constinit std::atomic<Syscalls*> g_current_syscalls{&g_real_syscalls};
}  // namespace detail

Syscalls* set_syscalls(Syscalls* replacement) noexcept {
  if (!replacement) replacement = &detail::g_real_syscalls;
  return detail::g_current_syscalls.exchange(replacement, std::memory_order_acq_rel);
}

}  // namespace loopcheck
