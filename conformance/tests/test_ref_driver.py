"""The ref driver speaks the protocol and never crashes on steps it lacks (LOOPCHECK_REF_DRIVER)."""
import json
import os
import subprocess
import unittest

from harness import build, registry, runner, scenario

REF = os.environ.get("LOOPCHECK_REF_DRIVER") or build.ref_driver_in(build.build_dir())
CHILD = os.environ.get("LOOPCHECK_CHILD") or build.child_in(build.build_dir())
IMPL = registry.Implementation("ref", "ref")


def run(text):
    sc = scenario.parse(text, "t/loop/x.scn")
    return runner.run_driver([REF], sc, IMPL, CHILD, 20.0)


@unittest.skipUnless(os.access(REF, os.X_OK), "the ref driver is not built (%s)" % REF)
class RefDriver(unittest.TestCase):
    def test_runs_loop_steps(self):
        res = run("description: d\ncall_soon a\ncall_later none b\nrun_once\n")
        self.assertEqual(res.ending, "done", res.reason)
        self.assertEqual(res.events, [["raised", "call_later", "TypeError", "delay must not be None"], ["callback", "a"]])

    def test_answers_unsupported_with_a_reason_for_every_other_step(self):
        from harness import vocabulary
        for op, (area, _) in sorted(vocabulary.STEPS.items()):
            if area == "loop" or op in ("on", "raise"):
                continue
            # A syntactically plausible call; the driver must answer, not crash.
            res = run("description: d\n%s x y z\n" % op)
            self.assertIn(res.ending, ("done", "unsupported", "error"), (op, res.ending, res.reason))
            self.assertNotIn("exited with", res.reason, op)

    def test_bad_first_message_is_a_protocol_error(self):
        p = subprocess.run([REF], input=b"this is not json\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertEqual(p.returncode, 2)
        msg = json.loads(p.stdout.decode().splitlines()[0])
        self.assertEqual((msg["type"], msg["code"]), ("error", 10))


if __name__ == "__main__":
    unittest.main()
