"""Executes steps: dispatch, named callbacks, `on` actions, deadlines, async steps."""
import asyncio
import threading

from world import Abort, StepError, Unsupported, value

HANDLERS = {}      # op -> function(runner, step)
METHODS = {}       # method -> function(runner, step, obj) ; for NAME.method steps

STEP_DEADLINE = 5.0


def step(*ops):
    def register(fn):
        for op in ops:
            HANDLERS[op] = fn
        return fn
    return register


def method(*names):
    def register(fn):
        for name in names:
            METHODS[name] = fn
        return fn
    return register


class NamedCallback(object):
    """A callback whose repr is its scenario name, so CPython formats it as `a()`."""

    def __init__(self, runner, name):
        self.runner = runner
        self.name = name
        self.__qualname__ = name
        self.__name__ = name

    def __repr__(self):
        return self.name

    def __call__(self, *args):
        pids = self.runner.world.pid_names
        shown = [pids.get(a, a) if isinstance(a, int) and not isinstance(a, bool) else a for a in args]
        self.runner.fire("callback", self.name, *shown)


class Step(object):
    def __init__(self, d):
        self.line = d.get("line", 0)
        self.op = d["op"]
        self.args = [value(a) for a in d.get("args", [])]
        self.kw = dict((k, value(v)) for k, v in d.get("kw", {}).items())
        self.target = d.get("target")
        self.body = d.get("body", [])

    def arg(self, i, what):
        if i >= len(self.args):
            raise StepError("line %d: %s needs %s" % (self.line, self.op, what))
        return self.args[i]


class Runner(object):
    def __init__(self, world, recorder):
        self.world = world
        self.rec = recorder
        self.loop = world.loop
        self.failure = None

    # -- events that may trigger `on` actions --------------------------------------------
    def fire(self, kind, name, *args):
        """Records `kind name args` (or `name.kind args` for protocols) and runs `on name` actions."""
        if kind == "callback":
            self.rec.event("callback", name, *args)
            self.run_actions(name)
        else:
            self.rec.event("%s.%s" % (name, kind), *args)
            self.run_actions("%s.%s" % (name, kind))

    def run_actions(self, target):
        body = self.world.actions.get(target)
        if body:
            saved = self.rec.current_line
            try:
                self.execute(body)
            except (Unsupported, StepError, Abort) as e:
                # Not an observation: end the scenario once control is back at top level.
                self.failure = e
                self.loop.stop()
            finally:
                self.rec.current_line = saved

    def callback(self, name):
        if not isinstance(name, str):
            raise StepError("expected a callback name, got %r" % (name,))
        return NamedCallback(self, name)

    # -- steps ---------------------------------------------------------------------------
    def execute(self, steps):
        for d in steps:
            s = Step(d)
            self.rec.current_line = s.line
            if s.op == "raise":
                raise make_exception(s)
            handler = HANDLERS.get(s.op)
            obj = None
            if handler is None and "." in s.op:
                obj_name, _, meth = s.op.rpartition(".")
                handler = METHODS.get(meth)
                if handler is None:
                    raise Unsupported("method %r is not implemented by the Python driver" % meth)
                obj = self.world.get(obj_name)
            if handler is None:
                raise Unsupported("step %r is not implemented by the Python driver" % s.op)
            try:
                if obj is not None:
                    handler(self, s, obj)
                else:
                    handler(self, s)
            except (Unsupported, StepError, Abort):
                raise
            except BaseException as exc:   # the API under test raised: that is the observation
                self.rec.raised(s.op, exc)
            if self.failure is not None:
                failure, self.failure = self.failure, None
                raise failure

    # -- running the loop with deadlines -------------------------------------------------
    def with_deadline(self, fn, seconds):
        """Runs fn(); if it is still running after `seconds`, stops the loop. Returns (result, timed_out)."""
        fired = []

        def stop():
            fired.append(True)
            try:
                self.loop.call_soon_threadsafe(self.loop.stop)
            except RuntimeError:
                pass
        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        timer.start()
        try:
            result = fn()
        except BaseException:
            if fired:
                return None, True
            raise
        finally:
            timer.cancel()
        return result, bool(fired)

    def deadline(self, s):
        t = s.kw.get("timeout")
        return self.world.seconds(t if t is not None else STEP_DEADLINE)

    def run_async(self, s, make_coro, on_result):
        """Awaits an async API call: run_until_complete outside callbacks, a task inside them."""
        if self.loop.is_running():
            task = self.loop.create_task(make_coro())

            def done(t):
                line = self.rec.current_line
                self.rec.current_line = s.line
                if t.cancelled():
                    self.rec.event("cancelled", s.op)
                elif t.exception() is not None:
                    self.rec.raised(s.op, t.exception())
                else:
                    on_result(t.result())
                self.rec.current_line = line
            task.add_done_callback(done)
            return task
        coro = make_coro()
        fut = asyncio.ensure_future(coro, loop=self.loop)
        result, timed_out = self.with_deadline(lambda: self.loop.run_until_complete(fut), self.deadline(s))
        if timed_out:
            fut.cancel()
            self.rec.event("timeout", s.op)
            raise Abort()
        on_result(result)


def make_exception(s):
    name = s.arg(0, "an exception type")
    message = str(s.args[1]) if len(s.args) > 1 else None
    import builtins
    cls = getattr(builtins, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise StepError("line %d: %r is not a builtin exception type" % (s.line, name))
    return cls(message) if message is not None else cls()
