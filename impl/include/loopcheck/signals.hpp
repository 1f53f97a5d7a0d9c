// Process-wide signal state behind EventLoop::add_signal_handler: CPython's C `signal`
// module as asyncio uses it (set_wakeup_fd, the C-level handler that writes the signal
// number to the wakeup fd, valid_signals, getsignal).
//
// The wakeup fd is one per process, as in CPython: the loop that called add_signal_handler
// last owns it. With two loops, a signal whose handler belongs to the other loop is written
// to the owner's self-pipe and ignored there, and removing the last handler of either loop
// turns the wakeup fd off for both (B-SIG-12).
#pragma once

#include <cstdint>
#include <string_view>

namespace loopcheck {

// Linux/glibc: 1..64 without 32 and 33 (signal.valid_signals()).
constexpr int kNsig = 65;
bool is_valid_signal(int sig) noexcept;

// threading.main_thread(): the process's initial thread (gettid() == getpid()).
bool is_main_thread() noexcept;

// signal.set_wakeup_fd(fd): returns the previous fd (-1 when off).
// ValueError('set_wakeup_fd only works in main thread of the main interpreter') from any
// other thread. The fd must be a non-blocking socket or pipe; it is not checked.
int set_signal_wakeup_fd(int fd);
int signal_wakeup_fd() noexcept;

// Signal bytes the C-level handler could not write (full or closed wakeup socket). CPython
// prints 'Exception ignored when trying to write to the signal wakeup fd' to stderr for
// these; the loop does the same, once per self-pipe read that finds new failures.
std::uint64_t signal_wakeup_write_failures() noexcept;

// What signal.getsignal() would report for `sig`, named as the conformance driver does:
// "SIG_DFL", "SIG_IGN", "python-handler" (the loop's C-level handler, CPython's no-op Python
// handler), "default_int_handler", or "non-python" (anything else).
std::string_view signal_disposition(int sig);

// Makes signal_disposition() report `handler` as "python-handler": a C-level handler that
// stands for a handler installed with signal.signal (the MultiLoopChildWatcher's SIGCHLD
// handler). Up to four such handlers; async-signal-safe to query.
void register_python_signal_handler(void (*handler)(int)) noexcept;

// The disposition remove_signal_handler(SIGINT) restores, in place of CPython's
// signal.default_int_handler. A C++ program cannot have KeyboardInterrupt raised at the
// next bytecode, so this handler does what an uncaught KeyboardInterrupt ends in: CPython
// exits through kill(getpid(), SIGINT) with SIG_DFL, so the process dies by SIGINT. It
// resets SIGINT to SIG_DFL and re-raises it.
extern "C" void loopcheck_default_int_handler(int sig);

}  // namespace loopcheck
