"""`close_at_shutdown`: what loop.close() does while the interpreter is finalizing.

The driver itself never finalizes (it ends with os._exit, INTERPRETING.md section 1), so the
step forks: the child leaves the scenario, exits through the interpreter's normal shutdown
with the loop still open, and a probe object that module teardown releases closes the loop
then. The child reports on a pipe what that close did (warnings, then the signal
OS actions, and what remove_signal_handler then says); the parent records the report.
"""
import os
import re
import select
import signal
import sys

from runner import step
from world import Abort, StepError, signal_number

PROBE_NAME = "_loopcheck_shutdown_probe"
TAG = "loopcheck-probe "
WARNING_LINE = re.compile(r"^.*?:\d+: ([A-Za-z_][A-Za-z0-9_]*): (.*)$")


class _Probe(object):
    """Released during module teardown; everything it needs is bound beforehand."""

    def __init__(self, loop, fd, sigs):
        self.loop = loop
        self.fd = fd
        self.sigs = sigs
        self.write = os.write
        self.is_finalizing = sys.is_finalizing
        self.os_action = _os_action_reader()

    def report(self, *words):
        self.write(self.fd, (TAG + "\t".join(str(w) for w in words) + "\n").encode())

    def __del__(self):
        try:
            self.report("finalizing", self.is_finalizing())
            self.loop.close()
            for sig in self.sigs:
                # The OS action itself: Python's own table is being torn down by now.
                self.report("os_action", sig, self.os_action(sig))
                self.report("remove_signal_handler", sig, self.loop.remove_signal_handler(sig))
        except BaseException as e:
            self.report("raised", type(e).__name__, str(e))


def _os_action_reader():
    """A function sig -> SIG_DFL|SIG_IGN|handler reading sigaction(2), prepared in advance
    (Linux/glibc struct layout) so that it needs no imports while the interpreter finalizes."""
    import ctypes

    class SigAction(ctypes.Structure):   # glibc: handler, 1024-bit mask, flags, restorer
        _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                    ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]
    sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    action = SigAction()
    byref = ctypes.byref

    def read(sig):
        if sigaction(int(sig), None, byref(action)) != 0:
            return "error"
        return {None: "SIG_DFL", 0: "SIG_DFL", 1: "SIG_IGN"}.get(action.handler, "handler")
    return read


def _raise_system_exit(status=0):
    raise SystemExit(status)


@step("close_at_shutdown")
def close_at_shutdown(r, s):
    sigs = [signal_number(a) for a in s.args]
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        _become_finalizing_child(r, wfd, rfd, sigs)
    os.close(wfd)
    text = None
    try:
        text = _read_all(rfd, r.world.seconds(5.0))
    finally:
        os.close(rfd)
        if text is None:   # a child stuck in its shutdown must not hang the driver
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if text is None:
        raise StepError("the finalizing child did not report within its deadline")
    for line in text.splitlines():
        if line.startswith(TAG):
            r.rec.returned(s.op, *line[len(TAG):].split("\t"))
            continue
        m = WARNING_LINE.match(line)
        if m:
            r.rec.returned(s.op, "warning", m.group(1), m.group(2))
        elif line.strip():
            r.rec.returned(s.op, "stderr", line.strip())


def _become_finalizing_child(r, wfd, rfd, sigs):
    """In the forked child: silence the channel, route stderr (where warnings issued during
    shutdown are printed) to the report pipe, and leave through a normal interpreter exit."""
    try:
        os.close(rfd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, r.rec.channel._out.fileno())
        sys.stderr.flush()
        os.dup2(wfd, 2)
        r.rec.active = False
        del r.world.children[:]   # the parent's children are not ours to kill
        import warnings
        warnings.showwarning = getattr(warnings, "_showwarning_orig", warnings.showwarning)
        setattr(sys.modules["__main__"], PROBE_NAME, _Probe(r.loop, wfd, sigs))
        os._exit = _raise_system_exit   # the driver's final os._exit becomes a normal exit
    except BaseException:
        os._exit(3)
    raise Abort()


def _read_all(fd, seconds):
    """Everything written to fd until EOF, or None if that takes longer than `seconds`."""
    import time
    deadline = time.monotonic() + seconds
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)
