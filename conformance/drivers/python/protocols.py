"""Recording protocols: every protocol call becomes `NAME.method args` in the trace.

Data is merged: a protocol's bytes are reported as one `data_received COUNT DATA`
event just before its next other event (per fd for subprocesses, just before that
fd's `pipe_connection_lost`), so chunking never shows in a trace.
"""
import asyncio

from recorder import data_args


def exc_args(exc):
    if exc is None:
        return ["None"]
    return [type(exc).__name__, str(exc)]


class RecordingProtocol(asyncio.Protocol):
    def __init__(self, runner, name):
        self.runner = runner
        self.name = name
        self.pending = bytearray()
        self.total = bytearray()

    def flush(self):
        if self.pending:
            data, self.pending = bytes(self.pending), bytearray()
            self.runner.fire("data_received", self.name, *data_args(data))

    def _event(self, kind, *args):
        self.flush()
        self.runner.fire(kind, self.name, *args)

    def connection_made(self, transport):
        self._event("connection_made")

    def data_received(self, data):
        self.pending += data
        self.total += data

    def eof_received(self):
        self._event("eof_received")

    def connection_lost(self, exc):
        self._event("connection_lost", *exc_args(exc))

    def pause_writing(self):
        self._event("pause_writing")

    def resume_writing(self):
        self._event("resume_writing")


class RecordingSubprocessProtocol(asyncio.SubprocessProtocol):
    def __init__(self, runner, name):
        self.runner = runner
        self.name = name
        self.pending = {}
        self.total = bytearray()

    def flush_fd(self, fd):
        data = self.pending.pop(fd, None)
        if data:
            self.runner.fire("pipe_data_received", self.name, fd, *data_args(data))

    def flush(self):
        for fd in sorted(self.pending):
            self.flush_fd(fd)

    def connection_made(self, transport):
        self.runner.fire("connection_made", self.name)

    def pipe_data_received(self, fd, data):
        self.pending.setdefault(fd, bytearray()).extend(data)
        self.total += data

    def pipe_connection_lost(self, fd, exc):
        self.flush_fd(fd)
        self.runner.fire("pipe_connection_lost", self.name, fd, *exc_args(exc))

    def process_exited(self):
        self.runner.fire("process_exited", self.name)

    def connection_lost(self, exc):
        self.flush()
        self.runner.fire("connection_lost", self.name, *exc_args(exc))

    def pause_writing(self):
        self.runner.fire("pause_writing", self.name)

    def resume_writing(self):
        self.runner.fire("resume_writing", self.name)
