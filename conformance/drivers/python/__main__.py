"""loopcheck's Python driver: runs one scenario under asyncio, uvloop or any loop factory.

Usage (by the harness): python3 conformance/drivers/python < messages
Speaks the JSON-lines protocol of conformance/INTERPRETING.md. Standard library only;
runs on CPython 3.9 and later.
"""
import asyncio
import importlib
import os
import signal
import sys
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from channel import Channel, PROTOCOL_VERSION  # noqa: E402
from recorder import Recorder  # noqa: E402
from runner import Runner  # noqa: E402
from world import Abort, StepError, Unsupported, World  # noqa: E402
import steps_loop, steps_signals, steps_fds, steps_transports, steps_process, steps_sockets, steps_faults, steps_shutdown  # noqa: E402,F401


def make_loop(spec):
    """`asyncio`, `uvloop` or `python:MODULE:FACTORY` -> (loop, loop description)."""
    if spec == "asyncio":
        return asyncio.new_event_loop(), "asyncio"
    if spec == "uvloop":
        import uvloop
        return uvloop.new_event_loop(), "uvloop %s" % uvloop.__version__
    if spec.startswith("python:"):
        _, module, factory = spec.split(":", 2)
        mod = importlib.import_module(module)
        fn = mod
        for part in factory.split("."):
            fn = getattr(fn, part)
        version = getattr(mod, "__version__", "")
        return fn(), ("%s %s" % (module, version)).strip()
    raise ValueError("unknown loop %r (expected asyncio, uvloop or python:MODULE:FACTORY)" % spec)


def main():
    channel = Channel()
    init = channel.receive()
    if not init or init.get("type") != "init":
        channel.send({"type": "error", "code": 10, "text": "expected an init message first"})
        return 2
    try:
        loop, loop_desc = make_loop(init.get("loop", "asyncio"))
        asyncio.set_event_loop(loop)
    except Exception as e:
        channel.send({"type": "error", "in_reply_to": init.get("msg_id"), "code": 11,
                      "text": "cannot create the loop: %s: %s" % (type(e).__name__, e)})
        return 2
    channel.send({"type": "init_ok", "in_reply_to": init.get("msg_id"), "protocol_version": PROTOCOL_VERSION,
                  "implementation": init.get("implementation", "python"),
                  "versions": {"python": "%d.%d.%d" % sys.version_info[:3], "loop": loop_desc}})
    run = channel.receive()
    if not run or run.get("type") != "run":
        channel.send({"type": "error", "code": 10, "text": "expected a run message after init"})
        return 2
    world = World(loop, init["child"], init["tmpdir"], float(init.get("timeout_multiplier", 1.0)),
                  init.get("loop", "asyncio"))
    recorder = Recorder(channel, world)
    world.recorder = recorder
    recorder.install()
    loop.set_exception_handler(recorder.exception_handler)
    runner = Runner(world, recorder)
    reply = {"in_reply_to": run.get("msg_id")}
    status = 0
    try:
        runner.execute(run["scenario"]["steps"])
        for proto in list(world.protocols.values()):
            proto.flush()
        channel.send(dict(reply, type="done"))
    except Unsupported as e:
        channel.send(dict(reply, type="unsupported", line=recorder.current_line, reason=str(e)))
    except Abort:
        channel.send(dict(reply, type="done"))
    except StepError as e:
        channel.send(dict(reply, type="error", code=20, line=recorder.current_line, text=str(e)))
        status = 1
    except BaseException:
        channel.send(dict(reply, type="error", code=30, line=recorder.current_line,
                          text=traceback.format_exc()))
        status = 1
    recorder.active = False
    steps_faults.restore_all()
    cleanup(world)
    os._exit(status)


def cleanup(world):
    """Leaves nothing behind: children killed and reaped. The loop is abandoned, not closed,
    so nothing it does on close can reach the (already finished) trace."""
    for pid in world.children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
