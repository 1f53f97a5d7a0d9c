"""loopcheck-child: each mode does what its name says (path from LOOPCHECK_CHILD, else the build)."""
import os
import signal
import subprocess
import unittest

from harness import build

CHILD = os.environ.get("LOOPCHECK_CHILD") or build.child_in(build.build_dir())


def run(*modes, stdin=b""):
    return subprocess.run([CHILD] + list(modes), input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20)


@unittest.skipUnless(os.access(CHILD, os.X_OK), "loopcheck-child is not built (%s)" % CHILD)
class ChildModes(unittest.TestCase):
    def test_exit_status(self):
        self.assertEqual(run("exit", "7").returncode, 7)
        self.assertEqual(run().returncode, 0)

    def test_die_by_signal(self):
        self.assertEqual(run("die", "SIGTERM").returncode, -signal.SIGTERM)
        self.assertEqual(run("ignore", "SIGTERM", "die", "SIGTERM").returncode, -signal.SIGTERM)

    def test_write_pattern_and_print(self):
        p = run("write", "30", "stdout", "print", "err", "stderr", "exit", "3")
        self.assertEqual(p.stdout, b"abcdefghijklmnopqrstuvwxyzabcd")
        self.assertEqual(p.stderr, b"err")
        self.assertEqual(p.returncode, 3)

    def test_echo_and_count(self):
        self.assertEqual(run("echo", stdin=b"hello").stdout, b"hello")
        self.assertEqual(run("count-stdin", stdin=b"x" * 70000).stdout, b"70000\n")

    def test_kill_parent_reaches_the_parent(self):
        got = []
        old = signal.signal(signal.SIGUSR2, lambda *a: got.append(1))
        try:
            self.assertEqual(run("kill-parent", "SIGUSR2", "1").returncode, 0)
        finally:
            signal.signal(signal.SIGUSR2, old)
        self.assertEqual(got, [1])

    def test_fork_grandchild_keeps_stdout_open(self):
        p = run("fork-grandchild", "sleep", "0.1", "print", "late", "stdout", "--", "print", "early", "stdout")
        self.assertEqual(p.stdout, b"earlylate")

    def test_bad_arguments_exit_120_with_a_message(self):
        p = run("frobnicate")
        self.assertEqual(p.returncode, 120)
        self.assertIn(b"unknown mode: frobnicate", p.stderr)
        self.assertEqual(run("exit").returncode, 120)
        self.assertEqual(run("fork-grandchild", "exit", "0").returncode, 120)


if __name__ == "__main__":
    unittest.main()
