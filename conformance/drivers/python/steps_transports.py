"""Pipe transports and the `NAME.method` steps shared by transports, processes, servers, files."""
from protocols import RecordingProtocol
from runner import method, step
from steps_fds import as_pipe_object, payload
from world import StepError, Unsupported, signal_number


def render_result(r, value):
    """Return values become tokens: plain values as they are, objects by the name bound to them."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return [value]
    if isinstance(value, (tuple, list)):
        out = []
        for v in value:
            out.extend(render_result(r, v) or ["None"])
        return out
    name = r.world.name_of(value)
    if name is None:
        for pname, proto in r.world.protocols.items():
            if proto is value:
                name = pname
    return [name if name is not None else "<%s>" % type(value).__name__]


def record_result(r, s, value):
    tokens = render_result(r, value)
    if tokens is not None:
        r.rec.returned(s.op, *tokens)


def _connect_pipe(r, s, kind):
    name = s.arg(0, "a transport name")
    obj = r.world.get(s.arg(1, "an fd name"))
    pipe = as_pipe_object(obj, "rb" if kind == "read" else "wb")
    proto = RecordingProtocol(r, name)
    r.world.protocols[name] = proto
    connect = r.loop.connect_read_pipe if kind == "read" else r.loop.connect_write_pipe

    def bound(result):
        r.world.objects[name] = result[0]
    r.run_async(s, lambda: connect(lambda: proto, pipe), bound)


class _ReadPipeProtocol(RecordingProtocol):
    """Binds T at connection_made, so `on T.connection_made:` actions can use the transport;
    reports data per chunk when an `on T.data_received:` action exists (the action runs inside
    data_received); eof_received returns the value of eof_received= (default None)."""
    # Logged reprs name it like every other recording protocol.
    __module__ = RecordingProtocol.__module__
    __qualname__ = RecordingProtocol.__qualname__

    def __init__(self, runner, name, eof_result):
        RecordingProtocol.__init__(self, runner, name)
        self.eof_result = eof_result

    def connection_made(self, transport):
        self.runner.world.objects[self.name] = transport
        RecordingProtocol.connection_made(self, transport)

    def data_received(self, data):
        RecordingProtocol.data_received(self, data)
        if (self.name + ".data_received") in self.runner.world.actions:
            self.flush()

    def eof_received(self):
        RecordingProtocol.eof_received(self)
        return self.eof_result


@step("connect_read_pipe")
def connect_read_pipe(r, s):
    name = s.arg(0, "a transport name")
    obj = r.world.get(s.arg(1, "an fd name"))
    pipe = as_pipe_object(obj, "rb")
    proto = _ReadPipeProtocol(r, name, s.kw.get("eof_received"))
    r.world.protocols[name] = proto

    def bound(result):
        r.world.objects[name] = result[0]
    r.run_async(s, lambda: r.loop.connect_read_pipe(lambda: proto, pipe), bound)


@step("connect_write_pipe")
def connect_write_pipe(r, s):
    _connect_pipe(r, s, "write")


@method("get_extra_info")
def get_extra_info(r, s, obj):
    record_result(r, s, obj.get_extra_info(str(s.arg(0, "a key"))))


@method("set_protocol")
def set_protocol(r, s, obj):
    # A fresh recording protocol under a new name; the transport reports to it from now on.
    name = s.arg(0, "a protocol name")
    proto = RecordingProtocol(r, name)
    r.world.protocols[name] = proto
    obj.set_protocol(proto)


@method("close", "abort", "is_closing", "pause_reading", "resume_reading", "is_reading",
        "write_eof", "can_write_eof", "get_write_buffer_size", "get_write_buffer_limits",
        "terminate", "kill", "get_returncode", "is_serving", "tell", "is_active", "get_protocol")
def plain_method(r, s, obj):
    meth = s.op.rpartition(".")[2]
    fn = getattr(obj, meth, None)
    if fn is None:
        raise Unsupported("%s has no method %s" % (type(obj).__name__, meth))
    record_result(r, s, fn())


@method("write")
def write(r, s, obj):
    record_result(r, s, obj.write(_write_data(s)))


def _write_data(s):
    """kind=str|int passes the argument itself (to show type checks); kind=strided passes a
    non-contiguous memoryview of N bytes, which os.write refuses with a non-OSError."""
    arg = s.arg(0, "a byte count or text")
    kind = s.kw.get("kind", "bytes")
    if kind == "str":
        return str(arg)
    if kind == "int":
        return arg
    if kind == "strided":
        return memoryview(payload(arg * 2 if isinstance(arg, int) else arg))[::2]
    return payload(arg)


@method("repr")
def repr_(r, s, obj):
    r.rec.returned(s.op, repr(obj))


@method("writelines")
def writelines(r, s, obj):
    record_result(r, s, obj.writelines([payload(a) for a in s.args]))


@method("set_write_buffer_limits")
def set_write_buffer_limits(r, s, obj):
    record_result(r, s, obj.set_write_buffer_limits(**s.kw))


@method("send_signal")
def send_signal(r, s, obj):
    record_result(r, s, obj.send_signal(signal_number(s.arg(0, "a signal"))))


@method("get_pid")
def get_pid(r, s, obj):
    pid = obj.get_pid()
    r.rec.returned(s.op, r.world.pid_names.get(pid, "<pid>"))


@method("get_pipe_transport")
def get_pipe_transport(r, s, obj):
    record_result(r, s, obj.get_pipe_transport(s.arg(0, "an fd number")) or "None")


@method("returncode")
def returncode(r, s, obj):
    record_result(r, s, obj.returncode if obj.returncode is not None else "None")


@method("enter")
def enter(r, s, obj):
    obj.__enter__()


@method("exit")
def exit_(r, s, obj):
    obj.__exit__(None, None, None)


@method("wait")
def wait(r, s, obj):
    fn = getattr(obj, "wait", None) or getattr(obj, "_wait", None)
    if fn is None:
        raise Unsupported("%s cannot be waited for" % type(obj).__name__)
    task = r.run_async(s, fn, lambda rc: r.rec.returned(s.op, rc))
    if task is not None and "task" in s.kw:   # inside a callback: `cancel NAME` cancels it
        r.world.handles[str(s.kw["task"])] = task


@method("communicate")
def communicate(r, s, obj):
    data = payload(s.args[0]) if s.args else None

    def done(result):
        out = []
        for stream in result:
            out.extend(["None"] if stream is None else [len(stream), _digest(stream)])
        r.rec.returned(s.op, *out)
    r.run_async(s, lambda: obj.communicate(data), done)


def _digest(data):
    from recorder import data_args
    return data_args(data)[1]


@method("wait_closed", "start_serving")
def server_async(r, s, obj):
    meth = s.op.rpartition(".")[2]
    r.run_async(s, getattr(obj, meth), lambda result: record_result(r, s, result))


@method("add_child_handler")
def add_child_handler(r, s, obj):
    pid = _pid(r, s.arg(0, "a child name"))
    cb = s.arg(1, "a callback name")
    # A number instead of a name is passed as it is (a callback that is not callable).
    obj.add_child_handler(pid, cb if isinstance(cb, (int, float)) else r.callback(cb))


@method("remove_child_handler")
def remove_child_handler(r, s, obj):
    record_result(r, s, obj.remove_child_handler(_pid(r, s.arg(0, "a child name"))))


@method("attach_loop")
def attach_loop(r, s, obj):
    target = s.arg(0, "loop or none")
    # `loop`, `none`, a loop made by new_loop, or a plain value (to show the type check).
    loop = (r.loop if target == "loop" else None if target in (None, "none")
            else r.world.get(target) if isinstance(target, str) else target)
    if s.kw.get("from") != "thread":
        obj.attach_loop(loop)
        return
    errors = []

    def work():
        try:
            obj.attach_loop(loop)
        except BaseException as e:
            errors.append(e)
    from steps_loop import join_thread
    join_thread(r, work)
    if errors:
        raise errors[0]


def _pid(r, name):
    for pid, n in r.world.pid_names.items():
        if n == name:
            return pid
    raise StepError("no child process is named %r" % (name,))
