"""The scenario's named objects and the conversions from step arguments to values."""
import os
import signal


class Unsupported(Exception):
    """The implementation (or this driver) cannot perform a step; the reason is reported."""


class StepError(Exception):
    """The scenario itself is wrong (unknown name, bad argument); reported as a driver error."""


class Abort(Exception):
    """Stops the scenario after an event already recorded (e.g. a step deadline)."""


def value(arg):
    """Decodes a JSON step argument: {"str": s} is a string, anything else is as given."""
    if isinstance(arg, dict) and "str" in arg:
        return Str(arg["str"])
    return arg


class Str(str):
    """A quoted string from the scenario (a name is a plain str)."""


def pattern(n):
    """The deterministic payload of N bytes used by `write 5` and by the child's `write`."""
    block = bytes(ord("a") + i % 26 for i in range(26))
    return (block * (n // 26 + 1))[:n]


class World(object):
    def __init__(self, loop, child_path, tmpdir, multiplier, loop_kind):
        self.loop = loop
        self.child_path = child_path
        self.tmpdir = tmpdir
        self.multiplier = multiplier
        self.loop_kind = loop_kind
        self.objects = {}        # name -> object (fd int, socket, transport, protocol, ...)
        self.handles = {}        # callback name -> last handle scheduled under it
        self.actions = {}        # event target -> list of step dicts (`on` steps)
        self.pid_names = {}      # pid -> name
        self.fd_names = {}       # fd -> name
        self.children = []       # pids this driver started (killed at the end)
        self.sinks = {}          # name -> bytearray drained by `sink`
        self.protocols = {}      # name -> recording protocol
        self.t0 = loop.time()
        self.recorder = None

    def bind(self, name, obj):
        self.objects[name] = obj
        fd = fileno_of(obj)
        if fd is not None:
            self.fd_names[fd] = name

    def get(self, name):
        if name not in self.objects:
            raise StepError("unknown name %r (not created by an earlier step)" % (name,))
        return self.objects[name]

    def fd_name(self, fd):
        return self.fd_names.get(fd, "?")

    def fd(self, name):
        fd = fileno_of(self.get(name))
        if fd is None:
            raise StepError("%r is not an fd, socket or file" % (name,))
        return fd

    def bind_pid(self, name, pid):
        self.pid_names[pid] = name
        self.children.append(pid)

    def name_of(self, obj):
        """The name bound to this very object, or None."""
        for name, o in self.objects.items():
            if o is obj:
                return name
        return None

    def seconds(self, s):
        return float(s) * self.multiplier

    def path(self, name):
        return os.path.join(self.tmpdir, str(name))


def fileno_of(obj):
    if isinstance(obj, bool):
        return None
    if isinstance(obj, int):
        return obj
    f = getattr(obj, "fileno", None)
    if f is None:
        return None
    try:
        return f()
    except (OSError, ValueError):
        return None


def signal_number(arg):
    """SIGUSR1 -> 10; integers and quoted strings pass through unchanged (to test validation)."""
    if isinstance(arg, Str) or not isinstance(arg, str):
        return arg
    if hasattr(signal, arg) and arg.startswith("SIG"):
        return int(getattr(signal, arg))
    for base in ("SIGRTMIN+", "SIGRTMAX-"):   # real-time signals by offset
        if arg.startswith(base) and arg[len(base):].isdigit():
            n = int(arg[len(base):])
            return int(signal.SIGRTMIN) + n if base[-1] == "+" else int(signal.SIGRTMAX) - n
    raise StepError("unknown signal name %r" % (arg,))
