"""Runs one scenario in one fresh driver process, with a deadline, and judges the trace.

Verdicts: match, diverges, unsupported, error, timeout. Nothing here can hang: every
read has a deadline and a driver that overstays is killed with its process group.
"""
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import trace as tr
from harness.registry import PYTHON_DRIVER
from harness.scenario import version_key

DEFAULT_DEADLINE = 20.0
VERDICTS = ("match", "diverges", "unsupported", "error", "timeout")


def multiplier():
    try:
        return float(os.environ.get("LOOPCHECK_TIMEOUT_MULTIPLIER", "1") or 1)
    except ValueError:
        return 1.0


class RunResult(object):
    """What a driver produced: events (token lists), its versions, and how it ended."""

    def __init__(self):
        self.events = []
        self.raw = []             # every protocol line, as received
        self.versions = {}
        self.ending = None        # done | unsupported | error | timeout | crash | garbage
        self.reason = ""
        self.stderr = ""
        self.elapsed = 0.0
        self.deadline = 0.0


class Verdict(object):
    def __init__(self, verdict, reason="", diff="", expected_versions=None, run=None):
        self.verdict = verdict
        self.reason = reason
        self.diff = diff
        self.expected_versions = expected_versions or []
        self.run = run

    def to_json(self):
        out = {"verdict": self.verdict}
        if self.reason:
            out["reason"] = self.reason
        if self.diff:
            out["diff"] = self.diff
        if self.expected_versions:
            out["expected"] = self.expected_versions
        if self.run is not None:
            out["elapsed"] = round(self.run.elapsed, 3)
            if self.run.versions:
                out["versions"] = self.run.versions
        return out


def driver_command(impl, ref_driver):
    if impl.kind == "ref":
        return [ref_driver]
    return [impl.python, "-X", "faulthandler", PYTHON_DRIVER]


def run_driver(command, scenario, impl, child, deadline):
    """Starts the driver, sends init + run, collects messages until done or the deadline."""
    res = RunResult()
    res.deadline = deadline
    tmpdir = tempfile.mkdtemp(prefix="loopcheck-")
    errfile = tempfile.TemporaryFile()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile,
                                start_new_session=True, cwd=tmpdir)
    except OSError as e:
        res.ending, res.reason = "crash", "cannot start driver %s: %s" % (command[0], e)
        errfile.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        return res
    writer = None
    try:
        init = {"type": "init", "msg_id": 1, "protocol_version": 1, "implementation": impl.name,
                "loop": impl.loop, "child": child, "tmpdir": tmpdir, "timeout_multiplier": multiplier(),
                "scenario": scenario.path}
        run = {"type": "run", "msg_id": 2, "scenario": scenario.to_json()}
        # A thread writes, so a driver that never reads stdin cannot block the harness.
        payload = (json.dumps(init) + "\n" + json.dumps(run) + "\n").encode()
        writer = threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True)
        writer.start()
        _collect(proc, res, start + deadline)
    finally:
        _finish(proc, wait=res.ending not in ("timeout", None))
        if writer is not None:
            writer.join(5.0)   # the driver is gone, so a pending write fails at once
        errfile.seek(0)
        res.stderr = errfile.read().decode("utf-8", "replace")
        errfile.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        res.elapsed = time.monotonic() - start
    return res


def _feed(pipe, payload):
    try:
        pipe.write(payload)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError):
            pass


def _collect(proc, res, end):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    fd = proc.stdout.fileno()
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                res.ending, res.reason = "timeout", "driver did not finish within its %.1f s deadline" % res.deadline
                return
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if res.ending is None:
                    try:
                        code = proc.wait(timeout=max(0.0, end - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        res.ending = "timeout"
                        res.reason = "driver closed stdout without finishing and did not exit within its %.1f s deadline" % res.deadline
                        return
                    res.ending = "crash"
                    res.reason = "driver exited with %s before finishing" % _status(code)
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    res.raw.append(line.decode("utf-8", "replace"))
                    if not _message(res, line):
                        return
            if res.ending is not None:
                return
    finally:
        sel.close()


def _message(res, line):
    """Handles one protocol line; False ends collection."""
    try:
        msg = json.loads(line.decode("utf-8"))
        kind = msg["type"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        res.ending, res.reason = "garbage", "driver printed a line that is not a protocol message: %r" % line[:200]
        return False
    if kind == "event":
        res.events.append(tr.event_tokens(msg))
    elif kind == "init_ok":
        res.versions = msg.get("versions", {})
    elif kind == "done":
        res.ending = "done"
    elif kind == "unsupported":
        res.ending = "unsupported"
        res.reason = "line %s: %s" % (msg.get("line", "?"), msg.get("reason", ""))
    elif kind == "error":
        res.ending = "error"
        res.reason = "driver error %s%s: %s" % (msg.get("code", "?"),
                                                " at line %s" % msg["line"] if msg.get("line") else "",
                                                msg.get("text", ""))
    else:
        res.ending, res.reason = "garbage", "driver sent an unknown message type %r" % kind
        return False
    return True


def _finish(proc, wait=True):
    """Lets a finished driver exit (2 s), then kills what is left of its process group."""
    try:
        proc.wait(timeout=2.0 if wait else 0.01)
    except subprocess.TimeoutExpired:
        pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
    else:
        try:   # grandchildren the driver left behind
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    proc.stdout.close()


def _status(code):
    if code is None:
        return "no status"
    if code < 0:
        try:
            return "signal %s" % signal.Signals(-code).name
        except ValueError:
            return "signal %d" % -code
    return "status %d" % code


def expected_for(scenario, impl, run_version=None):
    """(ExpectedTrace, CPython version, note) the implementation is judged against,
    or (None, None, reason)."""
    if not scenario.traces:
        return None, None, "scenario has no recording yet (run scripts/record %s)" % scenario.path
    if impl.kind == "ref":
        v, t = scenario.newest_trace()
        return t, v, ""
    version = run_version or impl.version
    t = scenario.trace_for(version)
    if t is not None:
        return t, version, ""
    minor = version_key(version)[:2]
    same = [v for tt in scenario.traces for v in tt.versions if version_key(v)[:2] == minor]
    if same:
        v = max(same, key=version_key)
        return scenario.trace_for(v), v, "no recording for CPython %s; compared with %s" % (version, v)
    return None, None, "no recording for CPython %s (recorded: %s)" % (
        version, ", ".join(v for tt in scenario.traces for v in tt.versions))


def judge(scenario, impl, res):
    if res.ending == "timeout":
        return Verdict("timeout", res.reason + _stderr_tail(res), run=res)
    if res.ending in ("crash", "garbage", "error"):
        return Verdict("error", res.reason + _stderr_tail(res), run=res)
    if res.ending == "unsupported":
        return Verdict("unsupported", res.reason, run=res)
    expected, version, note = expected_for(scenario, impl, res.versions.get("python"))
    if expected is None:
        return Verdict("error" if not scenario.traces else "unsupported", note, run=res)
    cmp = tr.compare(expected, res.events, scenario.rules(), "expected (CPython %s)" % version,
                     "actual (%s)" % impl.name)
    verdict = "match" if cmp.ok else "diverges"
    return Verdict(verdict, note, cmp.diff, [version], run=res)


def _stderr_tail(res):
    tail = res.stderr.strip().splitlines()[-8:]
    return ("\n  stderr: " + "\n  stderr: ".join(tail)) if tail else ""


def run_scenario(scenario, impl, child, ref_driver=None, deadline=None):
    """Runs and judges one scenario on one implementation."""
    if impl.kind == "python":
        unmet = scenario.requirements_met(impl.version)
        if unmet:
            return Verdict("unsupported", "scenario requires %s; %s runs CPython %s" % (unmet, impl.name, impl.version))
    if impl.kind == "ref" and not ref_driver:
        return Verdict("error", "the ref driver is not built")
    if deadline is None:
        deadline = float(scenario.header.get("timeout", DEFAULT_DEADLINE))
    res = run_driver(driver_command(impl, ref_driver), scenario, impl, child, deadline * multiplier())
    return judge(scenario, impl, res)
