"""File descriptor steps: pipes, socketpairs, files, devices, raw reads/writes, readers/writers."""
import io
import os
import socket

from recorder import data_args
from runner import step
from world import StepError, Str, pattern


def payload(arg):
    """`5` -> 5 pattern bytes; "text" -> its UTF-8 bytes."""
    if isinstance(arg, Str):
        return str(arg).encode("utf-8")
    if isinstance(arg, int) and not isinstance(arg, bool):
        return pattern(arg)
    raise StepError("expected a byte count or a quoted text, got %r" % (arg,))


F_SETPIPE_SZ = 1031   # Linux fcntl; fcntl.F_SETPIPE_SZ exists only from Python 3.10


@step("pipe")
def pipe(r, s):
    rfd, wfd = os.pipe()
    if "size" in s.kw:
        # A known capacity makes partial writes and flow control deterministic.
        import fcntl
        fcntl.fcntl(wfd, F_SETPIPE_SZ, int(s.kw["size"]))
    r.world.bind(s.arg(0, "a name for the read end"), rfd)
    r.world.bind(s.arg(1, "a name for the write end"), wfd)


@step("socketpair")
def socketpair(r, s):
    a, b = socket.socketpair()
    r.world.bind(s.arg(0, "a name"), a)
    r.world.bind(s.arg(1, "a name"), b)


@step("regular_file")
def regular_file(r, s):
    name = s.arg(0, "a name")
    size = int(s.kw.get("size", 0))
    path = r.world.path(name)
    with open(path, "wb") as f:
        f.write(pattern(size))
    r.world.bind(name, open(path, str(s.kw.get("mode", "rb"))))


@step("devnull")
def devnull(r, s):
    mode = "wb" if s.kw.get("mode", "r") == "w" else "rb"
    r.world.bind(s.arg(0, "a name"), open(os.devnull, mode, buffering=0))


@step("pty")
def pty(r, s):
    master, slave = os.openpty()
    r.world.bind(s.arg(0, "a name for the master"), master)
    r.world.bind(s.arg(1, "a name for the slave"), slave)


@step("write_fd")
def write_fd(r, s):
    # Never blocks (INTERPRETING.md 5): a full pipe gives a short write or BlockingIOError.
    fd = r.world.fd(s.arg(0, "an fd name"))
    os.set_blocking(fd, False)
    r.rec.returned(s.op, os.write(fd, payload(s.arg(1, "a byte count or text"))))


@step("read_fd")
def read_fd(r, s):
    # Never blocks: nothing to read gives BlockingIOError.
    fd = r.world.fd(s.arg(0, "an fd name"))
    os.set_blocking(fd, False)
    r.rec.returned(s.op, *data_args(os.read(fd, int(s.arg(1, "a byte count")))))


@step("close_fd")
def close_fd(r, s):
    obj = r.world.get(s.arg(0, "an fd name"))
    if isinstance(obj, int) and not isinstance(obj, bool):
        os.close(obj)
    else:
        obj.close()


@step("add_reader", "add_writer")
def add_io(r, s):
    fd = r.world.fd(s.arg(0, "an fd name"))
    getattr(r.loop, s.op)(fd, r.callback(s.arg(1, "a callback name")))


@step("remove_reader", "remove_writer")
def remove_io(r, s):
    fd = r.world.fd(s.arg(0, "an fd name"))
    r.rec.returned(s.op, getattr(r.loop, s.op)(fd))


@step("get_blocking")
def get_blocking(r, s):
    r.rec.returned(s.op, os.get_blocking(r.world.fd(s.arg(0, "an fd name"))))


@step("sink")
def sink(r, s):
    name = s.arg(0, "an fd name")
    fd = r.world.fd(name)
    os.set_blocking(fd, False)
    buf = r.world.sinks.setdefault(name, bytearray())

    def drain():
        while True:
            try:
                chunk = os.read(fd, 262144)
            except (BlockingIOError, InterruptedError):
                return
            if not chunk:
                r.loop.remove_reader(fd)
                return
            buf.extend(chunk)
    r.loop.add_reader(fd, drain)


@step("received")
def received(r, s):
    name = s.arg(0, "a sink or protocol name")
    if name in r.world.sinks:
        r.rec.returned(s.op, *data_args(r.world.sinks[name]))
        return
    proto = r.world.protocols.get(name)
    if proto is None:
        raise StepError("line %d: %r is neither a sink nor a protocol" % (s.line, name))
    r.rec.returned(s.op, *data_args(proto.total))


def as_pipe_object(obj, mode):
    """Pipe transports take file objects; bare fds are wrapped (closing the wrapper closes the fd)."""
    if isinstance(obj, int) and not isinstance(obj, bool):
        return io.FileIO(obj, mode, closefd=True)
    return obj
