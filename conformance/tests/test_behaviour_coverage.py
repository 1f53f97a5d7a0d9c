"""behaviour_coverage: ids marked `- Observable: no — REASON` are neither covered nor uncovered."""
import importlib.util
import os
import tempfile
import unittest

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "behaviour_coverage.py")

CATALOGUE = """# c

### SIG-1 — pinned
- Then: x.

### SIG-2 — not pinned
- Then: y.

### SIG-3 — cannot be shown
- Then: z.
- Observable: no — needs an interpreter
  that is not here.

### SIG-4 — pinned although not observable
- Observable: no — a race.
"""


def load_tool():
    spec = importlib.util.spec_from_file_location("behaviour_coverage", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class NotObservable(unittest.TestCase):
    def setUp(self):
        self.tool = load_tool()
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.catalogue = os.path.join(self.dir.name, "B.md")
        with open(self.catalogue, "w", encoding="utf-8") as f:
            f.write(CATALOGUE)
        scenarios = os.path.join(self.dir.name, "scenarios", "signals")
        os.makedirs(scenarios)
        with open(os.path.join(scenarios, "a.scn"), "w", encoding="utf-8") as f:
            f.write("description: d\npins: SIG-1 SIG-4\n\ncall_soon a\n")
        self.scenarios = os.path.dirname(scenarios)

    def test_reported_apart_with_the_whole_reason(self):
        report = self.tool.build_report(self.catalogue, self.scenarios, False, set())
        self.assertEqual(report["uncovered"], ["SIG-2"])
        self.assertEqual(report["not_observable"], ["SIG-3", "SIG-4"])
        self.assertEqual(report["summary"]["covered"], 1)
        self.assertEqual(report["problems"], [])
        reasons = dict((b.ident, b.not_observable) for b in report["behaviours"])
        self.assertEqual(reasons["SIG-3"], "needs an interpreter that is not here.")
        self.assertIsNone(reasons["SIG-2"])
        self.assertEqual([n.ident for n in report["notes"]], ["SIG-4"])


if __name__ == "__main__":
    unittest.main()
