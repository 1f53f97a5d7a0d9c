"""The Python driver's `fail` step: skips M successful calls, fails N, then passes; restores."""
import errno
import os
import sys
import unittest

DRIVER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "drivers", "python")


def load():
    if DRIVER not in sys.path:
        sys.path.insert(0, DRIVER)
    import steps_faults
    import runner
    return steps_faults, runner


class FakeRunner(object):
    pass


def step(runner_mod, *args, **kw):
    return runner_mod.Step({"line": 1, "op": "fail", "args": list(args), "kw": kw})


class FailStep(unittest.TestCase):
    def setUp(self):
        self.faults, self.runner = load()
        self.real_write = os.write
        self.r, self.w = os.pipe()
        self.addCleanup(os.close, self.r)
        self.addCleanup(os.close, self.w)
        self.addCleanup(self.faults.restore_all)

    def test_after_then_count_then_normal_again(self):
        self.faults.fail(FakeRunner(), step(self.runner, "write", "EPERM", count=2, after=1))
        self.assertEqual(os.write(self.w, b"a"), 1)
        for _ in range(2):
            with self.assertRaises(PermissionError) as cm:
                os.write(self.w, b"b")
            self.assertEqual(cm.exception.errno, errno.EPERM)
            self.assertEqual(str(cm.exception), "[Errno 1] Operation not permitted")
        self.assertEqual(os.write(self.w, b"c"), 1)
        self.assertEqual(os.read(self.r, 10), b"ac")

    def test_a_call_that_fails_by_itself_does_not_count_as_skipped(self):
        self.faults.fail(FakeRunner(), step(self.runner, "write", "ENOTCONN", after=1))
        with self.assertRaises(OSError) as cm:
            os.write(-1, b"x")
        self.assertEqual(cm.exception.errno, errno.EBADF)
        self.assertEqual(os.write(self.w, b"a"), 1)
        with self.assertRaises(OSError) as cm:
            os.write(self.w, b"b")
        self.assertIs(type(cm.exception), OSError)
        self.assertEqual(cm.exception.errno, errno.ENOTCONN)

    def test_restore_puts_the_original_back(self):
        self.faults.fail(FakeRunner(), step(self.runner, "write", "EPERM"))
        self.assertIsNot(os.write, self.real_write)
        self.faults.restore_all()
        self.assertIs(os.write, self.real_write)

    def test_count_zero_cancels(self):
        self.faults.fail(FakeRunner(), step(self.runner, "write", "EPERM"))
        self.faults.fail(FakeRunner(), step(self.runner, "write", "EPERM", count=0))
        self.assertEqual(os.write(self.w, b"a"), 1)

    def test_unknown_operation_and_errno_are_scenario_errors(self):
        from world import StepError
        with self.assertRaises(StepError):
            self.faults.fail(FakeRunner(), step(self.runner, "open", "EPERM"))
        with self.assertRaises(StepError):
            self.faults.fail(FakeRunner(), step(self.runner, "write", "NOPE"))
        with self.assertRaises(StepError):
            self.faults.fail(FakeRunner(), step(self.runner, "write", "EPERM", after=-1))


if __name__ == "__main__":
    unittest.main()
