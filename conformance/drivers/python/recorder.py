"""Turns what happens in the loop into trace events with symbolic names.

Every event is sent at once (so a crash or a hang still leaves the trace so far).
Pids, fds, temporary paths and memory addresses are replaced by symbolic names
(INTERPRETING.md, section 4).
"""
import hashlib
import logging
import re
import warnings

LITERAL_LIMIT = 64


def data_args(data):
    """[count, literal-or-digest] for a byte string."""
    data = bytes(data)
    if len(data) <= LITERAL_LIMIT and all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return [len(data), data.decode("ascii")]
    return [len(data), "sha256:" + hashlib.sha256(data).hexdigest()[:16]]


class Recorder(object):
    def __init__(self, channel, world):
        self.channel = channel
        self.world = world
        self.active = True
        self.current_line = 0
        self.watch = None          # (glob regex, callback) set by run_until
        self.texts = []            # every event as text, for run_until
        self.consumed = 0          # events before this index were seen by an earlier run_until

    # -- events ----------------------------------------------------------------------
    def event(self, kind, *args):
        if not self.active:
            return
        args = [self.symbolic(a) for a in args]
        self.channel.send({"type": "event", "line": self.current_line, "event": kind, "args": args})
        text = " ".join([kind] + [str(a) for a in args])
        self.texts.append(text)
        if self.watch is not None:
            pattern, hit = self.watch
            if pattern.match(text):
                self.watch = None
                self.consumed = len(self.texts)
                hit()

    def seen(self, pattern):
        """True (and consumed) when an event not yet seen by run_until matches `pattern`."""
        for i in range(self.consumed, len(self.texts)):
            if pattern.match(self.texts[i]):
                self.consumed = i + 1
                return True
        return False

    def raised(self, op, exc):
        self.event("raised", op, type(exc).__name__, self.text(str(exc)))

    def returned(self, op, *values):
        self.event("returned", op, *values)

    def symbolic(self, value):
        if isinstance(value, str):
            return self.text(value)
        return value

    def text(self, s):
        """Replaces identifiers that vary from run to run with symbolic names."""
        w = self.world
        if w.tmpdir:
            s = s.replace(w.tmpdir, "$TMP")
        if w.child_path:
            s = s.replace(w.child_path, "$CHILD")
        s = re.sub(r"0x[0-9a-fA-F]+", "0x?", s)
        s = re.sub(r"\b(fd=|File descriptor )(\d+)", lambda m: m.group(1) + w.fd_name(int(m.group(2))), s)
        for pid, name in w.pid_names.items():
            s = re.sub(r"\b%d\b" % pid, name, s)
        return s

    # -- logging and warnings ------------------------------------------------------------
    def install(self):
        handler = _LogHandler(self)
        handler.setLevel(logging.WARNING)
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.WARNING)
        warnings.simplefilter("always")
        warnings.showwarning = self._show_warning

    def _show_warning(self, message, category, filename, lineno, file=None, line=None):
        self.event("warning", category.__name__, str(message))

    def exception_handler(self, loop, context):
        exc = context.get("exception")
        self.event("exception_handler", str(context.get("message", "")),
                   type(exc).__name__ if exc is not None else "None",
                   str(exc) if exc is not None else "", ",".join(sorted(context)))


class _LogHandler(logging.Handler):
    def __init__(self, recorder):
        logging.Handler.__init__(self)
        self.recorder = recorder

    def emit(self, record):
        args = [record.levelname, record.getMessage()]
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            args += [type(exc).__name__, str(exc)]
        self.recorder.event("log", *args)
