"""Fault steps: make an OS-level operation fail with a chosen errno (INTERPRETING.md, 5a).

`fail SYSCALL ERRNO [count=N] [after=M]` replaces the module-level function through which
Python code reaches that operation with a wrapper. The wrapper lets M calls succeed, then
raises OSError(ERRNO, strerror) for the next N calls (Python turns it into the subclass the
os module would raise: EPERM -> PermissionError, ...), then behaves normally again. The
originals are put back by restore_all() when the scenario ends.

Only the implementation under test is faulted: calls made directly by this driver's own
code (its steps and its plumbing) always reach the real function. A loop that does not go
through these module attributes (C code bound to its own copy) is not affected, and the
trace shows that.
"""
import errno
import os
import signal
import sys

from runner import step
from world import StepError

# scenario name -> (module, attribute): the function Python code calls for that operation.
SYSCALLS = {
    "sigaction": (signal, "signal"),     # installing or restoring a signal's disposition
    "sendfile": (os, "sendfile"),
    "kill": (os, "kill"),
    "write": (os, "write"),
    "read": (os, "read"),
    "waitpid": (os, "waitpid"),
}

DRIVER_DIR = os.path.dirname(os.path.abspath(__file__))

_originals = {}    # syscall name -> the real function, while a wrapper is installed
_plans = {}        # syscall name -> _Plan


class _Plan(object):
    def __init__(self, errno_value, count, after):
        self.errno = errno_value
        self.count = count    # failures still to inject
        self.after = after    # successful calls still to let through first


def _from_driver(frame):
    return os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == DRIVER_DIR


def _wrap(name, original):
    def wrapper(*args, **kwargs):
        plan = _plans.get(name)
        if plan is None or plan.count <= 0 or _from_driver(sys._getframe(1)):
            return original(*args, **kwargs)
        if plan.after > 0:
            result = original(*args, **kwargs)   # a call that raises does not count
            plan.after -= 1
            return result
        plan.count -= 1
        raise OSError(plan.errno, os.strerror(plan.errno))
    wrapper.__name__ = getattr(original, "__name__", name)
    wrapper.__doc__ = getattr(original, "__doc__", None)
    wrapper.__wrapped__ = original
    return wrapper


def _errno_value(arg, line):
    if isinstance(arg, int) and not isinstance(arg, bool):
        return arg
    value = getattr(errno, str(arg), None) if str(arg).startswith("E") else None
    if not isinstance(value, int):
        raise StepError("line %d: fail needs an errno name (EPERM, ENOTCONN, ...) or number, got %r"
                        % (line, arg))
    return value


def _count(s, key, default, least):
    v = s.kw.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < least:
        raise StepError("line %d: fail %s= must be an integer >= %d, got %r" % (s.line, key, least, v))
    return v


@step("fail")
def fail(r, s):
    name = s.arg(0, "an OS operation (%s)" % ", ".join(sorted(SYSCALLS)))
    if name not in SYSCALLS:
        raise StepError("line %d: fail: unknown OS operation %r (known: %s)"
                        % (s.line, name, ", ".join(sorted(SYSCALLS))))
    err = _errno_value(s.arg(1, "an errno name"), s.line)
    plan = _Plan(err, _count(s, "count", 1, 0), _count(s, "after", 0, 0))
    if name not in _originals:
        module, attr = SYSCALLS[name]
        _originals[name] = getattr(module, attr)
        setattr(module, attr, _wrap(name, _originals[name]))
    _plans[name] = plan   # replaces any earlier plan for the same operation


def restore_all():
    """Puts every wrapped function back; called when the scenario's steps are done."""
    for name, original in list(_originals.items()):
        module, attr = SYSCALLS[name]
        setattr(module, attr, original)
    _originals.clear()
    _plans.clear()
