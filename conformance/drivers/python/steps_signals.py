"""Signal steps: add/remove handlers, raise signals from here, a thread or another process."""
import os
import signal
import subprocess

from runner import step
from steps_loop import here_or_on_thread, join_thread
from world import StepError, Str, Unsupported, signal_number


@step("add_signal_handler")
def add_signal_handler(r, s):
    sig = signal_number(s.arg(0, "a signal"))
    name = s.arg(1, "a callback name")
    if name == "@coroutine":
        async def coroutine_handler():
            pass
        cb = coroutine_handler
    else:
        cb = r.callback(name)
    # Further arguments are the handler's own (recorded with `callback NAME ARGS`).
    args = [str(a) if isinstance(a, Str) else a for a in s.args[2:]]
    loop = _loop(r, s)
    here_or_on_thread(r, s, lambda: loop.add_signal_handler(sig, cb, *args))


def _loop(r, s):
    """loop=L acts on another loop made by `new_loop L`."""
    name = s.kw.get("loop")
    return r.loop if name is None or name == "loop" else r.world.get(name)


@step("remove_signal_handler")
def remove_signal_handler(r, s):
    sig = signal_number(s.arg(0, "a signal"))
    loop = _loop(r, s)
    r.rec.returned(s.op, here_or_on_thread(r, s, lambda: loop.remove_signal_handler(sig)))


@step("kill")
def kill(r, s):
    source = s.arg(0, "self, thread or process")
    sig = signal_number(s.arg(1, "a signal"))
    count = int(s.kw.get("count", 1))
    if source == "self":
        for _ in range(count):
            os.kill(os.getpid(), sig)
    elif source == "thread":
        def work():
            for _ in range(count):
                os.kill(os.getpid(), sig)
        join_thread(r, work)
    elif source == "process":
        # A separate process sends the signals; we wait for it without running the loop.
        argv = [r.world.child_path, "kill", str(os.getpid()), str(sig), str(count)]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        try:
            p.wait(timeout=r.world.seconds(10.0))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise StepError("signal-sending child did not finish within its deadline")
    else:
        raise StepError("line %d: kill needs self, thread or process, got %r" % (s.line, source))


@step("signal_disposition")
def signal_disposition(r, s):
    sig = signal_number(s.arg(0, "a signal"))
    h = signal.getsignal(sig)
    if h == signal.SIG_DFL:
        text = "SIG_DFL"
    elif h == signal.SIG_IGN:
        text = "SIG_IGN"
    elif h is signal.default_int_handler:
        text = "default_int_handler"
    elif h is None:
        text = "non-python"
    else:
        text = "python-handler"
    r.rec.returned(s.op, text)


@step("cancel_signal_handle")
def cancel_signal_handle(r, s):
    sig = signal_number(s.arg(0, "a signal"))
    table = getattr(r.loop, "_signal_handlers", None)
    if not isinstance(table, dict):
        raise Unsupported("the loop exposes no signal handle table to cancel")
    if sig not in table:
        raise StepError("line %d: no handler is registered for signal %s" % (s.line, sig))
    table[sig].cancel()


@step("signal_wakeup_fd")
def signal_wakeup_fd(r, s):
    # Python can read the wakeup fd only by replacing it: set -1, then put the old one back.
    old = signal.set_wakeup_fd(-1)
    if old != -1:
        signal.set_wakeup_fd(old)
    r.rec.returned(s.op, "unset" if old == -1 else "set")


@step("deliver_pending")
def deliver_pending(r, s):
    # Each signal is sent to the loop thread while that thread blocks all of them, so they
    # are all pending at once; unblocking lets the kernel deliver them in its own order
    # (lowest number first, one instance per standard signal, every real-time instance).
    sigs = [signal_number(a) for a in s.args]
    if not sigs:
        raise StepError("line %d: deliver_pending needs at least one signal" % s.line)
    if not hasattr(signal, "pthread_sigmask"):
        raise Unsupported("this Python has no signal.pthread_sigmask")
    import threading
    me = threading.get_ident()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set(sigs))
    try:
        for sig in sigs:
            signal.pthread_kill(me, sig)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@step("signal_restarts")
def signal_restarts(r, s):
    # Whether the installed action has SA_RESTART (blocking calls resume after the handler
    # instead of failing with EINTR). Python does not expose sa_flags, so ask sigaction(2).
    sig = signal_number(s.arg(0, "a signal"))
    r.rec.returned(s.op, bool(_sa_flags(sig) & _SA_RESTART))


_SA_RESTART = 0x10000000


def _sa_flags(sig):
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        raise Unsupported("signal_restarts reads glibc's struct sigaction (Linux only)")

    class SigAction(ctypes.Structure):   # glibc: handler, 1024-bit mask, flags, restorer
        _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                    ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]
    libc = ctypes.CDLL(None, use_errno=True)
    old = SigAction()
    if libc.sigaction(int(sig), None, ctypes.byref(old)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return old.flags


@step("fork_child_state")
def fork_child_state(r, s):
    # Forks; the child reports whether it still sees a running loop and a wakeup fd, then
    # exits at once. Run inside a callback to fork while the loop runs.
    import asyncio
    import select
    import warnings
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # 3.12+: forking a multi-threaded process warns
        pid = os.fork()
    if pid == 0:
        try:
            running = asyncio._get_running_loop() is not None
            wakeup = signal.set_wakeup_fd(-1) != -1
            os.write(wfd, b"%d%d" % (running, wakeup))
        finally:
            os._exit(0)
    os.close(wfd)
    try:
        ready, _, _ = select.select([rfd], [], [], r.world.seconds(5.0))
        answer = os.read(rfd, 2) if ready else b""
    finally:
        os.close(rfd)
        os.waitpid(pid, 0)
    if len(answer) != 2:
        raise StepError("forked child did not report its state within its deadline")
    r.rec.returned(s.op, "running" if answer[:1] == b"1" else "none",
                   "set" if answer[1:] == b"1" else "unset")
