"""The runner never hangs and turns misbehaving drivers into clear verdicts."""
import sys
import textwrap
import time
import unittest

from harness import runner, scenario
from harness.registry import Implementation

SCENARIO = scenario.parse("description: d\ncall_soon a\nrun_once\n----\ntrace: 3.11.7\ncallback a\n",
                          "t/loop/x.scn")
IMPL = Implementation("fake", "python", sys.executable, "asyncio", "3.11.7")


def fake_driver(body):
    """A driver command running `body` (Python) after reading init and run."""
    prelude = "import sys, json\nmsgs = [json.loads(l) for l in sys.stdin]\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(body)]


def judge(body, deadline=5.0):
    res = runner.run_driver(fake_driver(body), SCENARIO, IMPL, "/bin/true", deadline)
    return runner.judge(SCENARIO, IMPL, res)


INIT_OK = 'print(json.dumps({"type": "init_ok", "msg_id": 1, "versions": {"python": "3.11.7"}}))\n'


def event(kind, *args):
    return 'print(json.dumps({"type": "event", "msg_id": 2, "event": %r, "args": %r}))\n' % (kind, list(args))


DONE = 'print(json.dumps({"type": "done", "msg_id": 9}))\n'


class Verdicts(unittest.TestCase):
    def test_matching_trace(self):
        self.assertEqual(judge(INIT_OK + event("callback", "a") + DONE).verdict, "match")

    def test_diverging_trace_has_a_diff(self):
        v = judge(INIT_OK + event("callback", "b") + DONE)
        self.assertEqual(v.verdict, "diverges")
        self.assertIn("-callback a", v.diff)
        self.assertIn("+callback b", v.diff)

    def test_unsupported_carries_the_reason(self):
        v = judge(INIT_OK + 'print(json.dumps({"type": "unsupported", "msg_id": 3, "line": 2, "reason": "no loop"}))\n')
        self.assertEqual((v.verdict, v.reason), ("unsupported", "line 2: no loop"))

    def test_garbage_on_stdout_is_an_error(self):
        v = judge(INIT_OK + "print('hello, I am not JSON')\n" + DONE)
        self.assertEqual(v.verdict, "error")
        self.assertIn("not a protocol message", v.reason)

    def test_crash_is_an_error_with_stderr(self):
        v = judge(INIT_OK + "sys.stderr.write('about to die\\n'); sys.stderr.flush()\nimport os; os.abort()\n")
        self.assertEqual(v.verdict, "error")
        self.assertIn("signal SIGABRT", v.reason)
        self.assertIn("about to die", v.reason)

    def test_exit_without_done_is_an_error(self):
        v = judge(INIT_OK + event("callback", "a") + "sys.exit(3)\n")
        self.assertEqual(v.verdict, "error")
        self.assertIn("status 3", v.reason)

    def test_hang_is_a_timeout_within_the_deadline(self):
        start = time.monotonic()
        v = judge(INIT_OK + "import time\ntime.sleep(60)\n", deadline=1.0)
        self.assertEqual(v.verdict, "timeout")
        self.assertLess(time.monotonic() - start, 10)

    def test_closed_stdout_then_hang_is_a_timeout(self):
        v = judge(INIT_OK + "import os, time\nos.close(1)\ntime.sleep(60)\n", deadline=1.0)
        self.assertEqual(v.verdict, "timeout")
        self.assertIn("closed stdout", v.reason)

    def test_driver_that_never_reads_stdin(self):
        cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
        big = scenario.parse("description: d\n" + "call_soon a\n" * 20000, "t/loop/big.scn")
        start = time.monotonic()
        res = runner.run_driver(cmd, big, IMPL, "/bin/true", 1.0)
        self.assertEqual(res.ending, "timeout")
        self.assertLess(time.monotonic() - start, 10)

    def test_driver_that_cannot_start(self):
        res = runner.run_driver(["/nonexistent/driver"], SCENARIO, IMPL, "/bin/true", 5.0)
        self.assertEqual(runner.judge(SCENARIO, IMPL, res).verdict, "error")

    def test_driver_error_message(self):
        v = judge(INIT_OK + 'print(json.dumps({"type": "error", "msg_id": 3, "code": 20, "text": "unknown name x"}))\n')
        self.assertEqual(v.verdict, "error")
        self.assertIn("unknown name x", v.reason)


class KnownDifferences(unittest.TestCase):
    def test_known_verdicts_are_accepted_and_changes_are_not(self):
        from harness import matrix
        row = matrix.Row("/x/scenarios/loop/a.scn", "loop")
        row.known["impl"] = ("diverges", "why")
        row.results["impl"] = runner.Verdict("diverges")
        self.assertTrue(row.ok("impl"))
        self.assertEqual(matrix.cell(row, "impl"), "diverges (known)")
        row.results["impl"] = runner.Verdict("match")
        self.assertFalse(row.ok("impl"))
        self.assertEqual(matrix.cell(row, "impl"), "match (expected diverges)")
        row.known["impl"] = ("match|diverges", "flaky")
        self.assertTrue(row.ok("impl"))

    def test_unknown_divergence_fails_require(self):
        from harness import matrix
        row = matrix.Row("/x/scenarios/loop/a.scn", "loop")
        row.results["impl"] = runner.Verdict("diverges")
        self.assertFalse(row.ok("impl"))
        row.results["impl"] = runner.Verdict("unsupported")
        self.assertTrue(row.ok("impl"))


if __name__ == "__main__":
    unittest.main()
