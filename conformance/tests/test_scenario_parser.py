"""The scenario parser: error messages name file, line and what was expected; parse -> print -> parse."""
import glob
import os
import unittest

from harness import scenario
from harness.scenario import ScenarioError

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "scenarios")


def error_of(text, path="t/loop/x.scn"):
    with self_assert_raises() as ctx:
        scenario.parse(text, path)
    return str(ctx.exception)


class self_assert_raises(object):
    def __enter__(self):
        self.exception = None
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            raise AssertionError("expected a ScenarioError, the text parsed")
        if not issubclass(kind, ScenarioError):
            return False
        self.exception = exc
        return True


class ParserErrors(unittest.TestCase):
    def test_unknown_step_names_file_line_and_vocabulary(self):
        msg = error_of("description: d\ncall_soon a\ncal_soon b\n")
        self.assertTrue(msg.startswith("t/loop/x.scn:3: unknown step 'cal_soon' (expected one of: "), msg)
        self.assertIn("call_soon", msg)

    def test_unknown_method_is_an_unknown_step(self):
        self.assertIn("unknown step 't.frobnicate'", error_of("description: d\nt.frobnicate\n"))

    def test_missing_description(self):
        self.assertEqual(error_of("pins: B-LOOP-1\ncall_soon a\n"),
                         "t/loop/x.scn:1: missing required header 'description: ...'")

    def test_unknown_header_key(self):
        msg = error_of("descripton: d\ncall_soon a\n")
        self.assertTrue(msg.startswith("t/loop/x.scn:1: unknown header key 'descripton' (expected one of: description"), msg)

    def test_header_after_steps(self):
        self.assertEqual(error_of("description: d\ncall_soon a\npins: B-LOOP-1\n"),
                         "t/loop/x.scn:3: header line 'pins' after the first step")

    def test_unterminated_string_gives_column(self):
        self.assertEqual(error_of('description: d\ncall_exception_handler "oops\n'),
                         "t/loop/x.scn:2: unterminated string at column 24")

    def test_no_steps(self):
        self.assertIn("no steps before the separator", error_of("description: d\n----\n"))

    def test_trace_needs_a_label(self):
        self.assertEqual(error_of("description: d\ncall_soon a\n----\ncallback a\n"),
                         "t/loop/x.scn:4: expected 'trace: VERSION ...' after the separator, got 'callback a'")

    def test_bad_version_label(self):
        self.assertEqual(error_of("description: d\ncall_soon a\n----\ntrace: 3.11\n"),
                         "t/loop/x.scn:4: bad CPython version '3.11' (expected X.Y.Z)")

    def test_unclosed_group(self):
        self.assertEqual(error_of("description: d\ncall_soon a\n----\ntrace: 3.11.7\nunordered {\ncallback a\n"),
                         "t/loop/x.scn:5: unordered group is not closed with '}'")

    def test_bad_count_range(self):
        self.assertEqual(error_of("description: d\ncall_soon a\n----\ntrace: 3.11.7\ncallback a x5..2\n"),
                         "t/loop/x.scn:5: count range x5..2 has max below min")

    def test_bad_rule(self):
        self.assertEqual(error_of("description: d\nnondeterministic: sometimes callback a\ncall_soon a\n"),
                         "t/loop/x.scn:2: unknown nondeterministic rule 'sometimes' (expected ignore, count or unordered)")

    def test_on_needs_steps(self):
        self.assertEqual(error_of("description: d\non a:\n"),
                         "t/loop/x.scn:2: 'on a:' needs at least one step after the colon")

    def test_on_body_steps_are_checked(self):
        self.assertIn("t/loop/x.scn:2: unknown step 'bogus'", error_of("description: d\non a: call_soon b; bogus\n"))

    def test_names_that_look_like_counts_are_refused(self):
        self.assertIn("looks like a trace count", error_of("description: d\ncall_soon x5\n"))

    def test_unknown_feature(self):
        self.assertIn("t/loop/x.scn:2: unknown feature 'telepathy' (expected one of: signals",
                      error_of("description: d\nfeatures: signals telepathy\ncall_soon a\n"))

    def test_bad_requirement(self):
        self.assertIn("bad requirement 'python>=3'", error_of("description: d\nrequires: python>=3\ncall_soon a\n"))


class RoundTrip(unittest.TestCase):
    def assert_round_trip(self, text, path="t/loop/x.scn"):
        first = scenario.parse(text, path)
        printed = first.render()
        second = scenario.parse(printed, path)
        self.assertEqual(first.header, second.header)
        self.assertEqual(first.steps, second.steps)
        self.assertEqual(first.traces, second.traces)
        self.assertEqual(printed, second.render())

    def test_every_value_kind(self):
        self.assert_round_trip(
            'description: kinds\nnondeterministic: count callback h1 1..10\n'
            'on a: call_soon b; raise ValueError "two words"\n'
            'call_later -0.5 a\ncall_at none b\nset_debug true\n'
            'call_exception_handler "quote \\" and\\nnewline" k="v w" n=3\n'
            't.write "x5"\nt.set_write_buffer_limits high=10 low=2\n'
            '----\ntrace: 3.11.7 3.12.1\ncallback h1 x1..10\nunordered {\n  p.a 1\n  p.b "x y"\n}\n'
            'returned t.get 1 "x5"\n')

    def test_every_corpus_scenario(self):
        files = glob.glob(os.path.join(CORPUS, "*", "*.scn"))
        self.assertGreater(len(files), 20)
        for path in files:
            with open(path, encoding="utf-8") as f:
                with self.subTest(path=os.path.relpath(path, CORPUS)):
                    self.assert_round_trip(f.read(), path)

    def test_steps_become_json(self):
        sc = scenario.parse('description: d\ncall_soon a\nt.write "5" n=5\n', "t/loop/x.scn")
        self.assertEqual(sc.to_json()["steps"][1],
                         {"line": 3, "op": "t.write", "args": [{"str": "5"}], "kw": {"n": 5}})
        self.assertEqual(sc.area, "loop")



class Documentation(unittest.TestCase):
    def test_readme_lists_every_step_and_method(self):
        from harness import vocabulary
        with open(os.path.join(os.path.dirname(HERE), "README.md"), encoding="utf-8") as f:
            readme = f.read()
        for op in vocabulary.STEPS:
            self.assertIn("`%s" % op, readme, "README cheat-sheet lacks step %s" % op)
        for method in vocabulary.METHODS:
            self.assertIn(".%s" % method, readme, "README cheat-sheet lacks method %s" % method)



class PythonDriverCoverage(unittest.TestCase):
    def test_python_driver_implements_the_whole_vocabulary(self):
        import importlib
        import sys
        from harness import vocabulary
        driver = os.path.join(os.path.dirname(HERE), "drivers", "python")
        sys.path.insert(0, driver)
        try:
            runner = importlib.import_module("runner")
            for name in sorted(f[:-3] for f in os.listdir(driver) if f.startswith("steps_") and f.endswith(".py")):
                importlib.import_module(name)
        finally:
            sys.path.remove(driver)
        missing = sorted(set(vocabulary.STEPS) - set(runner.HANDLERS) - {"raise"})
        self.assertEqual(missing, [], "steps without a Python driver handler")
        self.assertEqual(sorted(set(vocabulary.METHODS) - set(runner.METHODS)), [], "methods without a handler")


if __name__ == "__main__":
    unittest.main()
