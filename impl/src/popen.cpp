// Popen::spawn: fork and exec with CPython's _posixsubprocess steps (see popen.hpp).
#include "loopcheck/popen.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "child_status.hpp"
#include "loopcheck/errors.hpp"
#include "loopcheck/pyrepr.hpp"
#include "loopcheck/syscalls.hpp"

extern char** environ;

namespace loopcheck {
namespace {

// What the child reports through the error pipe before _exit(255).
struct ChildFailure {
  int error;
  int in_chdir;  // the failure came from chdir(cwd), not exec
};

// Closes every fd it holds at the end of spawn() unless released.
struct FdSet {
  std::vector<int> fds;
  ~FdSet() {
    for (int fd : fds)
      if (fd >= 0) syscalls().close(fd);
  }
  int add(int fd) {
    fds.push_back(fd);
    return fd;
  }
  void release(int fd) {
    for (int& f : fds)
      if (f == fd) f = -1;
  }
};

void make_pipe(FdSet& owned, int& read_end, int& write_end) {
  int p[2];
  if (syscalls().pipe2(p, O_CLOEXEC) < 0) OSError::raise_errno(errno);
  read_end = owned.add(p[0]);
  write_end = owned.add(p[1]);
}

// The error CPython's Popen raises for a failed exec or chdir: the errno's OSError subclass
// with the file name.
[[noreturn]] void raise_with_filename(int err, const std::string& filename) {
  OSError::Filename name{py_repr(filename)};
  std::string text = std::strerror(err);
  if (err == ENOENT) throw FileNotFoundError(err, text, name);
  if (err == EACCES || err == EPERM) throw PermissionError(err, text, name);
  // Any other errno: the subclass's Python name on a C++ OSError.
  throw OSError(exception_type_name(OSError::from_errno(err)), err, text, name);
}

// The programs to try: the name itself when it has a slash, else each PATH entry + name
// (os.get_exec_path(); the default path when PATH is unset).
std::vector<std::string> executable_list(const std::string& program) {
  if (program.find('/') != std::string::npos) return {program};
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/bin:/usr/bin";
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + program);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

// Everything the child needs, prepared before fork (the child may only make system calls).
struct ChildPlan {
  int stdio[3] = {-1, -1, -1};  // fd to dup2 onto 0, 1, 2; -1 leaves it inherited
  const char* cwd = nullptr;
  bool new_session = false;
  int errpipe_write = -1;
  std::vector<std::string> executables;
  std::vector<char*> argv;
};

[[noreturn]] void child_fail(const ChildPlan& plan, int error, int in_chdir) {
  ChildFailure failure{error, in_chdir};
  ssize_t ignored = ::write(plan.errpipe_write, &failure, sizeof failure);
  (void)ignored;
  ::_exit(255);
}

void close_other_fds(int keep) {
  if (keep > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
  if (::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u) == 0) return;
  for (int fd = 3; fd < 65536; ++fd)
    if (fd != keep) ::close(fd);
}

// Runs in the forked child: only system calls from here on.
[[noreturn]] void run_child(const ChildPlan& plan) {
  for (int target = 0; target < 3; ++target) {
    int fd = plan.stdio[target];
    if (fd < 0) continue;
    if (fd == target) {
      ::fcntl(fd, F_SETFD, 0);  // inherited as it is: only drop close-on-exec
    } else if (::dup2(fd, target) < 0) {
      child_fail(plan, errno, 0);
    }
  }
  if (plan.cwd && ::chdir(plan.cwd) < 0) child_fail(plan, errno, 1);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGXFSZ, SIG_DFL);
  if (plan.new_session && ::setsid() < 0) child_fail(plan, errno, 0);
  close_other_fds(plan.errpipe_write);
  int saved = 0;
  for (const auto& exe : plan.executables) {
    ::execve(exe.c_str(), plan.argv.data(), environ);
    if (errno != ENOENT && errno != ENOTDIR && saved == 0) saved = errno;
  }
  child_fail(plan, saved ? saved : errno, 0);
}

// The fds a stream argument gives the child, creating a pipe or /dev/null as needed.
int child_end(FdSet& owned, const Stdio& s, int index, int& parent_end, int& devnull) {
  switch (s.kind) {
    case Stdio::Kind::Pipe: {
      int r, w;
      make_pipe(owned, r, w);
      parent_end = index == 0 ? w : r;
      return index == 0 ? r : w;
    }
    case Stdio::Kind::DevNull:
      if (devnull < 0) {
        devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0) OSError::raise_errno(errno);
        owned.add(devnull);
      }
      return devnull;
    case Stdio::Kind::Fd: return s.fd;
    case Stdio::Kind::Inherit:
    case Stdio::Kind::Stdout: return -1;
  }
  return -1;
}

// Reads the child's report: nullopt when exec succeeded (EOF at once).
std::optional<ChildFailure> read_report(int fd) {
  ChildFailure failure{};
  std::size_t got = 0;
  while (got < sizeof failure) {
    ssize_t n = ::read(fd, reinterpret_cast<char*>(&failure) + got, sizeof failure - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof failure) return std::nullopt;
  return failure;
}

}  // namespace

std::shared_ptr<Popen> Popen::spawn(std::vector<std::string> args, bool shell, Stdio in, Stdio out, Stdio err,
                                    const PopenOptions& options) {
  if (shell) args = {"/bin/sh", "-c", args.empty() ? std::string() : args[0]};
  if (args.empty()) throw std::invalid_argument("Popen::spawn needs a program");
  std::shared_ptr<Popen> proc(new Popen());
  FdSet owned;
  ChildPlan plan;
  int devnull = -1;
  int parent[3] = {-1, -1, -1};
  plan.stdio[0] = child_end(owned, in, 0, parent[0], devnull);
  plan.stdio[1] = child_end(owned, out, 1, parent[1], devnull);
  if (err.kind == Stdio::Kind::Stdout)
    plan.stdio[2] = plan.stdio[1] >= 0 ? plan.stdio[1] : 1;
  else
    plan.stdio[2] = child_end(owned, err, 2, parent[2], devnull);
  int errpipe_read, errpipe_write;
  make_pipe(owned, errpipe_read, errpipe_write);
  plan.errpipe_write = errpipe_write;
  plan.cwd = options.cwd ? options.cwd->c_str() : nullptr;
  plan.new_session = options.start_new_session;
  plan.executables = executable_list(args[0]);
  for (auto& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) OSError::raise_errno(errno);
  if (pid == 0) run_child(plan);

  // Parent: close the child's ends (the FdSet does) but keep ours.
  for (int i = 0; i < 3; ++i) owned.release(parent[i]);
  syscalls().close(errpipe_write);
  owned.release(errpipe_write);
  std::optional<ChildFailure> failure = read_report(errpipe_read);
  if (failure) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    for (int fd : parent)
      if (fd >= 0) syscalls().close(fd);
    raise_with_filename(failure->error, failure->in_chdir ? *options.cwd : args[0]);
  }
  proc->pid_ = pid;
  for (int i = 0; i < 3; ++i) proc->fds_[i] = parent[i];
  return proc;
}

Popen::~Popen() {
  for (int fd : fds_)
    if (fd >= 0) syscalls().close(fd);
}

int Popen::take_fd(int index) noexcept { return std::exchange(fds_[index], -1); }

std::optional<int> Popen::poll() {
  if (returncode) return returncode;
  int status = 0;
  pid_t r = real_syscalls().waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    returncode = detail::waitstatus_to_exitcode(status);
  } else if (r < 0 && errno == ECHILD) {
    returncode = 0;
  }
  return returncode;
}

void Popen::send_signal(int sig) {
  poll();
  if (returncode) return;
  if (syscalls().kill(pid_, sig) < 0 && errno != ESRCH) OSError::raise_errno(errno);
}

void Popen::kill() { send_signal(SIGKILL); }

void Popen::terminate() { send_signal(SIGTERM); }

}  // namespace loopcheck
