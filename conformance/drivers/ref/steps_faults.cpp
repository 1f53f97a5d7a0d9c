// `fail OPERATION ERRNO [count=N] [after=M]` on the reference (INTERPRETING.md, 5a): a
// Syscalls replacement that lets M successful calls of OPERATION through, fails the next N
// with ERRNO, then passes again. The loop reaches the OS only through the syscall seam, so
// the driver's own steps (which call the kernel directly) are never affected.
#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include "loopcheck/syscalls.hpp"
#include "runner.hpp"

namespace loopcheck::ref {
namespace {

struct Plan {
  int error = 0;
  long count = 0;  // failures still to inject
  long after = 0;  // successful calls still to let through first
};

class FaultSyscalls : public RealSyscalls {
 public:
  void set(const std::string& op, Plan plan) {
    std::lock_guard<std::mutex> lock(mutex_);
    plans_[op] = plan;
  }

  ssize_t read(int fd, void* buf, size_t count) override {
    return run("read", [&] { return RealSyscalls::read(fd, buf, count); });
  }
  ssize_t write(int fd, const void* buf, size_t count) override {
    return run("write", [&] { return RealSyscalls::write(fd, buf, count); });
  }
  ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) override {
    return run("sendfile", [&] { return RealSyscalls::sendfile(out_fd, in_fd, offset, count); });
  }
  pid_t waitpid(pid_t pid, int* status, int options) override {
    return run("waitpid", [&] { return RealSyscalls::waitpid(pid, status, options); });
  }
  int kill(pid_t pid, int sig) override {
    return run("kill", [&] { return RealSyscalls::kill(pid, sig); });
  }
  int sigaction(int signum, const struct sigaction* act, struct sigaction* oldact) override {
    if (act == nullptr) return RealSyscalls::sigaction(signum, act, oldact);  // a query: not counted
    return run("sigaction", [&] { return RealSyscalls::sigaction(signum, act, oldact); });
  }

 private:
  // Calls real() unless this call is one to fail; a call that fails by itself is not counted.
  template <class F>
  auto run(const char* op, F real) -> decltype(real()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(op);
      if (it != plans_.end() && it->second.count > 0 && it->second.after == 0) {
        --it->second.count;
        errno = it->second.error;
        return -1;
      }
    }
    auto result = real();
    if (result >= 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(op);
      if (it != plans_.end() && it->second.count > 0 && it->second.after > 0) --it->second.after;
    }
    return result;
  }

  std::mutex mutex_;
  std::map<std::string, Plan> plans_;
};

FaultSyscalls& fault_syscalls() {
  static FaultSyscalls instance;  // lives until exit: the loop may call it to the very end
  return instance;
}

int errno_arg(const Step& s) {
  const auto& a = s.arg(1, "an errno name");
  if (a.is_number_integer()) return a.get<int>();
  static const std::map<std::string, int> names = {
      {"EPERM", EPERM},   {"ENOENT", ENOENT},   {"ESRCH", ESRCH},       {"EINTR", EINTR},
      {"EIO", EIO},       {"EBADF", EBADF},     {"ECHILD", ECHILD},     {"EAGAIN", EAGAIN},
      {"ENOMEM", ENOMEM}, {"EACCES", EACCES},   {"EFAULT", EFAULT},     {"EEXIST", EEXIST},
      {"EINVAL", EINVAL}, {"ENFILE", ENFILE},   {"EMFILE", EMFILE},     {"ENOSPC", ENOSPC},
      {"EPIPE", EPIPE},   {"ENOSYS", ENOSYS},   {"ENOTSOCK", ENOTSOCK}, {"ECONNRESET", ECONNRESET},
      {"ENOTCONN", ENOTCONN}, {"ECONNREFUSED", ECONNREFUSED}, {"ECONNABORTED", ECONNABORTED},
      {"ETIMEDOUT", ETIMEDOUT}, {"EWOULDBLOCK", EWOULDBLOCK}, {"ENOBUFS", ENOBUFS},
  };
  std::string name = a.is_string() ? a.get<std::string>() : a.dump();
  auto it = names.find(name);
  if (it == names.end())
    throw StepError("line " + std::to_string(s.line) + ": fail needs an errno name (EPERM, ENOTCONN, ...) or number, got " + name);
  return it->second;
}

long count_kw(const Step& s, const char* key, long fallback) {
  if (!s.has_kw(key)) return fallback;
  const auto& v = s.kw[key];
  if (!v.is_number_integer() || v.get<long>() < 0)
    throw StepError("line " + std::to_string(s.line) + ": fail " + key + "= must be an integer >= 0");
  return v.get<long>();
}

}  // namespace

void Runner::fail(const Step& s) {
  std::string op = s.name(0, "an OS operation");
  if (op != "sigaction" && op != "kill" && op != "write" && op != "read" && op != "waitpid" && op != "sendfile")
    throw StepError("line " + std::to_string(s.line) + ": fail: unknown OS operation '" + op + "'");
  Plan plan{errno_arg(s), count_kw(s, "count", 1), count_kw(s, "after", 0)};
  fault_syscalls().set(op, plan);
  if (&syscalls() != &fault_syscalls()) set_syscalls(&fault_syscalls());
}

}  // namespace loopcheck::ref
