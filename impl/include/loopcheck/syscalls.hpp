// The syscall seam: every system call the loop makes goes through a Syscalls object, so a
// test or fuzzer can inject EINTR, EAGAIN, short writes, errors or a fake clock
// deterministically (what CPython's own tests do by mocking os.write & co.).
//
// Conventions are libc's: a failing call returns -1 and sets errno. The process-wide current
// instance starts as the real implementation; set_syscalls() replaces it (tests only, and
// while no other thread is inside a loop call). A replacement usually derives from
// RealSyscalls and overrides a few calls.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <atomic>
#include <csignal>
#include <ctime>

namespace loopcheck {

class Syscalls {
 public:
  virtual ~Syscalls() = default;

  // files and pipes
  virtual ssize_t read(int fd, void* buf, size_t count) = 0;
  virtual ssize_t write(int fd, const void* buf, size_t count) = 0;
  virtual int close(int fd) = 0;
  virtual int pipe2(int fds[2], int flags) = 0;
  virtual int fcntl(int fd, int cmd, int arg) = 0;
  virtual int fstat(int fd, struct stat* st) = 0;

  // sockets (the self-pipe is an AF_UNIX socketpair)
  virtual int socketpair(int domain, int type, int protocol, int sv[2]) = 0;
  virtual ssize_t send(int fd, const void* buf, size_t len, int flags) = 0;
  virtual ssize_t recv(int fd, void* buf, size_t len, int flags) = 0;
  // sendfile(2): `offset` is read and advanced by the bytes sent (sock_sendfile's native path)
  virtual ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) = 0;

  // epoll
  virtual int epoll_create1(int flags) = 0;
  virtual int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) = 0;
  virtual int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) = 0;

  // processes and signals
  virtual pid_t waitpid(pid_t pid, int* status, int options) = 0;
  virtual int waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) = 0;
  virtual int kill(pid_t pid, int sig) = 0;
  virtual int pidfd_open(pid_t pid, unsigned int flags) = 0;
  virtual int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned int flags) = 0;
  virtual int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) = 0;

  // clock (the loop's time() is CLOCK_MONOTONIC)
  virtual int clock_gettime(clockid_t clock, struct timespec* ts) = 0;
  virtual int clock_getres(clockid_t clock, struct timespec* res) = 0;
};

// Calls the kernel (pidfd calls through syscall(2): glibc's <sys/pidfd.h> lacks extern "C").
class RealSyscalls : public Syscalls {
 public:
  ssize_t read(int fd, void* buf, size_t count) override;
  ssize_t write(int fd, const void* buf, size_t count) override;
  int close(int fd) override;
  int pipe2(int fds[2], int flags) override;
  int fcntl(int fd, int cmd, int arg) override;
  int fstat(int fd, struct stat* st) override;
  int socketpair(int domain, int type, int protocol, int sv[2]) override;
  ssize_t send(int fd, const void* buf, size_t len, int flags) override;
  ssize_t recv(int fd, void* buf, size_t len, int flags) override;
  ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) override;
  int epoll_create1(int flags) override;
  int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) override;
  int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout_ms) override;
  pid_t waitpid(pid_t pid, int* status, int options) override;
  int waitid(idtype_t idtype, id_t id, siginfo_t* info, int options) override;
  int kill(pid_t pid, int sig) override;
  int pidfd_open(pid_t pid, unsigned int flags) override;
  int pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned int flags) override;
  int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) override;
  int clock_gettime(clockid_t clock, struct timespec* ts) override;
  int clock_getres(clockid_t clock, struct timespec* res) override;
};

namespace detail {
extern RealSyscalls g_real_syscalls;
extern std::atomic<Syscalls*> g_current_syscalls;
}  // namespace detail

// The process-wide real implementation.
inline RealSyscalls& real_syscalls() noexcept { return detail::g_real_syscalls; }
// The current implementation (real_syscalls() unless replaced).
inline Syscalls& syscalls() noexcept { return *detail::g_current_syscalls.load(std::memory_order_acquire); }
// Replaces the current implementation (nullptr restores the real one); returns the previous.
Syscalls* set_syscalls(Syscalls* replacement) noexcept;

// Installs a Syscalls for a scope, then restores the previous one.
class ScopedSyscalls {
 public:
  explicit ScopedSyscalls(Syscalls& replacement) : previous_(set_syscalls(&replacement)) {}
  ~ScopedSyscalls() { set_syscalls(previous_); }
  ScopedSyscalls(const ScopedSyscalls&) = delete;
  ScopedSyscalls& operator=(const ScopedSyscalls&) = delete;

 private:
  Syscalls* previous_;
};

}  // namespace loopcheck
