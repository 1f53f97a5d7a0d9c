"""Loop scheduling steps: call_soon/later/at, cancel, on, run_*, stop, close, exception handlers."""
import re
import threading
import time

from runner import step
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


@step("cancel")
def cancel(r, s):
    name = s.arg(0, "a callback name")
    if name not in r.world.handles:
        raise StepError("line %d: no handle was scheduled under %r" % (s.line, name))
    r.world.handles[name].cancel()


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


@step("set_exception_handler")
def set_exception_handler(r, s):
    which = s.arg(0, "record, default, raising or a value")
    if which == "record":
        handler = r.rec.exception_handler
    elif which == "default" or which is None:
        handler = None
    elif which == "raising":
        handler = _raising_handler
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
