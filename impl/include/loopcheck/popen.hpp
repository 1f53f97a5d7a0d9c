// Popen: the part of CPython's subprocess.Popen (POSIX, close_fds=True, bufsize=0) that
// asyncio's subprocess transport relies on.
//
// - spawn() creates the pipes with pipe2(O_CLOEXEC) in the order stdin, stdout, stderr,
//   then an error pipe, forks, and in the child: dup2 of the streams onto 0/1/2 (stderr=STDOUT
//   goes where stdout goes), chdir(cwd), SIGPIPE/SIGXFSZ back to SIG_DFL (restore_signals),
//   setsid() for start_new_session, every other fd closed, exec of the program (searched in
//   PATH when it has no slash). A failure is reported through the error pipe; the parent
//   reaps the child and raises the OSError subclass for that errno with the file name, as
//   Popen does: FileNotFoundError "[Errno 2] No such file or directory: 'prog'" (the cwd for
//   a failed chdir). DEVNULL is /dev/null opened O_RDWR; an Fd stream is used as it is.
// - The parent ends of the pipes belong to the Popen until a pipe transport takes them.
// - poll() reads the status with waitpid(WNOHANG) through the real kernel call, never the
//   syscall seam: CPython's Popen binds os.waitpid as a default argument, so a replaced
//   os.waitpid (conformance `fail waitpid`) does not reach it. ECHILD gives returncode 0.
// - send_signal(sig): poll() first; no signal once the returncode is known; kill(2) through
//   the seam; ProcessLookupError is ignored (3.9+).
//
// Differences from CPython's Popen: no text mode, no pass_fds/preexec_fn/env and no
// __del__ bookkeeping of still-running children (asyncio always reports the exit).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace loopcheck {

// A standard stream argument of Popen (subprocess.PIPE, DEVNULL, STDOUT, None, or an fd).
struct Stdio {
  enum class Kind { Pipe, DevNull, Inherit, Stdout, Fd };
  Kind kind = Kind::Pipe;
  int fd = -1;  // Kind::Fd only

  static Stdio pipe() { return {Kind::Pipe, -1}; }
  static Stdio devnull() { return {Kind::DevNull, -1}; }
  static Stdio inherit() { return {Kind::Inherit, -1}; }
  static Stdio stdout_() { return {Kind::Stdout, -1}; }
  static Stdio of_fd(int fd) { return {Kind::Fd, fd}; }
  bool is_pipe() const noexcept { return kind == Kind::Pipe; }
};

// The Popen keyword arguments asyncio passes through (**kwargs).
struct PopenOptions {
  std::optional<std::string> cwd;
  bool start_new_session = false;
};

class Popen {
 public:
  // subprocess.Popen(args, shell=shell, stdin=, stdout=, stderr=, bufsize=0, ...). With
  // shell, args is ["/bin/sh", "-c", args[0]]. Throws the OSError described above.
  static std::shared_ptr<Popen> spawn(std::vector<std::string> args, bool shell, Stdio in, Stdio out, Stdio err,
                                      const PopenOptions& options);
  ~Popen();
  Popen(const Popen&) = delete;
  Popen& operator=(const Popen&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Popen.returncode (None while unknown).
  std::optional<int> returncode;
  // The parent's end of each piped stream, -1 when not piped or once taken.
  int stdin_fd() const noexcept { return fds_[0]; }
  int stdout_fd() const noexcept { return fds_[1]; }
  int stderr_fd() const noexcept { return fds_[2]; }
  // Hands the parent's end of stream `index` (0, 1, 2) to a new owner.
  int take_fd(int index) noexcept;

  std::optional<int> poll();
  void send_signal(int sig);
  void kill();
  void terminate();

 private:
  Popen() = default;
  pid_t pid_ = -1;
  int fds_[3] = {-1, -1, -1};
};

}  // namespace loopcheck
