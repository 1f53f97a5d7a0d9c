"""Subprocess steps (loop.subprocess_exec, asyncio.create_subprocess_exec, plain children)
and the CPython 3.9-3.13 child watcher classes."""
import asyncio
import os
import select
import subprocess
import time

from protocols import RecordingSubprocessProtocol
from runner import step
from world import StepError, Unsupported

WATCHERS = {"safe": "SafeChildWatcher", "fast": "FastChildWatcher",
            "multiloop": "MultiLoopChildWatcher", "threaded": "ThreadedChildWatcher",
            "pidfd": "PidfdChildWatcher"}


def child_argv(r, s, start):
    words = [str(a) for a in s.args[start:]]
    if not words:
        raise StepError("line %d: %s needs a command line starting with `child`" % (s.line, s.op))
    if words[0] == "child":
        return [r.world.child_path] + words[1:]
    if words[0] == "nonexistent":
        return [r.world.path("nonexistent-program")] + words[1:]
    raise StepError("line %d: command lines must start with `child` (the loopcheck child program) "
                    "or `nonexistent`, got %r" % (s.line, words[0]))


def stdio(r, value, default):
    if value is None:
        value = default
    table = {"pipe": subprocess.PIPE, "devnull": subprocess.DEVNULL, "inherit": None,
             "stdout": subprocess.STDOUT}
    if value in table:
        return table[value]
    return r.world.fd(value)


def _streams(r, s, default):
    return dict(stdin=stdio(r, s.kw.get("stdin"), default), stdout=stdio(r, s.kw.get("stdout"), default),
                stderr=stdio(r, s.kw.get("stderr"), default))


@step("subprocess_exec")
def subprocess_exec(r, s):
    name = s.arg(0, "a process name")
    argv = child_argv(r, s, 1)
    proto = RecordingSubprocessProtocol(r, name)
    r.world.protocols[name] = proto
    streams = _streams(r, s, "pipe")

    def bound(result):
        transport = result[0]
        r.world.bind_pid(name, transport.get_pid())
        r.world.objects[name] = transport
        for fd, stream in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            t = transport.get_pipe_transport(fd)
            if t is not None:
                r.world.objects["%s.%s" % (name, stream)] = t
    r.run_async(s, lambda: r.loop.subprocess_exec(lambda: proto, *argv, **streams), bound)


@step("create_subprocess_exec")
def create_subprocess_exec(r, s):
    name = s.arg(0, "a process name")
    argv = child_argv(r, s, 1)
    streams = _streams(r, s, "inherit")

    def bound(proc):
        r.world.bind_pid(name, proc.pid)
        r.world.objects[name] = proc
    r.run_async(s, lambda: asyncio.create_subprocess_exec(*argv, **streams), bound)


@step("spawn")
def spawn(r, s):
    name = s.arg(0, "a child name")
    p = subprocess.Popen(child_argv(r, s, 1), stdin=subprocess.DEVNULL)
    r.world.bind_pid(name, p.pid)
    r.world.objects[name] = p


def _pid(r, s):
    name = s.arg(0, "a child name")
    for pid, n in r.world.pid_names.items():
        if n == name:
            return pid
    raise StepError("line %d: no child process is named %r" % (s.line, name))


@step("await_exit")
def await_exit(r, s):
    pid = _pid(r, s)
    deadline = time.monotonic() + r.world.seconds(10.0)
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    try:
        while True:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None and info.si_pid == pid:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("line %d: child %s did not exit within its deadline" % (s.line, s.args[0]))
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.005))
    finally:
        if pidfd is not None:
            os.close(pidfd)


@step("reap")
def reap(r, s):
    pid = _pid(r, s)
    _, status = os.waitpid(pid, 0)
    r.rec.returned(s.op, os.waitstatus_to_exitcode(status))


def _require_asyncio_watchers(r):
    unix_loop = getattr(getattr(asyncio, "unix_events", None), "_UnixSelectorEventLoop", None)
    if unix_loop is None or not isinstance(r.loop, unix_loop):
        raise Unsupported("this loop does not use asyncio's child watchers")


@step("set_child_watcher")
def set_child_watcher(r, s):
    _require_asyncio_watchers(r)
    kind = s.arg(0, "safe, fast, multiloop, threaded, pidfd or none")
    if kind is None or kind == "none":
        asyncio.set_child_watcher(None)
        return
    if kind not in WATCHERS:
        raise StepError("line %d: unknown watcher kind %r" % (s.line, kind))
    cls = getattr(asyncio, WATCHERS[kind], None)
    if cls is None:
        raise Unsupported("asyncio has no %s in this Python" % WATCHERS[kind])
    watcher = cls()
    asyncio.set_child_watcher(watcher)
    r.world.objects["watcher"] = watcher
    if s.kw.get("attach", True):
        watcher.attach_loop(r.loop)


@step("get_child_watcher")
def get_child_watcher(r, s):
    _require_asyncio_watchers(r)
    if not hasattr(asyncio, "get_child_watcher"):
        raise Unsupported("asyncio has no get_child_watcher in this Python")
    watcher = asyncio.get_child_watcher()
    r.world.objects["watcher"] = watcher
    r.rec.returned(s.op, type(watcher).__name__)
