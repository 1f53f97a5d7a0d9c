"""asyncio.StreamReader / StreamWriter steps on a Process's streams (P.stdin, P.stdout,
P.stderr, bound by create_subprocess_exec). Read results are `returned OP COUNT TEXT`; an
IncompleteReadError is preceded by `incomplete OP COUNT TEXT EXPECTED` (its .partial and
.expected), a LimitOverrunError by `overrun OP CONSUMED`."""
import asyncio

from recorder import data_args
from runner import method
from steps_fds import payload


def _await_read(r, s, make_coro, render):
    async def call():
        try:
            return await make_coro()
        except asyncio.IncompleteReadError as e:
            r.rec.event("incomplete", s.op, *data_args(e.partial), "None" if e.expected is None else e.expected)
            raise
        except asyncio.LimitOverrunError as e:
            r.rec.event("overrun", s.op, e.consumed)
            raise
    r.run_async(s, call, lambda result: r.rec.returned(s.op, *render(result)))


@method("readline")
def readline(r, s, obj):
    _await_read(r, s, obj.readline, data_args)


@method("readuntil")
def readuntil(r, s, obj):
    # One separator is passed as bytes, several as a tuple (3.13).
    seps = [payload(a) for a in s.args]
    sep = seps[0] if len(seps) == 1 else tuple(seps)
    _await_read(r, s, lambda: obj.readuntil(sep), data_args)


@method("readexactly")
def readexactly(r, s, obj):
    n = s.arg(0, "a byte count")
    _await_read(r, s, lambda: obj.readexactly(n), data_args)


@method("read")
def read(r, s, obj):
    n = s.args[0] if s.args else -1
    _await_read(r, s, lambda: obj.read(n), data_args)


@method("lines")
def lines(r, s, obj):
    # `async for line in reader`: every line, each as COUNT TEXT.
    async def collect():
        return [line async for line in obj]
    _await_read(r, s, collect, lambda found: [t for line in found for t in data_args(line)])


@method("at_eof")
def at_eof(r, s, obj):
    r.rec.returned(s.op, obj.at_eof())


@method("drain")
def drain(r, s, obj):
    r.run_async(s, obj.drain, lambda result: r.rec.returned(s.op, "None"))
