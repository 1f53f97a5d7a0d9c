"""Loop scheduling steps: call_soon/later/at, cancel, on, run_*, stop, close, exception handlers,
futures as the loop uses them, context variables, other loops."""
import asyncio
import contextvars
import gc
import logging
import re
import threading
import time

from runner import method, step
from world import StepError, Str


def _bind_handle(r, name, handle):
    r.world.handles[name] = handle


@step("call_soon")
def call_soon(r, s):
    name = s.arg(0, "a callback name")
    _bind_handle(r, name, r.loop.call_soon(r.callback(name)))


@step("call_soon_threadsafe")
def call_soon_threadsafe(r, s):
    name = s.arg(0, "a callback name")
    cb = r.callback(name)
    if s.kw.get("from") == "thread":
        errors = []

        def work():
            try:
                _bind_handle(r, name, r.loop.call_soon_threadsafe(cb))
            except BaseException as e:
                errors.append(e)
        join_thread(r, work)
        if errors:
            raise errors[0]
        return
    _bind_handle(r, name, r.loop.call_soon_threadsafe(cb))


def join_thread(r, work):
    t = threading.Thread(target=work, name="loopcheck-step")
    t.daemon = True
    t.start()
    t.join(r.world.seconds(5.0))
    if t.is_alive():
        raise StepError("helper thread did not finish within its deadline")


def here_or_on_thread(r, s, fn):
    """Runs fn() here, or in a helper thread with from=thread; re-raises what it raised."""
    if s.kw.get("from") != "thread":
        return fn()
    outcome = []

    def work():
        try:
            outcome.append((True, fn()))
        except BaseException as e:
            outcome.append((False, e))
    join_thread(r, work)
    ok, result = outcome[0]
    if not ok:
        raise result
    return result


@step("call_later")
def call_later(r, s):
    delay = s.arg(0, "a delay")
    name = s.arg(1, "a callback name")
    _bind_handle(r, name, r.loop.call_later(delay, r.callback(name)))


@step("call_at")
def call_at(r, s):
    when = s.arg(0, "a time")
    name = s.arg(1, "a callback name")
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        when = r.world.t0 + when
    _bind_handle(r, name, r.loop.call_at(when, r.callback(name)))


async def coroutine():
    pass


def _loop_arg(r, arg):
    """loop_call arguments: a name is a named callback, `@coroutine` a coroutine function,
    a quoted text a string, numbers and none stay as they are."""
    if isinstance(arg, Str):
        return str(arg)
    if arg == "@coroutine":
        return coroutine
    if isinstance(arg, str):
        return r.callback(arg)
    return arg


@step("loop_call")
def loop_call(r, s):
    # loop.METHOD(*ARGS), from a helper thread with from=thread; for validation paths the
    # plain steps cannot reach (non-callables, coroutines, foreign threads, bad fds). A
    # handle is bound under the last callback name; a plain result is recorded.
    meth = str(s.arg(0, "a loop method"))
    args = [_loop_arg(r, a) for a in s.args[1:]]
    if meth == "call_at" and args and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
        args[0] = r.world.t0 + args[0]
    fn = getattr(r.loop, meth)
    result = here_or_on_thread(r, s, lambda: fn(*args))
    names = [a for a in s.args[1:] if isinstance(a, str) and not isinstance(a, Str) and a != "@coroutine"]
    if names and isinstance(result, asyncio.Handle):
        _bind_handle(r, names[-1], result)
    elif isinstance(result, (bool, int, str)):
        r.rec.returned(s.op, result)


@step("call_soon_threadsafe_later")
def call_soon_threadsafe_later(r, s):
    # A helper thread waits DELAY seconds, then calls call_soon_threadsafe while the loop is
    # (normally) blocked in its poll. It is not joined: the loop must be woken to see the call.
    delay = float(s.arg(0, "a delay"))
    cb = r.callback(s.arg(1, "a callback name"))

    def later():
        time.sleep(delay)
        try:
            r.loop.call_soon_threadsafe(cb)
        except RuntimeError:
            pass
    t = threading.Thread(target=later, name="loopcheck-delayed-call")
    t.daemon = True
    t.start()


@step("call_soon_threadsafe_many")
def call_soon_threadsafe_many(r, s):
    # N calls from a helper thread without running the loop: enough to fill the self-pipe.
    n = int(s.arg(0, "a count"))
    cb = r.callback(s.arg(1, "a callback name"))

    def many():
        for _ in range(n):
            r.loop.call_soon_threadsafe(cb)
    join_thread(r, many)


@step("cancel")
def cancel(r, s):
    name = s.arg(0, "a callback name")
    if name not in r.world.handles:
        raise StepError("line %d: no handle was scheduled under %r" % (s.line, name))
    r.world.handles[name].cancel()


@step("cancel_from_thread")
def cancel_from_thread(r, s):
    name = s.arg(0, "a callback name")
    if name not in r.world.handles:
        raise StepError("line %d: no handle was scheduled under %r" % (s.line, name))
    join_thread(r, r.world.handles[name].cancel)


@step("on")
def on(r, s):
    r.world.actions.setdefault(s.target, []).extend(s.body)


@step("run_once")
def run_once(r, s):
    n = s.args[0] if s.args else 1
    for _ in range(n):
        r.loop.stop()
        _, timed_out = r.with_deadline(r.loop.run_forever, r.deadline(s))
        if timed_out:
            r.rec.event("timeout", s.op)
            return


@step("run_for")
def run_for(r, s):
    seconds = s.arg(0, "a number of seconds")
    r.loop.call_later(seconds, r.loop.stop)
    _, timed_out = r.with_deadline(r.loop.run_forever, r.world.seconds(seconds + 5.0))
    if timed_out:
        r.rec.event("timeout", s.op)


def _glob(text):
    return re.compile("^" + ".*".join(re.escape(p) for p in text.split("*")) + "$", re.S)


@step("run_until")
def run_until(r, s):
    target = str(s.arg(0, "an event glob"))
    pattern = _glob(target)
    if r.rec.seen(pattern):
        return
    r.rec.watch = (pattern, r.loop.stop)
    try:
        _, timed_out = r.with_deadline(r.loop.run_forever, r.deadline(s))
    finally:
        r.rec.watch = None
    if timed_out:
        r.rec.event("timeout", s.op, target)


@step("run_forever")
def run_forever(r, s):
    _, timed_out = r.with_deadline(r.loop.run_forever, r.deadline(s))
    if timed_out:
        r.rec.event("timeout", s.op)


@step("stop")
def stop(r, s):
    r.loop.stop()


@step("close")
def close(r, s):
    r.loop.close()


@step("is_running", "is_closed", "get_debug")
def query(r, s):
    r.rec.returned(s.op, getattr(r.loop, s.op)())


@step("set_debug")
def set_debug(r, s):
    r.loop.set_debug(bool(s.arg(0, "true or false")))


@step("block")
def block(r, s):
    # Models a slow callback: the loop thread is busy and handles nothing meanwhile.
    end = time.monotonic() + float(s.arg(0, "a number of seconds"))
    while time.monotonic() < end:
        time.sleep(0.001)


def _raising_handler(loop, context):
    raise RuntimeError("exception handler failed")


def _var_reading_handler(r):
    def handler(loop, context):
        r.rec.returned("get_var", VAR.get("unset"))
    return handler


@step("set_exception_handler")
def set_exception_handler(r, s):
    which = s.arg(0, "record, default, raising or a value")
    if which == "record":
        handler = r.rec.exception_handler
    elif which == "default" or which is None:
        handler = None
    elif which == "raising":
        handler = _raising_handler
    elif which == "get_var":
        handler = _var_reading_handler(r)
    else:
        handler = which
    r.loop.set_exception_handler(handler)


@step("call_exception_handler")
def call_exception_handler(r, s):
    context = {}
    if s.args:
        context["message"] = str(s.args[0])
    context.update(s.kw)
    for k, v in list(context.items()):
        if isinstance(v, Str):
            context[k] = str(v)
    r.loop.call_exception_handler(context)


class BadRepr(object):
    """A context value whose repr raises, which breaks the default exception handler."""

    def __repr__(self):
        raise RuntimeError("repr failed")


@step("call_exception_handler_unreprable")
def call_exception_handler_unreprable(r, s):
    # Context {'message': MESSAGE, 'bad': object whose repr raises}.
    r.loop.call_exception_handler({"message": str(s.arg(0, "a message")), "bad": BadRepr()})


# -- plain functions with a code location -----------------------------------------------

# Line numbers matter: handles show `at prog.py:2` (the function) and, in debug mode,
# `created at prog.py:7` (the call_soon).
_PROG = (
    "def make(fire, name):\n"
    "    def fn(*args):\n"
    "        fire('callback', name, *args)\n"
    "    return fn\n"
    "\n"
    "def schedule(loop, fn, *args):\n"
    "    return loop.call_soon(fn, *args)\n"
)


@step("call_soon_function")
def call_soon_function(r, s):
    # A real function defined at prog.py:2 and scheduled from prog.py:7, so CPython formats
    # its handle as `NAME(ARGS) at prog.py:2` whatever the driver's own file layout.
    name = str(s.arg(0, "a callback name"))
    scope = {}
    exec(compile(_PROG, "prog.py", "exec"), scope)
    fn = scope["make"](r.fire, name)
    fn.__name__ = fn.__qualname__ = name
    args = [str(a) if isinstance(a, Str) else a for a in s.args[1:]]
    _bind_handle(r, name, scope["schedule"](r.loop, fn, *args))


@step("slow_callback_duration")
def slow_callback_duration(r, s):
    r.loop.slow_callback_duration = float(s.arg(0, "a number of seconds"))


@step("handle_repr")
def handle_repr(r, s):
    name = s.arg(0, "a callback name")
    if name not in r.world.handles:
        raise StepError("line %d: no handle was scheduled under %r" % (s.line, name))
    r.rec.returned(s.op, repr(r.world.handles[name]))


@step("handle_when")
def handle_when(r, s):
    # The handle's type and its deadline in whole seconds after t0 (coarse, so that the
    # few microseconds between t0 and a call_later never show).
    name = s.arg(0, "a callback name")
    if name not in r.world.handles:
        raise StepError("line %d: no handle was scheduled under %r" % (s.line, name))
    h = r.world.handles[name]
    r.rec.returned(s.op, type(h).__name__, int(round(h.when() - r.world.t0)))


@step("loop_repr")
def loop_repr(r, s):
    r.rec.returned(s.op, repr(r.loop))


@step("time")
def loop_time(r, s):
    r.rec.returned(s.op, type(r.loop.time()).__name__)


@step("loop_is_instance")
def loop_is_instance(r, s):
    r.rec.returned(s.op, isinstance(r.loop, getattr(asyncio, str(s.arg(0, "an asyncio class name")))))


# -- other loops and run_until_complete ---------------------------------------------------

@step("new_loop")
def new_loop(r, s):
    r.world.bind(s.arg(0, "a loop name"), asyncio.new_event_loop())


def _loop_named(r, name):
    if name is None or name == "loop":
        return r.loop
    return r.world.get(name)


@step("run_until_complete")
def run_until_complete(r, s):
    arg = s.arg(0, "a future name or a value")
    if isinstance(arg, str) and not isinstance(arg, Str):
        arg = r.world.get(arg)
    loop = _loop_named(r, s.kw.get("loop"))
    result, timed_out = r.with_deadline(lambda: loop.run_until_complete(arg), r.deadline(s))
    if timed_out:
        r.rec.event("timeout", s.op)
        return
    r.rec.returned(s.op, *_tokens(r, result))


@step("get_event_loop_policy")
def get_event_loop_policy(r, s):
    r.rec.returned(s.op, type(asyncio.get_event_loop_policy()).__name__)


@step("set_event_loop")
def set_event_loop(r, s):
    arg = s.arg(0, "loop, a loop name or none")
    asyncio.set_event_loop(None if arg is None else _loop_named(r, arg))


@step("get_event_loop")
def get_event_loop(r, s):
    # `loop` when it returns the scenario's loop, else `new` (a loop it made, closed here).
    # fresh=true first installs a new default policy, as in a program that never set a loop.
    if s.kw.get("fresh"):
        asyncio.set_event_loop_policy(None)
    try:
        got = asyncio.get_event_loop()
    finally:
        if s.kw.get("fresh"):
            asyncio.set_event_loop_policy(None)
            asyncio.set_event_loop(r.loop)
    if got is r.loop:
        r.rec.returned(s.op, "loop")
        return
    name = r.world.name_of(got)
    if name is None:
        got.close()
        name = "new"
    r.rec.returned(s.op, name)


# -- futures --------------------------------------------------------------------------------

def _tokens(r, value):
    if value is None or isinstance(value, (bool, int, str)):
        return [value]
    if isinstance(value, BaseException):
        return [type(value).__name__, str(value)]
    name = r.world.name_of(value)
    return [name if name is not None else "<%s>" % type(value).__name__]


@step("future")
def future(r, s):
    loop = _loop_named(r, s.kw.get("loop"))
    r.world.bind(s.arg(0, "a future name"), loop.create_future())


@method("set_result")
def fut_set_result(r, s, fut):
    value = s.args[0] if s.args else None
    fut.set_result(str(value) if isinstance(value, Str) else value)


@method("set_exception")
def fut_set_exception(r, s, fut):
    import builtins
    name = str(s.arg(0, "an exception type"))
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise StepError("line %d: %r is not a builtin exception type" % (s.line, name))
    fut.set_exception(cls(str(s.args[1])) if len(s.args) > 1 else cls())


@method("add_done_callback")
def fut_add_done_callback(r, s, fut):
    name = str(s.arg(0, "a callback name"))
    fut.add_done_callback(lambda f: r.fire("callback", name))


@method("result", "exception", "done", "cancelled", "cancel")
def fut_query(r, s, fut):
    meth = s.op.rpartition(".")[2]
    r.rec.returned(s.op, *_tokens(r, getattr(fut, meth)()))


@step("forget")
def forget(r, s):
    # Drops the driver's reference, so the object can be garbage collected.
    name = s.arg(0, "a name")
    r.world.get(name)
    del r.world.objects[name]


@step("gc_collect")
def gc_collect(r, s):
    gc.collect()


# -- context variables ----------------------------------------------------------------------

VAR = contextvars.ContextVar("loopcheck_var")


@step("set_var")
def set_var(r, s):
    value = s.arg(0, "a value")
    VAR.set(str(value) if isinstance(value, Str) else value)


@step("get_var")
def get_var(r, s):
    r.rec.returned(s.op, VAR.get("unset"))


# -- records of the asyncio logger, as returned events --------------------------------------

class _Collect(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.debug = []      # DEBUG and INFO records (never `log` events)
        self.warnings = []   # WARNING and above (also `log` events, with durations as measured)

    def emit(self, record):
        # Measured durations ("took 0.151 seconds") vary from run to run: they become #.###.
        text = re.sub(r"\b\d+\.\d{3} seconds\b", "#.### seconds", record.getMessage())
        (self.debug if record.levelno < logging.WARNING else self.warnings).append(text)


_COLLECTOR = _Collect()


@step("debug_log")
def debug_log(r, s):
    # `debug_log start` collects every record of the asyncio logger from now on;
    # `debug_log` reports (and forgets) the DEBUG/INFO ones collected so far, and
    # `debug_log warnings` the WARNING and above ones, one `returned debug_log MESSAGE` each.
    which = s.args[0] if s.args else None
    if which == "start":
        logger = logging.getLogger("asyncio")
        logger.setLevel(logging.DEBUG)
        if _COLLECTOR not in logger.handlers:
            logger.addHandler(_COLLECTOR)
        return
    texts = _COLLECTOR.warnings if which == "warnings" else _COLLECTOR.debug
    taken, texts[:] = list(texts), []
    for text in taken:
        r.rec.returned(s.op, text)
