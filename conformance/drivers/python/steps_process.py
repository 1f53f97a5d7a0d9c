"""Subprocess steps (loop.subprocess_exec, asyncio.create_subprocess_exec, plain children)
and the CPython 3.9-3.13 child watcher classes."""
import asyncio
import os
import pathlib
import select
import stat
import subprocess
import threading
import time

from protocols import RecordingSubprocessProtocol
from steps_fds import payload
from runner import method, step
from world import StepError, Str, Unsupported

WATCHERS = {"safe": "SafeChildWatcher", "fast": "FastChildWatcher",
            "multiloop": "MultiLoopChildWatcher", "threaded": "ThreadedChildWatcher",
            "pidfd": "PidfdChildWatcher"}


def child_argv(r, s, start):
    argv = _child_words(r, s, start)
    if s.kw.get("pathlib"):
        argv[0] = pathlib.Path(argv[0])   # a path-like program
    return argv


def _child_words(r, s, start):
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


# Keywords the driver itself uses; every other keyword goes to the API call unchanged, so
# scenarios can show argument checks (text=true, bufsize=4096) and Popen options (cwd=...).
OWN_KEYWORDS = ("stdin", "stdout", "stderr", "task", "factory", "pathlib")


def _options(r, s):
    out = {}
    for key, v in s.kw.items():
        if key in OWN_KEYWORDS:
            continue
        if key == "loop" and v == "loop":
            v = r.loop
        elif key == "cwd" and isinstance(v, str):
            v = r.world.path(v) if v != "/" else v
        elif isinstance(v, str):
            v = str(v)
        out[key] = v
    return out


def _factory(r, s, name):
    # factory=record makes the protocol factory call visible (`factory P`), to show
    # whether argument checks run before the protocol is created.
    proto = RecordingSubprocessProtocol(r, name)
    r.world.protocols[name] = proto

    def make():
        if s.kw.get("factory") == "record":
            r.rec.event("factory", name)
        return proto
    return make


def _bind_transport(r, name, transport):
    r.world.bind_pid(name, transport.get_pid())
    r.world.objects[name] = transport
    for fd, stream in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        t = transport.get_pipe_transport(fd)
        if t is not None:
            r.world.objects["%s.%s" % (name, stream)] = t


def _run_async(r, s, make_coro, on_result):
    # task=NAME (inside a callback) lets `cancel NAME` cancel the pending call.
    task = r.run_async(s, make_coro, on_result)
    if task is not None and "task" in s.kw:
        r.world.handles[str(s.kw["task"])] = task


@step("subprocess_exec")
def subprocess_exec(r, s):
    name = s.arg(0, "a process name")
    argv = child_argv(r, s, 1)
    factory = _factory(r, s, name)
    kw = dict(_streams(r, s, "pipe"), **_options(r, s))
    _run_async(r, s, lambda: r.loop.subprocess_exec(factory, *argv, **kw),
               lambda result: _bind_transport(r, name, result[0]))


@step("subprocess_shell")
def subprocess_shell(r, s):
    # `subprocess_shell P "CMD"` runs CMD with /bin/sh; `subprocess_shell P child ...` passes
    # the argument list itself (which the loop refuses: the command must be a string).
    name = s.arg(0, "a process name")
    cmd = s.arg(1, "a quoted shell command or a child command line")
    cmd = str(cmd) if isinstance(cmd, Str) else child_argv(r, s, 1)
    factory = _factory(r, s, name)
    kw = dict(_streams(r, s, "pipe"), **_options(r, s))
    _run_async(r, s, lambda: r.loop.subprocess_shell(factory, cmd, **kw),
               lambda result: _bind_transport(r, name, result[0]))


@step("create_subprocess_exec")
def create_subprocess_exec(r, s):
    name = s.arg(0, "a process name")
    argv = child_argv(r, s, 1)
    kw = dict(_streams(r, s, "inherit"), **_options(r, s))

    def bound(proc):
        r.world.bind_pid(name, proc.pid)
        r.world.objects[name] = proc
    _run_async(r, s, lambda: asyncio.create_subprocess_exec(*argv, **kw), bound)


@method("streams")
def streams(r, s, obj):
    # Which standard streams an asyncio.subprocess.Process has: a class name or None each.
    r.rec.returned(s.op, *["%s=%s" % (n, type(getattr(obj, n)).__name__ if getattr(obj, n) is not None
                                      else "None") for n in ("stdin", "stdout", "stderr")])


@method("write_and_drain")
def write_and_drain(r, s, obj):
    # Process.stdin.write(data) then `await Process.stdin.drain()`.
    obj.stdin.write(payload(s.arg(0, "a byte count or text")))
    _run_async(r, s, obj.stdin.drain, lambda result: r.rec.returned(s.op, "None"))


@method("fd_kind")
def fd_kind(r, s, obj):
    # What a pipe transport's fd is: fifo, socket or other (fstat).
    mode = os.fstat(obj.get_extra_info("pipe").fileno()).st_mode
    r.rec.returned(s.op, "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "other")


@method("popen")
def popen(r, s, obj):
    # get_extra_info('subprocess'): its type, whether its pid is get_pid(), its returncode.
    p = obj.get_extra_info("subprocess")
    r.rec.returned(s.op, type(p).__name__, "pid=%s" % r.world.pid_names.get(p.pid, "<pid>"),
                   "same_pid=%s" % (p.pid == obj.get_pid()),
                   "returncode=%s" % p.returncode)


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


@step("await_reaped")
def await_reaped(r, s):
    # Waits (deadline 10 s) until someone else has reaped the child; signal handlers run meanwhile.
    pid = _pid(r, s)
    deadline = time.monotonic() + r.world.seconds(10.0)
    while True:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if time.monotonic() >= deadline:
            raise StepError("line %d: child %s was not reaped within its deadline" % (s.line, s.args[0]))
        time.sleep(0.005)


@step("reap")
def reap(r, s):
    pid = _pid(r, s)
    _, status = os.waitpid(pid, 0)
    r.rec.returned(s.op, os.waitstatus_to_exitcode(status))


def _require_asyncio_watchers(r):
    unix_loop = getattr(getattr(asyncio, "unix_events", None), "_UnixSelectorEventLoop", None)
    if unix_loop is None or not isinstance(r.loop, unix_loop):
        raise Unsupported("this loop does not use asyncio's child watchers")


def _watcher_class(r, s, kind):
    names = dict(WATCHERS, abstract="AbstractChildWatcher", base="BaseChildWatcher")
    if kind not in names:
        raise StepError("line %d: unknown watcher kind %r" % (s.line, kind))
    cls = getattr(asyncio, names[kind], None) or getattr(asyncio.unix_events, names[kind], None)
    if cls is None:
        raise Unsupported("asyncio has no %s in this Python" % names[kind])
    return cls


@step("set_child_watcher")
def set_child_watcher(r, s):
    # KIND creates a new watcher named `watcher` (attached to the loop unless attach=false);
    # the name of an existing watcher installs that one; an integer is passed as it is.
    _require_asyncio_watchers(r)
    kind = s.arg(0, "safe, fast, multiloop, threaded, pidfd, none, a watcher name or a value")
    if not hasattr(asyncio, "set_child_watcher"):
        raise Unsupported("asyncio has no set_child_watcher in this Python")
    if kind is None or kind == "none":
        asyncio.set_child_watcher(None)
        return
    if isinstance(kind, int) or kind in r.world.objects:
        asyncio.set_child_watcher(kind if isinstance(kind, int) else r.world.get(kind))
        return
    watcher = _watcher_class(r, s, kind)()
    asyncio.set_child_watcher(watcher)
    r.world.objects["watcher"] = watcher
    if s.kw.get("attach", True):
        watcher.attach_loop(r.loop)


@step("new_child_watcher")
def new_child_watcher(r, s):
    # A watcher object that is not installed in the policy (kinds also: abstract, base).
    _require_asyncio_watchers(r)
    name = s.arg(0, "a watcher name")
    r.world.objects[name] = _watcher_class(r, s, s.arg(1, "a watcher kind"))()


@method("do_waitpid")
def do_waitpid(r, s, obj):
    obj._do_waitpid(_pid(r, s))


@method("do_waitpid_all")
def do_waitpid_all(r, s, obj):
    obj._do_waitpid_all()


@step("waitpid_threads")
def waitpid_threads(r, s):
    # Names of the live threads a ThreadedChildWatcher started (one per waited child).
    names = sorted(t.name for t in threading.enumerate() if "waitpid" in t.name)
    r.rec.returned(s.op, *(names or ["none"]))


@step("get_child_watcher")
def get_child_watcher(r, s):
    _require_asyncio_watchers(r)
    if not hasattr(asyncio, "get_child_watcher"):
        raise Unsupported("asyncio has no get_child_watcher in this Python")
    watcher = asyncio.get_child_watcher()
    r.world.objects["watcher"] = watcher
    r.rec.returned(s.op, type(watcher).__name__)
